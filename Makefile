# The two set-up commands of README.md: `make run` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test check lint render bench clean engine-up

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

## run: the main job on the embedded defaults: engine + registry on 127.0.0.1:5000,
## OS base bootstrapped here, then `factory run`: validate, render --check, lint, every
## image built for amd64 and arm64, then run and checked
run: $(BIN)/.installed
	$(BIN)/factory engine up
	$(BIN)/factory run

## test: static checks and the whole test suite; as root it first starts (or checks) the
## engine and runs the engine tests too (the whole catalogue, both platforms)
test: $(BIN)/.installed
	$(BIN)/ruff check factory tests bench
	$(BIN)/ruff format --check factory tests bench
	$(BIN)/mypy
	if [ "$$(id -u)" = 0 ]; then \
		$(BIN)/factory engine up && FACTORY_TEST_ENGINE=1 $(BIN)/pytest; \
	else \
		echo "not root: engine tests are skipped"; $(BIN)/pytest; \
	fi

## check: everything that needs no engine (definitions, drift, lint, static checks, unit tests)
check: $(BIN)/.installed
	$(BIN)/factory validate
	$(BIN)/factory render --check
	$(BIN)/factory lint
	$(BIN)/ruff check factory tests bench
	$(BIN)/ruff format --check factory tests bench
	$(BIN)/mypy
	$(BIN)/pytest -m "not engine"

## engine-up: start (or check) the local BuildKit engine the engine tests use; root, see README.md
engine-up: $(BIN)/.installed
	$(BIN)/factory engine up

## render: re-render rendered/ after editing stacks/ or templates/
render: $(BIN)/.installed
	$(BIN)/factory render

## bench: rendering and lint benchmarks (print figures, assert nothing)
bench: $(BIN)/.installed
	$(BIN)/python bench/render_bench.py
	$(BIN)/python bench/lint_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
