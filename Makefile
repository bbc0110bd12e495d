# The two commands users and CI rely on: `make run` (runtime dependencies only, then serve) and
# `make test` (dev extras and the system packages the suite needs, then every pass).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SDK_PACKAGES := tencentcloud-sdk-python-common tencentcloud-sdk-python-clb tencentcloud-sdk-python-tag \
	tencentcloud-sdk-python-vpc tencentcloud-sdk-python-ssl tencentcloud-sdk-python-sts
LISTEN ?= 127.0.0.1:9180
DATA_DIR ?= ./openclb-data
TEST_WORKERS ?= auto
# One stamp per install level, inside the venv so that removing it forgets them too.
RUNTIME_INSTALLED := $(VENV)/.installed-runtime
DEV_INSTALLED := $(VENV)/.installed-dev

.PHONY: setup run provision-test test test-fast gen-api clean

$(BIN)/python:
	PYTHON=$(PYTHON) scripts/provision-deps run
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# setup.py builds the optional compiled parts (with a C compiler; else their Python stand-ins run).
$(RUNTIME_INSTALLED): $(BIN)/python pyproject.toml setup.py $(wildcard openclb/*/*/*.c openclb/*/*/*.h)
	$(BIN)/pip install -q -e .
	touch $@

$(DEV_INSTALLED): $(RUNTIME_INSTALLED)
	$(BIN)/pip install -q -e '.[dev]'
	# tccli pulls the intl SDK, which shares the `tencentcloud` package with the official
	# Python SDK: reinstall the official one last so its models are the ones tests use.
	$(BIN)/pip install -q --force-reinstall --no-deps $(SDK_PACKAGES)
	touch $@

# The dev environment: tests, tccli, the SDKs, py-spy (test, gen-api and bench start from it).
setup: $(DEV_INSTALLED)

run: $(RUNTIME_INSTALLED)
	$(BIN)/openclb serve --listen $(LISTEN) --data-dir $(DATA_DIR)

# HAProxy, Node and npm, a C compiler and Python's headers (apt-get as root, else the command to
# run) and tests/node's packages.
provision-test:
	scripts/provision-deps test

# `make test` runs every test (and the sample suite in examples/, which uses the pytest plugin
# openclb ships), then the tests marked `postgres` again with PostgreSQL as every
# server's store, then the tests marked `haproxy` again on the HAProxy engine (the markers are
# set in the test modules; see tests/conftest.py).
test: provision-test setup
	$(BIN)/openclb gen-api --check
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -q tests examples
	OPENCLB_TEST_STORE=postgresql $(BIN)/python -m pytest -n $(TEST_WORKERS) -q -m postgres tests/
	OPENCLB_TEST_ENGINE=haproxy $(BIN)/python -m pytest -n $(TEST_WORKERS) -q -m haproxy tests/

test-fast: setup
	$(BIN)/python -m pytest -q tests/unit

gen-api: setup
	$(BIN)/openclb gen-api

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

# Benchmarks are scripts run by hand, never tests (benchmarks/run.py); missing wrk, iperf3,
# haproxy and nginx-light are installed from Debian's packages. `bench` rewrites
# benchmarks/RESULTS.md; `bench-quick` (under two minutes) writes benchmarks/RESULTS-quick.md.
.PHONY: bench bench-quick

bench: setup
	$(BIN)/python -m benchmarks.run

bench-quick: setup
	$(BIN)/python -m benchmarks.run --quick
