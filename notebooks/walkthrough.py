# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # A planner's week with allocast
#
# From raw sales to a replenishment plan on the project's own sample (`data/samples/`):
# backtest and fit the forecaster, look at the forecasts beside the history, then spread the
# stock over the network and read why each distributor gets what it gets.
#
# Open it as a notebook with `jupytext --to notebook notebooks/walkthrough.py`, or run it as a
# script: `.venv/bin/python notebooks/walkthrough.py` (figures and the plan go to
# `$ALLOCAST_NOTEBOOK_OUT`, default `.allocast/notebooks/`). A test runs it end to end.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pandas as pd
from utilsforecast.plotting import plot_series

import allocation
from forecasting.data import load_sales
from forecasting.forecaster import ForecastConfig, Forecaster, backtest_summary

REPO = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().parent
SAMPLES = REPO / "data" / "samples"
OUT = Path(os.environ.get("ALLOCAST_NOTEBOOK_OUT", REPO / ".allocast" / "notebooks"))
OUT.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 140)

# %% [markdown]
# ## 1. Sales
# The sample is daily units per SKU and location (forward warehouses and distributors) with
# price, promotion and event flags; `load_sales` validates it and fills missing days with zeros.

# %%
sales = load_sales(SAMPLES / "sales.parquet")
print(
    f"{len(sales):,} rows, {sales['sku'].nunique()} SKUs x {sales['location'].nunique()} "
    f"locations, {sales['date'].min():%Y-%m-%d} .. {sales['date'].max():%Y-%m-%d}"
)

# %% [markdown]
# ## 2. Backtest and fit
# Two rolling-origin windows of 28 days keep this quick; `allocast train` uses three and logs
# everything to MLflow. The table compares the chosen ensemble with every candidate.

# %%
forecaster = Forecaster(ForecastConfig(horizon=28, n_windows=2)).fit(sales)
summary = backtest_summary(forecaster)
print(summary[summary["level"] == summary["level"].iloc[0]].head(12).to_string(index=False))

# %% [markdown]
# Which model each demand segment uses, and why:

# %%
print(forecaster.choice_.drop_duplicates("segment").to_string(index=False))

# %% [markdown]
# ## 3. Forecasts beside the history
# The mean and the 90 % quantile for four series, with the last 90 days of history.

# %%
forecast = forecaster.predict()


def _series_frame(frame: pd.DataFrame, value_columns: dict[str, str]) -> pd.DataFrame:
    """utilsforecast's long format: one id per SKU-location."""
    out = frame.assign(unique_id=frame["sku"] + " @ " + frame["location"], ds=frame["date"])
    return out.rename(columns=value_columns)[["unique_id", "ds", *value_columns.values()]]


history = _series_frame(sales, {"units": "y"})
future = _series_frame(forecast, {"forecast": "allocast", "q0.9": "allocast q0.9"})
figure = plot_series(
    history, future, ids=sorted(history["unique_id"].unique())[:4], max_insample_length=90
)
figure.savefig(OUT / "forecasts.png", dpi=80, bbox_inches="tight")
print(f"figure: {OUT / 'forecasts.png'}")

# %% [markdown]
# ## 4. Allocate
# The plan honours stock, capacities, lead times, packs, tier, credit and territory. Every
# suggestion carries the numbers behind it.

# %%
network = allocation.load_network(SAMPLES / "network.yaml")
stock = allocation.load_stock(SAMPLES / "stock.csv")
policy = allocation.load_policy(SAMPLES / "policy.yaml")
plan = allocation.plan(network, stock, forecast, policy)
allocation.write_plan(plan, OUT / "plan")
print(f"solver: {plan.solver.status}, objective {plan.solver.objective:,.1f}")
print({k: v for k, v in plan.kpis.items() if not isinstance(v, dict)})

# %%
print(plan.replenishment.head(10).to_string(index=False))

# %% [markdown]
# ## 5. What needs a planner's attention
# Stockout risks, overstock and slow movers, each with its figures.

# %%
print(plan.alerts.groupby("kind").size().to_string())
print(plan.alerts.head(8).to_string(index=False))
