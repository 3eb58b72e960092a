"""Replay the held-out weeks of the real M5 slice through our policy, push and min-max.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/simulation_m5.py --weeks 8 \
        --targets 0.6 0.7 0.8 0.9 0.95 0.98 0.99 0.995 --out .allocast/bench/simulation_m5

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
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd

from allocation.simulate import ForecastFn, ReplayForecast
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
    parser.add_argument(
        "--end",
        type=pd.Timestamp,
        default=None,
        help="last day of the replay (YYYY-MM-DD; default: the last day of the sales): "
        "replay another window, the sales after it left out",
    )
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
    if args.end is not None:
        sales = sales[sales["date"] <= args.end]
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


def stored_forecasts(folder: Path, compute: ForecastFn) -> ForecastFn:
    """A forecast_fn that reads `<folder>/<last history day>_<horizon>.parquet` (and the
    forecaster's backtest beside it, `..._backtest.parquet`) when present and otherwise computes
    the forecast and writes it there."""
    folder.mkdir(parents=True, exist_ok=True)

    def forecast_fn(history: pd.DataFrame, horizon: int) -> pd.DataFrame | ReplayForecast:
        stem = f"{history['date'].max():%Y-%m-%d}_{horizon}"
        path, backtest_path = folder / f"{stem}.parquet", folder / f"{stem}_backtest.parquet"
        if path.exists():
            frame = pd.read_parquet(path)
            if not backtest_path.exists():
                return frame
            return ReplayForecast(frame=frame, backtest=pd.read_parquet(backtest_path))
        made = compute(history, horizon)
        if isinstance(made, ReplayForecast):
            made.frame.to_parquet(path, index=False)
            made.backtest.to_parquet(backtest_path, index=False)
        else:
            made.to_parquet(path, index=False)
        return made

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
        f"Stockout floor (no policy can go below it under the supply cap): "
        f"{setup['stockout_floor']:.4f}; supply-constrained SKUs: "
        f"{', '.join(setup['supply_constrained_skus']) or 'none'}.",
        "",
        "| policy | target | fill rate | stockout rate | stockout rate, supplied SKUs "
        "| turnover (/yr) | days of supply | avg inventory (units) | total cost |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    row: Any  # itertuples rows: named by the frames' columns, which mypy cannot see
    for row in summary.itertuples(index=False):
        target = "" if math.isnan(row.service_target) else f"{row.service_target:g}"
        lines.append(
            f"| {row.policy} | {target} | {row.fill_rate:.3f} | {row.stockout_rate:.4f} "
            f"| {row.stockout_rate_supplied:.4f} | {row.turnover:.1f} "
            f"| {row.days_of_supply:.1f} | {row.avg_inventory:,.0f} | {row.total_cost:,.0f} |"
        )
    if len(versus):
        lines += [
            "",
            "| vs min-max at the same target | target | stockout rate | supplied SKUs | turnover "
            "| avg inventory | fill rate (points) | bar met |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for row in versus.itertuples(index=False):
            lines.append(
                f"| {row.policy} | {row.service_target:g} | {row.stockout_rate_change:+.0%} "
                f"| {row.stockout_rate_supplied_change:+.0%} "
                f"| {row.turnover_change:+.0%} | x{row.avg_inventory_ratio:.2f} "
                f"| {100 * row.fill_rate_change:+.1f} | {'yes' if row.meets_bar else 'no'} |"
            )
    equal = outcome.at_equal_inventory
    if len(equal):
        lines += [
            "",
            "| at no more average inventory than min-max at | policy (its target) | stockout rate "
            "| supplied SKUs | turnover | avg inventory | fill rate (points) | bar met |",
            "|---:|---|---:|---:|---:|---:|---:|---|",
        ]
        for row in equal.itertuples(index=False):
            lines.append(
                f"| {row.min_max_target:g} | {row.policy} ({row.service_target:g}) "
                f"| {row.stockout_rate_change:+.0%} | {row.stockout_rate_supplied_change:+.0%} "
                f"| {row.turnover_change:+.0%} "
                f"| x{row.avg_inventory_ratio:.2f} | {100 * row.fill_rate_change:+.1f} "
                f"| {'yes' if row.meets_bar else 'no'} |"
            )
    lines += _constrained_stockouts(outcome)
    return "\n".join(lines)


def _constrained_stockouts(outcome: SimulationOutcome) -> list[str]:
    """Stockout days of each policy on the supply-constrained SKUs, beside their floor: where
    the SKUs no policy can fully serve leave room, and who uses it."""
    floor = outcome.setup["unavoidable_days"]
    if not floor:
        return []
    skus = sorted(floor)
    lines = [
        "",
        "| stockout days on the supply-constrained SKUs | "
        + " | ".join(f"{sku} (floor {floor[sku][0]} of {floor[sku][1]})" for sku in skus)
        + " |",
        "|---|" + "---:|" * len(skus),
    ]
    for label, result in outcome.results.items():
        daily = result.daily
        out = daily[daily["sku"].isin(skus) & (daily["lost"] > 0)].groupby("sku").size()
        lines.append(f"| {label} | " + " | ".join(str(int(out.get(s, 0))) for s in skus) + " |")
    return lines


if __name__ == "__main__":
    main()
