# casestream: one command to run the whole system locally, one to test it.
# `make up` starts PostgreSQL, a Kafka-compatible broker, an SMTP sink, the five services and
# the staff console (see deploy/local/README.md); `make down` stops them; `make test` lints and
# runs every test.

SHELL := /bin/bash
PYTHON ?= python3
# uv from PATH, else the one `pip install uv` put next to $(PYTHON). Expanded when used, so
# after `ensure-uv` has run.
UV = $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")

.PHONY: help ensure-uv sync up down status test lint format bench faults docs

help:
	@echo "make up      start everything locally (PostgreSQL, broker, SMTP sink, 5 services, console, demo)"
	@echo "make down    stop what 'make up' started"
	@echo "make status  what runs, and whether each service is ready"
	@echo "make test    ruff check and mypy, then every test (pytest)"
	@echo "make lint    ruff check, ruff format --check and mypy (strict on shared/)"
	@echo "make format  ruff format and ruff check --fix"
	@echo "make bench   the form load benchmark"
	@echo "make faults  the fault campaign: two replicas each, every fault under load (docs/faults.md)"
	@echo "make docs    docs/configuration.md from the settings classes"

ensure-uv:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet uv

sync: ensure-uv
	$(UV) sync

up: sync
	$(UV) run casestream-local up

down: ensure-uv
	$(UV) run casestream-local down

status: ensure-uv
	$(UV) run casestream-local status

# mypy checks what [tool.mypy] files names in pyproject.toml (shared/src, strict).
# pytest exits 5 when it collected no tests: make treats that as a failure too.
test: ensure-uv
	$(UV) run ruff check .
	$(UV) run mypy
	$(UV) run pytest

lint: ensure-uv
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

format: ensure-uv
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

bench: ensure-uv
	$(UV) run python bench/form_load.py

# Its own stack (.data/faults, ports 18xxx), so it runs beside `make up`'s.
faults: sync
	cd bench && $(UV) run python faults.py

# The configuration reference is made from the settings classes (tests/docs checks it).
docs: ensure-uv
	$(UV) run python -m casestream.settings_reference > docs/configuration.md
