# lab-pipelines: two commands on a fresh machine — `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
CELLPROFILER_VENV := .venv-cellprofiler
# This workplace's pip config lists mirrors that may be absent; hide that noise only.
QUIET_PIP := grep -v "^WARNING: Location" || true

.PHONY: help install demo test check local samples clean cellprofiler cellprofiler-if-possible bench-painting \
	chromium chromium-if-possible \
	deploy destroy synth policies smoke

help:
	@echo "make demo    - set up .venv, run the app on the local emulator, count the sample images"
	@echo "make test    - set up .venv and run the whole test suite (unit, functional, integration)"
	@echo "make check   - lint (ruff) and type-check (mypy strict) app.py, chalicelib, devtools, infra, tools"
	@echo "make local   - run everything locally until Ctrl-C: the lab console at http://127.0.0.1:8000/"
	@echo "               (emulator :4566; results kept in .local-cloud/ across restarts)"
	@echo "make cellprofiler - install CellProfiler 4.2.8.1 into $(CELLPROFILER_VENV) (Python 3.9 + JDK)"
	@echo "make deploy STAGE=dev|prod  - infra (CDK) + the Chalice app to AWS (README: Deploying to AWS)"
	@echo "make destroy STAGE=dev|prod [DELETE_DATA=yes] - tear it down again"
	@echo "make smoke STAGE=dev|prod   - after a deploy: one of every pipeline end to end (docs/operations.md)"

install: $(STAMP)

$(STAMP): requirements-dev.txt requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing into $(VENV) (first run only)..."
	@$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt 2>&1 | $(QUIET_PIP)
	@$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e . 2>&1 | $(QUIET_PIP)
	@$(PY) -c "import chalice, moto, cv2, numpy, sklearn" # fail here, not later, if install broke
	@test -x $(VENV)/bin/lab
	@rm -f $(VENV)/.installed-* && touch $@

demo: install cellprofiler-if-possible
	@$(PY) -m devtools demo

# CellProfiler's own virtualenv (Python 3.9); a no-op once installed. `make test` tries it
# and goes on without it when Python 3.9 or a JDK is missing (those tests then skip; under
# CI they fail instead).
cellprofiler:
	@tools/install_cellprofiler.sh $(CELLPROFILER_VENV)

cellprofiler-if-possible:
	@tools/install_cellprofiler.sh $(CELLPROFILER_VENV) --optional

# Headless Chromium for the browser tests (tests/browser): Debian's chromium + chromium-driver,
# apt-installed when root and missing. `make test` goes on without it (those tests then skip
# with the reason) except under CI=true, where it must install.
chromium:
	@tools/install_chromium.sh

chromium-if-possible:
	@tools/install_chromium.sh $(if $(filter true,$(CI)),,--optional)

bench-painting: install cellprofiler
	$(PY) -m devtools bench painting

test: install cellprofiler-if-possible chromium-if-possible
	$(PY) -m pytest -q -p no:cacheprovider -m "not faults"
	$(PY) -m pytest -q -p no:cacheprovider -m faults tests/integration/test_faults.py

check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy app.py chalicelib devtools infra tools

local: install
	$(PY) -m devtools local

samples: install
	$(PY) tools/make_samples.py

clean:
	rm -rf $(VENV) $(CELLPROFILER_VENV) demo-output .pytest_cache .mypy_cache .ruff_cache

# -- AWS (README: Deploying to AWS). Needs credentials, Docker and npx; make test never does.
STAGE ?=
DELETE_DATA ?=
need-stage = @test -n "$(STAGE)" || { echo "give the stage: make $@ STAGE=dev (or prod)"; exit 2; }

deploy: install
	$(need-stage)
	$(PY) -m infra.deploy deploy --stage $(STAGE)

destroy: install
	$(need-stage)
	$(PY) -m infra.deploy destroy --stage $(STAGE) $(if $(filter yes,$(DELETE_DATA)),--delete-data)

# After a deploy: an image, a video, a painting message, a chat job and /predict, end to end.
smoke: install
	$(need-stage)
	$(PY) -m devtools.smoke --stage $(STAGE)

# The CloudFormation templates of a stage into infra/cdk.out (offline, no Docker).
synth: install
	$(need-stage)
	CDK_OUTDIR=infra/cdk.out CDK_CONTEXT_JSON='{"stage": "$(STAGE)"}' $(PY) -m infra.app
	@ls infra/cdk.out/*.template.json

# Rewrite .chalice/policy-<stage>-<function>.json after changing names or AWS calls.
policies: install
	$(PY) -m infra.policies
