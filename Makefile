# Two commands matter: `make run` and `make test`. Everything installs into .venv/ in this checkout.
# `make install` (and `make run`) installs what serving needs, requirements.lock: 1.8 GB of site-packages, 0.75 GB
# of it torch. `make test` adds the test tools and extras (requirements-test.lock, -ray.lock, -ocr.lock): 3.0 GB.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
INDEX ?= var/index
HOST ?= 127.0.0.1
PORT ?= 8000
# PyTorch must be the CPU build: on machines without a local wheel, pass its CPU index here (see README).
TORCH_PIP_ARGS ?=

.PHONY: install install-test run test test-fast lint index lock clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and exactly: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	# The question model (index/query_model.py), built from the installed weights into ~/.cache/askdocs/models.
	$(BIN)/python -m askdocs.index.query_model
	touch $@

$(INDEX)/CURRENT: | $(INSTALLED)
	$(BIN)/build-index seeds --index $(INDEX)

index: $(INDEX)/CURRENT

run: install index
	$(BIN)/askdocs serve --index $(INDEX) --host $(HOST) --port $(PORT)

# The test tools (pytest, Playwright, the Milvus server, schemathesis, ruff, ...) and the optional extras the
# tests cover (Ray builds, OCR, tracing); `make install` installs none of them.
TEST_INSTALLED := $(VENV)/.installed-test

install-test: $(TEST_INSTALLED)

$(TEST_INSTALLED): $(INSTALLED) requirements-test.lock requirements-ray.lock requirements-ocr.lock
	$(BIN)/python -m pip install --quiet -r requirements-test.lock -r requirements-ray.lock -r requirements-ocr.lock
	touch $@

# Every tier: unit, integration, e2e (pyproject.toml; tests/tiers.py says which test is which).
test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The unit tier alone: no model, no process; seconds.
test-fast: install-test
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .

# Regenerate both locks from pyproject.toml in a throwaway venv (needs the package registry): requirements.lock is
# what `pip install .` brings, at the versions the full test install resolves to; requirements-test.lock the rest
# of `.[test,train]` (train: bench/'s trainers). The ray and ocr locks are kept by hand.
LOCK_VENV := /tmp/askdocs-lock
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --quiet torch==2.13.0 $(TORCH_PIP_ARGS)
	$(LOCK_VENV)/bin/python -m pip install --quiet .
	$(LOCK_VENV)/bin/python -m pip freeze --exclude askdocs --exclude torch > $(LOCK_VENV)/serving.txt
	$(LOCK_VENV)/bin/python -m pip install --quiet ".[test,train]"
	$(LOCK_VENV)/bin/python -m pip freeze --exclude askdocs --exclude torch > $(LOCK_VENV)/all.txt
	awk -F'==' 'NR == FNR { serving[tolower($$1)]; next } \
	    { print > (tolower($$1) in serving ? "requirements.lock" : "requirements-test.lock") }' \
	    $(LOCK_VENV)/serving.txt $(LOCK_VENV)/all.txt

clean:
	rm -rf $(VENV) var

# docs/cli.md and docs/configuration.md, generated from the click commands and the settings (tests/test_docs.py).
.PHONY: docs
docs: install
	$(BIN)/python -m askdocs.api.reference
