# servicereview: `make help` lists the targets. Each pipeline target mirrors a CLI verb.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SR := $(BIN)/servicereview
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help setup run sample clean-data validate metrics notebooks publish preview test bench lab lint distclean

## Show this help
help:
	@awk '/^## /{doc=substr($$0,4); next} /^[a-zA-Z_-]+:/{if(doc){split($$1,t,":"); printf "  \033[1m%-12s\033[0m %s\n", t[1], doc}; doc=""}' $(MAKEFILE_LIST)
	@echo
	@echo "Code: pipelines/<stage>/ in the order data flows: core -> ingest -> clean -> validate"
	@echo "-> metrics -> report -> site; run/ is the batch that drives them all; cli.py the commands."
	@echo "Tests mirror it in tests/<stage>/. See README.md, section Development."

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

## Create .venv and install servicereview with what the tests need
setup: $(STAMP)

## Set everything up and run the monthly batch on data/sample (-> reports/, _site/)
run: setup
	$(SR) run

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
	$(BIN)/pytest -q

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
