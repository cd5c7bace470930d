# Quick start: `make demo` then `make test`. Needs only Python 3.11+ and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck bench bench-large serve pages clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/spgw demo

lint: $(STAMP)
	$(BIN)/ruff check gateway tests benchmarks
	$(BIN)/ruff format --check gateway tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench

# Not in CI: the district-year (10,000 students, 1.69 M records) and memory at 10k/200k records; an hour or more.
bench-large: $(STAMP)
	$(BIN)/python -m benchmarks.large

serve: $(STAMP)
	$(BIN)/spgw init --with-samples
	$(BIN)/spgw serve

# The pages over the demo's gateway (run `make demo` first): sign in with the people it printed.
pages: $(STAMP)
	$(BIN)/spgw --home var/demo serve

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache benchmarks/out
