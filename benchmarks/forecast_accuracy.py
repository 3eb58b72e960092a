"""Accuracy of our champion against the peers on the real M5 slice (rolling origin, 3 x 28 days).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/forecast_accuracy.py

Outer windows: the last three 28-day windows of `../shared/data/m5_tiny`. For each, the champion
is what `Forecaster.fit` on the days before the window would produce, and it never sees the
window: its inner 3-window backtest, the per-segment choice (`choose_and_calibrate`) and the
quantile calibration use only the three windows before the outer one, and its final models are
fitted on everything before the window. All of that is computed from one 6-window rolling-origin
backtest of every model (`run_backtest`, the function `fit` calls): window k+3 is the outer
window whose inner windows are k .. k+2, and a window's forecasts come from models fitted on all
days before it, exactly what the final fit does. Same functions, shared work: six model fits per
family instead of twelve.

Known-future inputs (price, SNAP, events) of each window are given to the models, as they are
known ahead in M5. The peers (SeasonalNaive, the 28-day moving average, AutoETS and the plain
mlforecast LightGBM of the quick start) forecast the same windows from the same, untrimmed
history. Measures come from `forecasting.metrics.evaluate` at SKU-store-day and SKU-state-week.

`--until YYYY-MM-DD` drops the sales after that date first, so the same nested benchmark runs on
an earlier set of outer windows (a check on windows a design was not chosen on).

Targets (issue 2): >= 5 % lower RMSSE-weighted error and >= 10 % lower SKU-state-week WAPE than
the best peer, and 90 % intervals [q0.05, q0.95] covering 85-95 % of the outcomes.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd

from forecasting.backtest import run_backtest
from forecasting.columns import CUTOFF, DATE, DS, FORECAST, UNIQUE_ID, Y, quantile_column
from forecasting.data import load_sales, parse_mapping
from forecasting.forecaster import (
    ENSEMBLE,
    ForecastConfig,
    choose_and_calibrate,
    ensemble_forecast,
)
from forecasting.metrics import evaluate, quantile_name
from forecasting.models import (
    FALLBACK,
    LIGHTGBM_PLAIN,
    PEERS,
    min_history,
    ml_cross_validation,
    stat_cross_validation,
    to_long,
    trim_leading_zeros,
)
from forecasting.selection import classify_series

M5 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "m5_tiny" / "sales.parquet"
MAPPING = "item_id=sku,store_id=location,sales=units,state_id=region,sell_price=price"
HORIZON = 28
WINDOWS = 3
QUANTILES = (0.05, 0.5, 0.9, 0.95)
LOOKBACK = 364  # the Forecaster's default for daily data: one year


def sales_until(sales: pd.DataFrame, until: str | None) -> pd.DataFrame:
    """The sales up to and including `until` (all of them when it is None)."""
    if until is None:
        return sales
    return sales[sales[DATE] <= pd.Timestamp(until)].reset_index(drop=True)


def peer_backtest(long: pd.DataFrame) -> pd.DataFrame:
    """The peers on the outer windows, from the untrimmed history, as a user would run them."""
    stat_peers = [p for p in PEERS if p != LIGHTGBM_PLAIN]
    peers = stat_cross_validation(long, stat_peers, HORIZON, WINDOWS, "D")
    plain = ml_cross_validation(long, LIGHTGBM_PLAIN, HORIZON, WINDOWS, "D", seed=0)
    return peers.merge(plain.drop(columns=[Y]), on=[UNIQUE_ID, DS, CUTOFF])


def champion_backtest(
    long: pd.DataFrame, config: ForecastConfig, peers: pd.DataFrame
) -> tuple[pd.DataFrame, list]:
    """Out-of-sample champion forecasts for the outer windows (see the module docstring).

    A series too young for the 6-window backtest gets the fallback (the peers' MA28) in every
    outer window, as `Forecaster.fit` gives it to a series too young for its backtest.
    """
    trimmed = trim_leading_zeros(long)
    lengths = trimmed.groupby(UNIQUE_ID).size()
    short = set(lengths.index[lengths < min_history("D", HORIZON, 2 * WINDOWS)])
    if short:
        print(f"  {len(short)} series too young for the backtest get {FALLBACK}: {sorted(short)}")
    usable = trimmed[~trimmed[UNIQUE_ID].isin(short)]
    result = run_backtest(
        usable,
        config.models,
        HORIZON,
        2 * WINDOWS,
        "D",
        config.seed,
        config.local_history(),
        progress=lambda message: print(f"  {message}", flush=True),
    )
    for warning in result.warnings:
        print(f"  warning: {warning}")
    table = result.table
    cutoffs = sorted(table[CUTOFF].unique())
    outer_parts, choices = [], []
    for k in range(WINDOWS):
        outer_cutoff = cutoffs[k + WINDOWS]
        history = trimmed[trimmed[DS] <= outer_cutoff]
        inner = table[table[CUTOFF].isin(cutoffs[k : k + WINDOWS])].copy()
        selection, calibration = choose_and_calibrate(
            inner, history[~history[UNIQUE_ID].isin(short)], result.models, config, LOOKBACK
        )
        young = peers[(peers[CUTOFF] == outer_cutoff) & peers[UNIQUE_ID].isin(short)]
        outer = pd.concat(
            [table[table[CUTOFF] == outer_cutoff], young[[UNIQUE_ID, DS, CUTOFF, FALLBACK]]],
            ignore_index=True,
        )
        outer = ensemble_forecast(outer, history, selection, calibration, LOOKBACK, short)
        renamed = outer.rename(
            columns={
                FORECAST: ENSEMBLE,
                **{quantile_column(q): quantile_name(ENSEMBLE, q) for q in QUANTILES},
            }
        )
        quantile_columns = [quantile_name(ENSEMBLE, q) for q in QUANTILES]
        outer_parts.append(renamed[[UNIQUE_ID, DS, CUTOFF, ENSEMBLE, *quantile_columns]])
        chosen = selection.table[selection.table["weight"] > 0]
        segments = classify_series(history, LOOKBACK).value_counts().to_dict()
        choices.append(
            {
                "outer_cutoff": str(pd.Timestamp(outer_cutoff).date()),
                "segments": {str(s): int(n) for s, n in segments.items()},
                "weights": {
                    str(seg): {m: round(w, 3) for m, w in zip(g["model"], g["weight"], strict=True)}
                    for seg, g in chosen.groupby("segment")
                },
            }
        )
        print(f"  outer window after {choices[-1]['outer_cutoff']}: {choices[-1]['weights']}")
    return pd.concat(outer_parts, ignore_index=True), choices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=Path, default=M5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/forecast_accuracy.json"))
    parser.add_argument(
        "--until",
        help="drop the sales after this date (YYYY-MM-DD): earlier outer windows; default: none",
    )
    args = parser.parse_args()
    sales = sales_until(load_sales(args.sales, parse_mapping(MAPPING)), args.until)
    long = to_long(sales)
    config = ForecastConfig(horizon=HORIZON, n_windows=WINDOWS, quantiles=QUANTILES)
    print(
        f"{long[UNIQUE_ID].nunique()} series, {len(long)} rows, {long[DS].min().date()} .. "
        f"{long[DS].max().date()}, models {config.models}"
    )

    started = time.perf_counter()
    peers = peer_backtest(long)
    peer_seconds = time.perf_counter() - started
    print(f"peers: {peer_seconds:.0f} s", flush=True)
    started = time.perf_counter()
    champion, choices = champion_backtest(long, config, peers)
    champion_seconds = time.perf_counter() - started
    print(f"champion: {champion_seconds:.0f} s", flush=True)

    table = peers.merge(champion, on=[UNIQUE_ID, DS, CUTOFF], how="inner")
    if len(table) != len(peers):
        raise SystemExit(f"champion covers {len(table)} of the peers' {len(peers)} rows")
    keys = sales.drop_duplicates(["sku", "location"])
    region_of = dict(
        zip(keys["sku"] + "|" + keys["location"], keys["region"].astype(str), strict=True)
    )
    models = [*PEERS, ENSEMBLE]
    metrics = evaluate(table, long, models, HORIZON, QUANTILES, region_of, 7)
    pd.set_option("display.width", 200)
    shown = ["level", "model", "wape", "rmsse", "rmsse_weighted", "bias"]
    print(metrics[shown].round(4).to_string(index=False))

    series = metrics[metrics["level"] == "series"].set_index("model")
    weekly = metrics[metrics["level"] == "sku_region_week"].set_index("model")
    best_rmsse_peer = str(series.loc[list(PEERS), "rmsse_weighted"].idxmin())
    best_wape_peer = str(weekly.loc[list(PEERS), "wape"].idxmin())
    result = {
        "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/forecast_accuracy.py"
        + (f" --until {args.until}" if args.until else ""),
        "last_day": str(long[DS].max().date()),
        "outer_cutoffs": [c["outer_cutoff"] for c in choices],
        "series": int(long[UNIQUE_ID].nunique()),
        "metrics": {
            level: {
                m: {k: float(v) for k, v in row.dropna().items() if k != "level"}
                for m, row in frame.set_index("model").iterrows()
            }
            for level, frame in metrics.groupby("level")
        },
        "best_rmsse_peer": best_rmsse_peer,
        "rmsse_weighted_gain": float(
            1
            - series.loc[ENSEMBLE, "rmsse_weighted"] / series.loc[best_rmsse_peer, "rmsse_weighted"]
        ),
        "best_week_wape_peer": best_wape_peer,
        "week_wape_gain": float(
            1 - weekly.loc[ENSEMBLE, "wape"] / weekly.loc[best_wape_peer, "wape"]
        ),
        "interval_coverage_90": float(series.loc[ENSEMBLE, "interval_coverage_90"]),
        "choices": choices,
        "peer_seconds": peer_seconds,
        "champion_seconds": champion_seconds,
    }
    summary = {k: v for k, v in result.items() if k not in ("metrics", "choices")}
    print(json.dumps(summary, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    metrics.to_csv(args.out.with_suffix(".csv"), index=False)


if __name__ == "__main__":
    main()
