# mlops-platform: every target installs what it needs; run from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev
STAMP := $(VENV)/.installed

.PHONY: synth synth-all test lint typecheck docs bench clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) is required (Python 3.11)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $(STAMP)

## synth: synthesize STACK (default dev) under Pulumi mocks into build/synth/$(STACK)/
synth: $(STAMP)
	$(PY) -m tools.synth $(STACK)

## synth-all: synthesize every shipped stack
synth-all: $(STAMP)
	@for f in stacks/Pulumi.*.yaml; do s=$${f#stacks/Pulumi.}; $(PY) -m tools.synth $${s%.yaml} || exit 1; done

## test: lint, type-check, docs freshness and the test suite
test: $(STAMP) lint typecheck
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

## docs: regenerate docs/config.md from the config models
docs: $(STAMP)
	$(PY) -m tools.config_docs

## bench: write build/bench.json (synth times, scaling exponent, overhead ratio)
bench: $(STAMP)
	$(PY) -m tools.bench

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
