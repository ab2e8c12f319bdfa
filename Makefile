# The two README commands: `make run` and `make test`. Both build a local virtualenv from
# scratch on first use (Python 3.11+, no Docker), then act. The editable install generates the
# protobuf code (services/v1) through setup.py; `make protos` regenerates it after a .proto
# changes, with the same tools/gen_protos.py.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: run test lint docs protos bench clean

$(STAMP): pyproject.toml setup.py tools/gen_protos.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# Official Kalshi SDK, for the conformance tests only. 3.34 declares Python 3.13+ but runs
	# on 3.11; older releases that pip would pick here lack the V2 order calls.
	$(BIN)/pip install --quiet --ignore-requires-python 'kalshi-python-sync==3.34.0'
	touch $(STAMP)

services/v1/__init__.py: $(wildcard protos/arbiter/v1/*.proto) | $(STAMP)
	$(BIN)/python tools/gen_protos.py

protos: services/v1/__init__.py

run: protos
	$(BIN)/arbiter run $(ARGS)

test: protos
	$(BIN)/python -m pytest $(ARGS)

# What CI checks besides the tests: ruff, the import-layering contracts (.importlinter) and
# mypy (strict for the packages pyproject.toml names).
lint: protos
	$(BIN)/ruff check services tools tests
	$(BIN)/lint-imports
	$(BIN)/mypy

# The documentation site (mkdocs.yml, docs/): strict, so a broken link or a page missing from
# the nav fails the build. The site goes to site/ (git-ignored).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: protos
	$(BIN)/python tools/bench_hotpath.py

clean:
	rm -rf $(VENV) services/v1 build site .pytest_cache .hypothesis
