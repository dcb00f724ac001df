# prodcat: `make run` runs the demo pipeline end to end, `make test` runs the test suite.
# Both create the environment (.venv, from requirements.lock) when it is missing or stale; `make test`
# also creates .venv-kfp (KFP's local orchestrator, see kfp-local below). Bytecode is
# compiled at install: TensorFlow and TFX are thousands of modules, and compiling them on every start
# (where .pyc files cannot be written, e.g. PYTHONDONTWRITEBYTECODE) costs each command ~15 s.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON310 = $(shell bash scripts/find-python.sh)
UV = $(PYTHON310) -m uv

# The real Google Product Taxonomy, when a checkout of the shared reference data sits beside the repo;
# otherwise prodcat downloads Google's file once into the user cache.
SHARED_TAXONOMY := $(abspath ../shared/taxonomy/google_product_taxonomy.en-US.txt)
ifneq ($(wildcard $(SHARED_TAXONOMY)),)
export PRODCAT_TAXONOMY ?= $(SHARED_TAXONOMY)
endif
export PYTHONHASHSEED := 0

.PHONY: help setup kfp-local run test test-fast golden soak lock clean

help:
	@echo "make run    - run the demo TFX pipeline locally and push a servable model"
	@echo "make test   - set up the environment and run the test suite"
	@echo "make golden - re-record the golden predictions (tests/pipeline/test_golden_predictions.py) after a change meant to move them"
	@echo "make soak   - load test of the serving stack (after make run)"
	@echo "make lock   - re-resolve requirements.lock from pyproject.toml (and the kfp-local lock)"
	@echo "make kfp-local - the venv of KFP's local orchestrator (.venv-kfp), for tests/kubeflow/test_kfp_local.py"

$(VENV)/.installed: requirements.lock pyproject.toml scripts/find-python.sh
	@$(PYTHON310) -m uv --version >/dev/null 2>&1 || $(PYTHON310) -m pip install --quiet uv
	@[ -x $(BIN)/python ] || $(UV) venv --quiet --python $(PYTHON310) $(VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -e .
	@touch $@

setup: $(VENV)/.installed

# KFP's local orchestrator (kfp.local) runs the compiled Kubeflow spec on this machine. kfp >= 2.8
# needs protobuf >= 4, which TFX 1.16 cannot share, so it has its own small venv and lock; its tasks
# still run with .venv's python (tests/kubeflow/kfp_local/).
KFP_VENV := .venv-kfp
KFP_LOCK := tests/kubeflow/kfp_local/requirements.lock

$(KFP_VENV)/.installed: $(KFP_LOCK) scripts/find-python.sh
	@$(PYTHON310) -m uv --version >/dev/null 2>&1 || $(PYTHON310) -m pip install --quiet uv
	@[ -x $(KFP_VENV)/bin/python ] || $(UV) venv --quiet --python $(PYTHON310) $(KFP_VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(KFP_VENV)/bin/python $(KFP_LOCK)
	@touch $@

kfp-local: $(KFP_VENV)/.installed

run: setup
	$(BIN)/prodcat run $(ARGS)

test: setup kfp-local
	bash scripts/system-packages.sh
	bash scripts/lint-imports.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not e2e and not slow" $(PYTEST_ARGS)

# Re-records the demo and Shopify models' predictions that every later change is compared with;
# review the diff of tests/pipeline/test_golden_predictions/ before committing it.
golden: setup
	$(BIN)/python -m pytest tests/pipeline/test_golden_predictions.py --regen-all $(PYTEST_ARGS)
	$(BIN)/python -m pytest tests/pipeline/test_golden_predictions.py $(PYTEST_ARGS)

# 20,000 requests at concurrency 32 against `prodcat serve` (needs a pushed model: make run first).
soak: setup
	$(BIN)/prodcat bench soak --model-base-path outputs/demo/serving/prodcat $(ARGS)

lock:
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.10 -o requirements.lock
	$(UV) pip compile $(KFP_LOCK:.lock=.in) --python-version 3.10 -o $(KFP_LOCK)

clean:
	rm -rf $(VENV) $(KFP_VENV) build *.egg-info
