# Two entry points (see README): `make demo` (no root: Python packages only) and `make test`
# (the test plugins, node and Chromium too, through scripts/setup-system.sh). Each sets up what it needs.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := m4l_device/node_modules/.installed

.PHONY: setup system demo demo-hello test lint bench spec data clean

# Quiet set-up: setuptools' notice about editable installs is not for the user.
PIP := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install -q --disable-pip-version-check
DEMO_STAMP := $(VENV)/.installed-demo

$(VENV)/bin/python:
	@command -v $(PY) >/dev/null || { echo "need $(PY) (see docs/install.md)"; exit 1; }
	$(PY) -m venv $(VENV)
	@$(PIP) --upgrade pip 'setuptools>=77'  # the build backend pyproject names (tests build offline with it)

# The demo's packages only: the project, no root and no apt. No TensorFlow: the server and
# `serumrnn demo` run the models' NumPy exports (server/nn_numpy.py); training needs the ml extra.
$(DEMO_STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "installing the Python packages the demo needs into $(VENV) (first time: a minute or two) ..."
	@$(PIP) -e .
	@touch $(DEMO_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "installing the Python packages, with the test tools, into $(VENV) ..."
	@$(PIP) -e '.[ml,test]'
	@touch $(STAMP) $(DEMO_STAMP)

system:
	./scripts/setup-system.sh

# The device's JavaScript test and lint dependencies (acorn, eslint), pinned by package-lock.json.
$(NODE_STAMP): m4l_device/package.json m4l_device/package-lock.json
	cd m4l_device && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

setup: system $(STAMP) $(NODE_STAMP)

# Needs no root: `make demo` prints its first line at once, then sets up .venv the first time.
demo-hello:
	@echo "make demo: set up $(VENV) if needed, then match examples/input-saw.wav to examples/target-saw.wav"

demo: demo-hello $(DEMO_STAMP)
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
