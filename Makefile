# `make test` installs the dagster extra too (about 30 s more): its example is tested in CI.
# Two entry points for a fresh machine with Python 3.11+ (see README "Quick start").
# Both create .venv on first use and are safe to run twice or in either order.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dagster]'
	touch $(STAMP)

# --sandbox-if-no-token: the quick start runs against the embedded sandbox until a token is
# configured; the job alone refuses that fallback when it is not run from a terminal.
run: $(STAMP)
	$(BIN)/python pipelines/lms_to_hubspot.py --sandbox-if-no-token $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# removes the venv only: .state/ holds sync state and pending load packages (README "Scheduling")
clean:
	rm -rf $(VENV)
