# The two set-up commands of README.md: `make run` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint render bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

## run: the main job on the embedded defaults (today: validate, render check, lint, build matrix)
run: $(BIN)/.installed
	$(BIN)/factory validate
	$(BIN)/factory render --check
	$(BIN)/factory lint
	$(BIN)/factory list

## test: static checks and the whole test suite
test: $(BIN)/.installed
	$(BIN)/ruff check factory tests bench
	$(BIN)/ruff format --check factory tests bench
	$(BIN)/mypy
	$(BIN)/pytest

## render: re-render rendered/ after editing stacks/ or templates/
render: $(BIN)/.installed
	$(BIN)/factory render

## bench: rendering and lint benchmarks (print figures, assert nothing)
bench: $(BIN)/.installed
	$(BIN)/python bench/render_bench.py
	$(BIN)/python bench/lint_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
