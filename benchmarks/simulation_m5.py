"""Replay the held-out weeks of the real M5 slice through our policy, push and min-max.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/simulation_m5.py --weeks 8 \
        --targets 0.8 0.9 0.95 0.98 --out .allocast/bench/simulation_m5

Stores are the forward locations, states the regions, with a seeded central and regional
warehouses around them (`allocation.replay_network`). Prints the KPI table, the comparison with
min-max at each service target against the source's bar (stockout rate -60 %, turnover +45 %, no
more average inventory) and the fill-rate vs average-inventory trade-off, as Markdown for
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd

from forecasting.data import load_sales
from serving.simulation import ForecastCache, SimulationOutcome, run_simulation, write_outcome

M5 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "m5_tiny" / "sales.parquet"
MAPPING = {
    "item_id": "sku",
    "store_id": "location",
    "state_id": "region",
    "sales": "units",
    "sell_price": "price",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=Path, default=M5)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--review-days", type=int, default=7)
    parser.add_argument("--targets", type=float, nargs="+", default=[0.8, 0.9, 0.95, 0.98])
    parser.add_argument("--refit-every", type=int, default=4)
    parser.add_argument("--skus", type=int, default=None, help="first N SKUs only (quick run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(".allocast/bench/simulation_m5"))
    parser.add_argument(
        "--reuse-forecasts",
        type=Path,
        default=None,
        help="keep each review's forecast in this folder and reuse it on the next run "
        "(for iterating on policies; the reported numbers come from a fresh run)",
    )
    args = parser.parse_args()

    warnings.simplefilter("ignore")  # per-series fallback notices; the forecaster keeps them
    sales = load_sales(args.sales, mapping=MAPPING)
    if args.skus:
        keep = sorted(sales["sku"].unique())[: args.skus]
        sales = sales[sales["sku"].isin(keep)]
    started = time.perf_counter()
    forecast_fn = None
    if args.reuse_forecasts is not None:
        forecast_fn = stored_forecasts(
            args.reuse_forecasts,
            ForecastCache(
                quantiles=tuple(sorted({0.5, *args.targets})),
                refit_every=args.refit_every,
                seed=args.seed,
            ),
        )
    outcome = run_simulation(
        sales,
        weeks=args.weeks,
        review_days=args.review_days,
        service_targets=tuple(args.targets),
        refit_every=args.refit_every,
        seed=args.seed,
        forecast_fn=forecast_fn,
        on_progress=lambda message: print(f"[{time.perf_counter() - started:6.0f}s] {message}"),
    )
    elapsed = time.perf_counter() - started
    write_outcome(outcome, args.out)
    print(render(outcome, elapsed))


def stored_forecasts(
    folder: Path, compute: Callable[[pd.DataFrame, int], pd.DataFrame]
) -> Callable[[pd.DataFrame, int], pd.DataFrame]:
    """A forecast_fn that reads `<folder>/<last history day>_<horizon>.parquet` when present and
    otherwise computes the forecast and writes it there."""
    folder.mkdir(parents=True, exist_ok=True)

    def forecast_fn(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
        path = folder / f"{history['date'].max():%Y-%m-%d}_{horizon}.parquet"
        if path.exists():
            return pd.read_parquet(path)
        forecast = compute(history, horizon)
        forecast.to_parquet(path, index=False)
        return forecast

    return forecast_fn


def render(outcome: SimulationOutcome, elapsed: float) -> str:
    """The results as Markdown."""
    summary, versus, setup = outcome.summary, outcome.versus_min_max, outcome.setup
    lines = [
        f"Replay {setup['start']} .. {setup['end']} ({setup['weeks']} weeks, review every "
        f"{setup['review_days']} days), {setup['skus']} SKUs x {setup['locations']} stores, "
        f"seed {setup['seed']}; {elapsed:.0f} s in all"
        + (
            f" ({setup['forecaster_fits']} forecaster fits, {setup['forecaster_fit_seconds']} s;"
            f" predictions {setup['forecaster_predict_seconds']} s)."
            if "forecaster_fits" in setup
            else "."
        ),
        "",
        "| policy | target | fill rate | stockout rate | turnover (/yr) | days of supply "
        "| avg inventory (units) | total cost |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary.itertuples(index=False):
        target = "" if math.isnan(row.service_target) else f"{row.service_target:g}"
        lines.append(
            f"| {row.policy} | {target} | {row.fill_rate:.3f} | {row.stockout_rate:.4f} "
            f"| {row.turnover:.1f} | {row.days_of_supply:.1f} | {row.avg_inventory:,.0f} "
            f"| {row.total_cost:,.0f} |"
        )
    if len(versus):
        lines += [
            "",
            "| vs min-max at the same target | target | stockout rate | turnover "
            "| avg inventory | fill rate (points) | bar met |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for row in versus.itertuples(index=False):
            lines.append(
                f"| {row.policy} | {row.service_target:g} | {row.stockout_rate_change:+.0%} "
                f"| {row.turnover_change:+.0%} | x{row.avg_inventory_ratio:.2f} "
                f"| {100 * row.fill_rate_change:+.1f} | {'yes' if row.meets_bar else 'no'} |"
            )
    equal = outcome.at_equal_inventory
    if len(equal):
        lines += [
            "",
            "| at no more average inventory than min-max at | policy (its target) | stockout rate "
            "| turnover | avg inventory | fill rate (points) | bar met |",
            "|---:|---|---:|---:|---:|---:|---|",
        ]
        for row in equal.itertuples(index=False):
            lines.append(
                f"| {row.min_max_target:g} | {row.policy} ({row.service_target:g}) "
                f"| {row.stockout_rate_change:+.0%} | {row.turnover_change:+.0%} "
                f"| x{row.avg_inventory_ratio:.2f} | {100 * row.fill_rate_change:+.1f} "
                f"| {'yes' if row.meets_bar else 'no'} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
