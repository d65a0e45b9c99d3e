# numaflux — the two commands are `make run` and `make test`; both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint bench chaos clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/numaflux run examples/word-pipeline.yaml

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

chaos: $(STAMP)
	NUMAFLUX_CHAOS_STEPS=$${NUMAFLUX_CHAOS_STEPS:-200} $(BIN)/python -m pytest -q -s -m slow tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
