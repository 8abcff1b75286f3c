# Set-up and the two jobs the README names. Everything installs into .venv.
# torch is installed first, pinned: an open range asked for before torch is present
# would pull a multi-GB CUDA build. Override TORCH for another build.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
DISTS := plugins/ragdistill-openai integrations/ragdistill-chroma \
         integrations/llama-index-ragdistill integrations/langchain-ragdistill
STAMP := $(VENV)/.ragdistill-installed

.PHONY: setup demo test lint unit bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml integrations/*/pyproject.toml) requirements-test.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[all,dev]" $(foreach d,$(DISTS),-e $(d)) -r requirements-test.txt
	touch $@

# The main job on embedded defaults: offline teacher and student, distill, index, A/B report.
demo: setup
	$(BIN)/ragdistill quickstart

# Every suite: lint, types, core, plugins, integrations.
test: setup lint unit

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: setup
	HF_HUB_OFFLINE=1 $(BIN)/pytest tests
	HF_HUB_OFFLINE=1 $(BIN)/pytest plugins/ragdistill-openai/tests
	HF_HUB_OFFLINE=1 $(BIN)/pytest integrations

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache
