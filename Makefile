# Two entry points (see README): `make demo` and `make test`. Each sets up what it needs.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system demo test bench spec data clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[ml,test]'
	touch $(STAMP)

system:
	./scripts/setup-system.sh

setup: system $(STAMP)

demo: setup
	$(BIN)/serumrnn demo --out out/demo

test: setup
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected" >&2; exit 1; fi; exit $$rc

bench: setup
	$(BIN)/serumrnn bench

spec: $(STAMP)
	$(BIN)/serumrnn spec export

data: setup
	$(BIN)/serumrnn data generate --group basic

clean:
	rm -rf out build .pytest_cache
