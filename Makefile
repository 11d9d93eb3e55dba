# shopwise developer targets. `make demo` and `make test` work on a fresh machine with no other step.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SHOPWISE_DATASETS_DIR ?= $(abspath ../shared/datasets)

.PHONY: install demo test check lint imports typecheck bench clean

install: $(STAMP)

# Re-installs only when the project definition changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: install
	$(BIN)/shopwise demo

# Two pytest-xdist workers, each given whole files (module fixtures are built once) and one
# thread for torch and BLAS, which would otherwise oversubscribe a two-core machine.
test: install
	OMP_NUM_THREADS=1 $(BIN)/pytest -q -n 2 --dist loadfile --durations=15 --cov=shopwise --cov-report=term

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# the layer, private-module and cycle contracts in pyproject.toml ([tool.importlinter])
imports: install
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

check: lint imports typecheck test

bench: install
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/crash.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .coverage
