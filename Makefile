# The two commands of the README:
#   make run    one full monitoring cycle on the embedded default (local ES node, SQLite Airflow)
#   make test   the whole test suite against the real parts
# Everything they need is installed by the targets below, from the repository alone.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install system-deps clean-state

run: install
	$(BIN)/mediawatch run

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: system-deps $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

# Reinstall when the pinned dependency tree or the package metadata change.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

clean-state:
	-$(BIN)/mediawatch es stop
	rm -rf var
