# Two entry points (see README "Quick start"): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

.PHONY: install demo test test-slow bench bench-scale examples
install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/targeting report examples/bleeding_trial.xlsx -o demo_report
	@echo "Outputs are in demo_report/: brief.pdf, pack.xlsx, report.json, individuals.csv"

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

test-slow: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m slow

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py

bench-scale: $(BIN)/.installed
	$(BIN)/python bench/scale.py

examples: $(BIN)/.installed
	$(BIN)/python examples/make_examples.py
