# servicereview: `make help` lists the targets. Each pipeline target mirrors a CLI verb.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SR := $(BIN)/servicereview
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
QUARTO_STAMP := $(VENV)/.quarto-tried-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# The sample's last three months (data/sample ends 2026-10), so month navigation is there at once.
RUN_PERIOD ?= 2026-08:2026-10
# The client `make review` builds a contract review pack for (the sample's client whose service degraded).
REVIEW_CLIENT ?= lakeside-accounting

.DEFAULT_GOAL := help
.PHONY: help setup quarto run archive review sample clean-data validate metrics notebooks publish preview test bench lab lint distclean

## Show this help
help:
	@awk '/^## /{doc=substr($$0,4); next} /^[a-zA-Z_-]+:/{if(doc){split($$1,t,":"); printf "  \033[1m%-12s\033[0m %s\n", t[1], doc}; doc=""}' $(MAKEFILE_LIST)
	@echo
	@echo "Code: pipelines/<stage>/ in the order data flows: core -> ingest -> clean -> validate"
	@echo "-> metrics -> report -> site; run/ is the batch that drives them all; cli/ the commands."
	@echo "Tests mirror it in tests/<stage>/. See README.md, section Development."

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

## Create .venv and install servicereview with what the tests need
setup: $(STAMP)

# Quarto for the website when it can be had: already on PATH / in QUARTO_PATH / in .venv, else
# pip's quarto-cli (it downloads Quarto from GitHub while installing); tried once per pyproject.toml.
$(QUARTO_STAMP): $(STAMP)
	@if [ -z "$$QUARTO_PATH" ] && ! command -v quarto >/dev/null 2>&1 && [ ! -x $(BIN)/quarto ]; then \
	  timeout 300 $(BIN)/pip install --quiet -e '.[quarto]' >$(VENV)/quarto-install.log 2>&1 \
	    && echo "Quarto installed (pip quarto-cli): the website is built with Quarto" || true; fi
	@touch $@

# one line when there is no Quarto: which renderer is used and how to get Quarto
QUARTO_NOTE = $(BIN)/python -c "import sys; from pipelines.site.quarto import find_quarto; sys.exit(not find_quarto())" \
	|| echo "No Quarto here (pip could not download it: $(VENV)/quarto-install.log), so the built-in renderer" \
	"builds the site; for Quarto: pip install '.[quarto]' with internet access, or ../shared/tools/quarto/build.sh" \
	"and export QUARTO_PATH=/opt/quarto-local/bin/quarto (see README, Publishing)"

## Install Quarto for the website when the network allows it (else the built-in renderer is used)
quarto: $(QUARTO_STAMP)

## Set everything up and run the batch on data/sample for its last three months (-> reports/, _site/)
run: setup quarto
	@$(QUARTO_NOTE)
	$(SR) run --period $(RUN_PERIOD)

## Run the batch for every month of data/sample and publish the whole archive
archive: setup quarto
	@$(QUARTO_NOTE)
	$(SR) run --period all

## Build and publish the contract review pack of REVIEW_CLIENT's latest term (servicereview review)
review: setup quarto
	@$(QUARTO_NOTE)
	$(SR) review --client $(REVIEW_CLIENT)

## Regenerate the committed sample data (deterministic: same seed, same bytes)
sample: setup
	$(SR) sample --out data/sample

## Clean data/sample into build/clean (clean tables + rejects)
clean-data: setup
	$(SR) clean --data data/sample --out build/clean

## Run the data-quality gate on build/clean
validate: setup
	$(SR) validate --data build/clean --out build/validation

## Compute the SLA table and client x month KPIs from build/clean
metrics: setup
	$(SR) metrics --data build/clean --out build/metrics

## Build the website and per-client bundles from reports/
publish: setup
	$(SR) publish

## Serve _site/ on localhost
preview: setup
	$(SR) preview

## Run the test suite
test: setup
	$(BIN)/pytest -q -n auto

## Run the benchmarks in bench/ (prints the figures)
bench: setup
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## Install JupyterLab and open the notebooks
lab: setup
	$(BIN)/pip install --quiet -e '.[jupyter]'
	$(BIN)/jupyter lab notebooks/

## Lint with ruff
lint: setup
	$(BIN)/ruff check pipelines tests bench

## Remove the virtualenv and every generated output
distclean:
	rm -rf $(VENV) build reports/20* _site _site_clients .quarto
