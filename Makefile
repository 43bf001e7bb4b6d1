# Two commands for a fresh machine:
#   make repro   set up .venv (pinned dependencies) and run the pipeline (`dvc repro`)
#   make test    set up .venv and run the test suite
# and a real run without an API key:
#   make demo    GSE84888 from GEO through V1 and V2 with the offline baselines
#                (make demo DATA=folder GENOME=mm9.fa: from local files, no network)
# The pipeline itself is defined once, in dvc.yaml; this file only prepares and calls it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Stage commands run `python -m mprabench...`: put the project's interpreter first.
RUN    := PATH="$(CURDIR)/$(BIN):$$PATH"

.PHONY: setup repro demo test params lock

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

repro: $(STAMP)
	$(RUN) $(BIN)/dvc repro

DEMO_EXPERIMENTS ?= v1 v2
DEMO_PREDICTORS  ?= gc kmer motif
DATA   ?=
GENOME ?=
DEMO_ARGS ?=
# DEMO_ARGS: more scripts.demo options, e.g. DEMO_ARGS="--set genome.ucsc_api=http://127.0.0.1:8080" (benchmarks/bench_demo.py)
demo: $(STAMP)
	$(RUN) $(BIN)/python -m scripts.demo --experiments $(DEMO_EXPERIMENTS) --predictors $(DEMO_PREDICTORS) \
	  $(if $(DATA),--data "$(DATA)") $(if $(GENOME),--genome "$(GENOME)") $(DEMO_ARGS)

# Two workers (pytest-xdist), handed one test at a time (--maxschedchunk 1): by default xdist gives
# each worker a first block of ~120 consecutive tests, so one worker got every end-to-end test and
# ran them alone while the other finished the short ones (8 min 21 s instead of about 7; docs/development.md).
test: $(STAMP)
	$(RUN) $(BIN)/python -m pytest -n 2 --maxschedchunk 1

# Regenerate params.yaml from conf/ exactly as `dvc exp run` composes it.
params: $(STAMP)
	$(BIN)/python -c 'from dvc.utils.hydra import compose_and_dump; \
	  compose_and_dump("params.yaml", "$(CURDIR)/conf", None, "config", "$(CURDIR)", [])'

# Re-pin every dependency after changing pyproject.toml (run in a fresh venv).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --disable-pip-version-check ".[test]"
	.venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^mprabench' > requirements.lock
	rm -rf .venv-lock
