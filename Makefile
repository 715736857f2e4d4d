# `make demo`: set up a virtual environment and run the whole loop on generated sample data.
# `make test`: set up, install the GUI system libraries if missing (needs root or sudo), run lint
#              (ruff, mypy) and the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo_out

.PHONY: demo test lint system-deps clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[testing]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/napari-selfsup-seg demo --out $(DEMO_OUT)

system-deps:
	@command -v Xvfb >/dev/null || bash scripts/system-deps.sh

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(BIN)/.installed system-deps lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache
