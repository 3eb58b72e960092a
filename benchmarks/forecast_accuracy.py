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

`--history-days N` measures a business with N days of sales: each outer window's champion and
peers see only the N days before its cutoff (its inner backtest, choice and calibration come from
inside them), so every outer window has the same short history, not one that grows by a window
each time. That takes one 4-window backtest per outer window instead of the shared 6-window one.
The measures' scales and sales weights still come from the whole history, so the numbers compare
with the full-history run's.

`--freq W|MS` sums the days to weeks or months (`load_sales(freq=...)`, as `allocast train
--freq` does); `--horizon` is then in those periods (default 28 days, 8 weeks, 3 months) and the
SKU-state-week level is the weeks themselves (months have none: the summary's week WAPE gain is
then the SKU-store-month one). A history too short for the quick-start LightGBM's lags (a season
and two) leaves that peer out; one too short for the champion's backtest stops the run, as
`Forecaster.fit` raises on it.

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

import numpy as np
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
WINDOWS = 3
QUANTILES = (0.05, 0.5, 0.9, 0.95)
HORIZONS = {"D": 28, "W": 8, "MS": 3}  # default horizon per frequency, in its periods
LOOKBACKS = {"D": 364, "W": 52, "MS": 12}  # the Forecaster's default: one year
WEEK_PERIODS = {"D": 7, "W": 1, "MS": None}  # periods summed to a week for the SKU-state level


def sales_until(sales: pd.DataFrame, until: str | None) -> pd.DataFrame:
    """The sales up to and including `until` (all of them when it is None)."""
    if until is None:
        return sales
    return sales[sales[DATE] <= pd.Timestamp(until)].reset_index(drop=True)


def peer_backtest(long: pd.DataFrame, config: ForecastConfig, n_windows: int) -> pd.DataFrame:
    """The peers on the outer windows, from the untrimmed history, as a user would run them."""
    stat_peers = [p for p in PEERS if p != LIGHTGBM_PLAIN]
    h, freq = config.horizon, config.freq
    peers = stat_cross_validation(long, stat_peers, h, n_windows, freq)
    try:
        plain = ml_cross_validation(long, LIGHTGBM_PLAIN, h, n_windows, freq, seed=0)
    except ValueError as error:  # its lags (a season and two) drop every row of a short history
        print(f"  {LIGHTGBM_PLAIN} cannot train on this history, left out: {error}")
        return peers.assign(**{LIGHTGBM_PLAIN: np.nan})
    return peers.merge(plain.drop(columns=[Y]), on=[UNIQUE_ID, DS, CUTOFF])


def outer_cutoffs(long: pd.DataFrame, horizon: int) -> list[pd.Timestamp]:
    """The cutoffs of the last WINDOWS non-overlapping windows of `horizon` periods."""
    dates = pd.DatetimeIndex(sorted(long[DS].unique()))
    return [dates[-1 - k * horizon] for k in range(WINDOWS, 0, -1)]


def history_slices(
    long: pd.DataFrame, horizon: int, days: int
) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
    """Per outer window: its cutoff and the periods within `days` days before it plus the
    window itself (what a business with `days` days of sales forecasts that window from)."""
    dates = pd.DatetimeIndex(sorted(long[DS].unique()))
    slices = []
    for cutoff in outer_cutoffs(long, horizon):
        end = dates[dates.get_loc(cutoff) + horizon]
        start = cutoff - pd.Timedelta(days=days)
        part = long[(long[DS] > start) & (long[DS] <= end)].reset_index(drop=True)
        slices.append((cutoff, part))
    return slices


def champion_backtest(
    long: pd.DataFrame, config: ForecastConfig, peers: pd.DataFrame, n_outer: int = WINDOWS
) -> tuple[pd.DataFrame, list]:
    """Out-of-sample champion forecasts for the last `n_outer` windows of `long` (see the module
    docstring): one backtest of WINDOWS + `n_outer` windows.

    A series too young for that backtest gets the fallback (the peers' MA28) in every outer
    window, as `Forecaster.fit` gives it to a series too young for its backtest.
    """
    freq, horizon = config.freq, config.horizon
    lookback = LOOKBACKS[freq]
    trimmed = trim_leading_zeros(long)
    lengths = trimmed.groupby(UNIQUE_ID).size()
    short = set(lengths.index[lengths < min_history(freq, horizon, WINDOWS + n_outer)])
    if short:
        print(f"  {len(short)} series too young for the backtest get {FALLBACK}: {sorted(short)}")
    usable = trimmed[~trimmed[UNIQUE_ID].isin(short)]
    if usable.empty:  # Forecaster.fit raises ForecastingError on such a history
        needed = min_history(freq, horizon, WINDOWS + n_outer) - n_outer * horizon
        raise SystemExit(
            f"no series has the {needed} periods before the outer window that the champion's "
            f"{WINDOWS} x {horizon} backtest needs: it cannot be fitted on this history"
        )
    result = run_backtest(
        usable,
        config.models,
        horizon,
        WINDOWS + n_outer,
        freq,
        config.seed,
        config.local_history(),
        progress=lambda message: print(f"  {message}", flush=True),
    )
    for warning in result.warnings:
        print(f"  warning: {warning}")
    table = result.table
    cutoffs = sorted(table[CUTOFF].unique())
    outer_parts, choices = [], []
    for k in range(n_outer):
        outer_cutoff = cutoffs[k + WINDOWS]
        history = trimmed[trimmed[DS] <= outer_cutoff]
        inner = table[table[CUTOFF].isin(cutoffs[k : k + WINDOWS])].copy()
        selection, calibration = choose_and_calibrate(
            inner, history[~history[UNIQUE_ID].isin(short)], result.models, config, lookback
        )
        young = peers[(peers[CUTOFF] == outer_cutoff) & peers[UNIQUE_ID].isin(short)]
        outer = pd.concat(
            [table[table[CUTOFF] == outer_cutoff], young[[UNIQUE_ID, DS, CUTOFF, FALLBACK]]],
            ignore_index=True,
        )
        outer = ensemble_forecast(outer, history, selection, calibration, lookback, freq, short)
        renamed = outer.rename(
            columns={
                FORECAST: ENSEMBLE,
                **{quantile_column(q): quantile_name(ENSEMBLE, q) for q in QUANTILES},
            }
        )
        quantile_columns = [quantile_name(ENSEMBLE, q) for q in QUANTILES]
        outer_parts.append(renamed[[UNIQUE_ID, DS, CUTOFF, ENSEMBLE, *quantile_columns]])
        chosen = selection.table[selection.table["weight"] > 0]
        segments = classify_series(history, lookback).value_counts().to_dict()
        choices.append(
            {
                "outer_cutoff": str(pd.Timestamp(outer_cutoff).date()),
                "series_short": len(short),
                "segments": {str(s): int(n) for s, n in segments.items()},
                "weights": {
                    str(seg): {m: round(w, 3) for m, w in zip(g["model"], g["weight"], strict=True)}
                    for seg, g in chosen.groupby("segment")
                },
            }
        )
        print(f"  outer window after {choices[-1]['outer_cutoff']}: {choices[-1]['weights']}")
    return pd.concat(outer_parts, ignore_index=True), choices


