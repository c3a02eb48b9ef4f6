# Two set-up commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test bench lint typecheck check fmt install install-dev clean cli keys

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamp files make re-runs instant while still reinstalling when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# dev tooling, the local engine (torch CPU), Ray Serve for the GPU tier test and the clouds'
# credential libraries for their adapters' tests (~35 s to install).
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,local,s3,ray,clouds]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/imagehub serve --host $(HOST) --port $(PORT)

# The operator CLI against the same data directory `make run` uses (./data unless
# IMAGEHUB_DATA_DIR says otherwise): `make cli ARGS="keys create --name ci --sandbox"`.
cli: install
	$(BIN)/imagehub $(ARGS)

keys: install
	$(BIN)/imagehub keys list

# The whole suite: lint, types, the layer contract (ARCHITECTURE.md), then every test against a real hub.
# The browser tests need Debian's chromium and chromium-driver: installed here when missing and
# apt-get may run (as root); otherwise those tests skip and name the missing package.
test: install-dev
	bash scripts/ensure-browser.sh  # chromium + chromium-driver via apt-get when missing (as root)
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

# Gateway overhead against a direct call (wrk, installed if missing), slow requests held in
# flight (250-10,000) against the same load sent direct, url through S3 beside the local store,
# memory for a big answer, and the local engine batched against unbatched. Numbers and commands: bench/RESULTS.md.
bench: install-dev
	$(BIN)/python bench/run.py
	$(BIN)/python bench/capacity.py
	$(BIN)/python bench/s3.py
	$(BIN)/python bench/big_response.py
	$(BIN)/python bench/local_engine.py

lint: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: install-dev
	$(BIN)/mypy

check: lint typecheck test

fmt: install-dev
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
