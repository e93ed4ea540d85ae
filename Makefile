# Two entry points (see README): `make demo` and `make test`. Each sets up what it needs.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := m4l_device/node_modules/.installed

.PHONY: setup system demo test lint bench spec data clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[ml,test]'
	touch $(STAMP)

system:
	./scripts/setup-system.sh

# The device's JavaScript test and lint dependencies (acorn, eslint), pinned by package-lock.json.
$(NODE_STAMP): m4l_device/package.json m4l_device/package-lock.json
	cd m4l_device && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

setup: system $(STAMP) $(NODE_STAMP)

demo: setup
	$(BIN)/serumrnn demo --out out/demo

# Lint and types first (seconds), then the suite. Configuration: pyproject.toml.
lint: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/python scripts/typecheck.py
	cd m4l_device && npm run --silent lint

test: setup lint
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected" >&2; exit 1; fi; exit $$rc

bench: setup
	$(BIN)/serumrnn bench

spec: $(STAMP)
	$(BIN)/serumrnn spec export

data: setup
	$(BIN)/serumrnn data generate --group basic

clean:
	rm -rf out build .pytest_cache