def run_outer_windows(
    long: pd.DataFrame, config: ForecastConfig, history_days: int | None
) -> tuple[pd.DataFrame, pd.DataFrame, list, float, float]:
    """Peers and champion on the outer windows: all from the whole history (one shared
    backtest), or each window from its own `history_days` (see the module docstring)."""
    slices: list[tuple[pd.Timestamp | None, pd.DataFrame]] = (
        [(None, long)]
        if history_days is None
        else history_slices(long, config.horizon, history_days)
    )
    n_outer = WINDOWS if history_days is None else 1
    peer_parts, champion_parts, choices = [], [], []
    peer_seconds = champion_seconds = 0.0
    for cutoff, part in slices:
        if cutoff is not None:
            print(
                f"outer window after {pd.Timestamp(cutoff).date()}: history "
                f"{part[DS].min().date()} .. {pd.Timestamp(cutoff).date()}",
                flush=True,
            )
        started = time.perf_counter()
        peers = peer_backtest(part, config, n_outer)
        peer_seconds += time.perf_counter() - started
        print(f"peers: {peer_seconds:.0f} s", flush=True)
        started = time.perf_counter()
        champion, chosen = champion_backtest(part, config, peers, n_outer)
        champion_seconds += time.perf_counter() - started
        print(f"champion: {champion_seconds:.0f} s", flush=True)
        peer_parts.append(peers)
        champion_parts.append(champion)
        choices += chosen
    peers = pd.concat(peer_parts, ignore_index=True)
    champion = pd.concat(champion_parts, ignore_index=True)
    return peers, champion, choices, peer_seconds, champion_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=Path, default=M5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/forecast_accuracy.json"))
    parser.add_argument(
        "--until",
        help="drop the sales after this date (YYYY-MM-DD): earlier outer windows; default: none",
    )
    parser.add_argument(
        "--history-days",
        type=int,
        help="each outer window's models see only this many days before its cutoff (a short "
        "history); default: all",
    )
    parser.add_argument(
        "--freq", choices=sorted(HORIZONS), default="D", help="sum the days to W or MS periods"
    )
    parser.add_argument(
        "--horizon", type=int, help="periods per window; default: 28 days, 8 weeks, 3 months"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the champion's seed (LightGBM's bagging): rerun with another to see how far the "
        "measures move on the same data",
    )
    args = parser.parse_args()
    freq = args.freq
    horizon = args.horizon or HORIZONS[freq]
    sales = sales_until(load_sales(args.sales, parse_mapping(MAPPING), freq=freq), args.until)
    long = to_long(sales)
    config = ForecastConfig(
        horizon=horizon, freq=freq, n_windows=WINDOWS, quantiles=QUANTILES, seed=args.seed
    )
    print(
        f"{long[UNIQUE_ID].nunique()} series, {len(long)} rows, {long[DS].min().date()} .. "
        f"{long[DS].max().date()}, freq {freq}, horizon {horizon}, models {config.models}"
    )
    peers, champion, choices, peer_seconds, champion_seconds = run_outer_windows(
        long, config, args.history_days
    )

    table = peers.merge(champion, on=[UNIQUE_ID, DS, CUTOFF], how="inner")
    if len(table) != len(peers):
        raise SystemExit(f"champion covers {len(table)} of the peers' {len(peers)} rows")
    keys = sales.drop_duplicates(["sku", "location"])
    region_of = dict(
        zip(keys["sku"] + "|" + keys["location"], keys["region"].astype(str), strict=True)
    )
    peers_run = [p for p in PEERS if table[p].notna().any()]  # LightGBMPlain may be left out
    models = [*peers_run, ENSEMBLE]
    metrics = evaluate(table, long, models, horizon, QUANTILES, region_of, WEEK_PERIODS[freq])
    pd.set_option("display.width", 200)
    shown = ["level", "model", "wape", "rmsse", "rmsse_weighted", "bias"]
    print(metrics[shown].round(4).to_string(index=False))

    series = metrics[metrics["level"] == "series"].set_index("model")
    weekly = metrics[metrics["level"] == "sku_region_week"].set_index("model")
    if weekly.empty:  # months: no week level, the series level stands in
        weekly = series
    best_rmsse_peer = str(series.loc[peers_run, "rmsse_weighted"].idxmin())
    best_wape_peer = str(weekly.loc[peers_run, "wape"].idxmin())
    options = {
        "--until": args.until,
        "--history-days": args.history_days,
        "--freq": None if freq == "D" else freq,
        "--horizon": args.horizon,
    }
    result = {
        "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/forecast_accuracy.py"
        + "".join(f" {k} {v}" for k, v in options.items() if v is not None),
        "freq": freq,
        "horizon": horizon,
        "history_days": args.history_days,
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
