# allocast: `make demo` runs the main job end to end on data/samples/, `make test` runs the tests.
# Both create .venv and install what they need when it is missing or out of date.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ALLOCAST := $(BIN)/allocast
# One LightGBM / BLAS thread: on two cores beside another busy process, two threads slow down tenfold.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export PYTHONUNBUFFERED := 1
DEMO_DIR := .allocast/demo

.PHONY: install demo test lint typecheck serve worker bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo ">> installing allocast and its dependencies into $(VENV) (about a minute)"
	@# -qq: errors only (the local package mirror warns once per package it does not hold)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@mkdir -p $(DEMO_DIR)
	@echo ">> [1/4] forecasting: backtest, train and register on data/samples/sales.parquet"
	$(ALLOCAST) train --sales data/samples/sales.parquet --horizon 28
	@echo ">> [2/4] forecasting: forecast the next 28 days with the champion"
	$(ALLOCAST) forecast --sales data/samples/sales.parquet --model champion --horizon 28 --out $(DEMO_DIR)/forecast.parquet
	@echo ">> [3/4] allocation: plan transfers and distributor replenishment from the forecast"
	$(ALLOCAST) allocate --network data/samples/network.yaml --stock data/samples/stock.csv --forecast $(DEMO_DIR)/forecast.parquet --policy data/samples/policy.yaml --out $(DEMO_DIR)/plan
	@echo ">> [4/4] service: store the plan in the embedded database, create demo keys"
	$(ALLOCAST) demo-service --network data/samples/network.yaml --stock data/samples/stock.csv --sales data/samples/sales.parquet --policy data/samples/policy.yaml --out $(DEMO_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

serve: $(STAMP)
	$(ALLOCAST) serve

worker: $(STAMP)
	$(ALLOCAST) worker

clean:
	rm -rf .allocast .pytest_cache .mypy_cache .ruff_cache
