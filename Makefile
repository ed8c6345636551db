# teaclave-py: `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# build_openssl.py: the static OpenSSL of the teaclave-file-128 node loop (warns and goes on
# without it; OPENSSL_FLAGS=--require makes that an error).
OPENSSL_FLAGS ?=

.PHONY: demo test lint bench install clean proto

install: $(STAMP)

$(STAMP): pyproject.toml setup.py src/teaclave/crypto/_pfs_nodes.c scripts/build_openssl.py
	$(PYTHON) scripts/build_openssl.py $(OPENSSL_FLAGS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/teaclave demo

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts fuzz examples
	$(VENV)/bin/ruff format --check src tests benchmarks scripts fuzz examples
	$(VENV)/bin/mypy
	$(PY) scripts/gen_proto.py --check

bench: $(STAMP)
	$(PY) benchmarks/run.py
	$(PY) benchmarks/crypto_bench.py
	$(PY) benchmarks/executor_bench.py
	$(PY) benchmarks/attestation_bench.py

proto: $(STAMP)
	$(PY) scripts/gen_proto.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
