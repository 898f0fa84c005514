# Trimtab developer commands. `make test` is the one test command; CI runs exactly it.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
PURE_CORE := operator/trimtab/quantity.py operator/trimtab/durations.py \
	operator/trimtab/conditions.py operator/trimtab/validation.py operator/trimtab/api \
	operator/trimtab/history/generator.py operator/trimtab/history/openmetrics.py \
	operator/trimtab/recommender operator/trimtab/horizontal operator/trimtab/quality \
	$(filter-out %/service.py,$(wildcard operator/trimtab/updater/*.py)) operator/trimtab/admission \
	$(filter-out %/service.py %/nodeclaims.py %/providers.py,$(wildcard operator/trimtab/provisioner/*.py))

.PHONY: help venv lint fmt crds prometheus cluster-binaries demo-down test test-e2e test-unit test-component test-integration bench demo clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

venv: $(STAMP)  ## create .venv with the pinned dependencies

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

lint: venv  ## ruff, mypy (strict on the pure core), import-linter layering, CRDs up to date
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy --strict $(PURE_CORE)
	$(BIN)/lint-imports
	$(BIN)/trimtab crds --check

fmt: venv  ## format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

crds: venv  ## regenerate crds/ from the models
	$(BIN)/trimtab crds

prometheus:  ## install Prometheus (Debian package) when it is missing
	hack/prometheus/install

cluster-binaries:  ## build (or reuse) the local control plane, cached outside the checkout
	hack/cluster/build

test: lint prometheus cluster-binaries  ## lint, then every test tier in one pytest run
	$(BIN)/pytest tests

test-unit: venv
	$(BIN)/pytest tests/unit

test-component: venv
	$(BIN)/pytest tests/component

test-integration: venv prometheus
	$(BIN)/pytest tests/integration

test-e2e: venv prometheus cluster-binaries
	$(BIN)/pytest tests/e2e

bench: venv prometheus  ## run every benchmark in benchmarks/
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

demo: venv prometheus cluster-binaries  ## a local cluster, Prometheus with history, and the operator; shows the result
	$(BIN)/python -m hack.demo

demo-down:  ## stop what `make demo` started
	$(BIN)/python -m hack.demo down

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
