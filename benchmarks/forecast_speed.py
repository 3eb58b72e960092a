"""Time and peak memory of train + forecast, against the plain libraries we wrap, and scaling.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/forecast_speed.py \
        --sizes 1000 5000 20000 --out .allocast/bench/forecast_speed.json

Part 1 (M5): on `../shared/data/m5_tiny` (280 series, daily), our `Forecaster` (rolling-origin
backtest of every model, per-segment ensemble, conformal quantiles, final fit, forecast) against
the plain peers doing the same modelling work without our layers: one `StatsForecast` with the
same local models (cross_validation over the same windows + forecast) and one `MLForecast` with
the same LightGBM (cross_validation + fit + predict). The ratio is ours / (statsforecast +
mlforecast).

Part 2 (scaling): seeded synthetic daily sets of 1k, 5k and 20k series (one year each), train +
forecast with our `Forecaster`, throughput in series per second. To keep the run short on two
cores the scaling curve uses the fast local models only (SeasonalNaive, MA28, CrostonOptimized,
TSB) and one backtest window of 28 days; the full model set is timed in part 1.

Every measurement runs in a fresh process, so its peak resident memory (ru_maxrss) is its own.
Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

M5 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "m5_tiny" / "sales.parquet"
M5_MAP = {
    "item_id": "sku",
    "store_id": "location",
    "state_id": "region",
    "sales": "units",
    "sell_price": "price",
}
SCALING_MODELS = ("SeasonalNaive", "MA28", "CrostonOptimized", "TSB")
HORIZON = 28


# --- workloads (each runs in its own process) ---------------------------------------------------


def _m5_sales(path: str) -> pd.DataFrame:
    from forecasting.data import load_sales

    return load_sales(path, mapping=M5_MAP)


def ours_m5(path: str, n_windows: int) -> dict[str, Any]:
    from forecasting.forecaster import ForecastConfig, Forecaster

    sales = _m5_sales(path)
    started = time.perf_counter()
    forecaster = Forecaster(ForecastConfig(horizon=HORIZON, n_windows=n_windows)).fit(sales)
    forecast = forecaster.predict()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(forecast), "models": list(forecaster.config.models)}


def statsforecast_m5(path: str, n_windows: int) -> dict[str, Any]:
    from statsforecast import StatsForecast

    from forecasting.forecaster import ForecastConfig
    from forecasting.models import STAT_MODELS, make_stat_models, season_length, to_long

    config = ForecastConfig(horizon=HORIZON, n_windows=n_windows)
    long = to_long(_m5_sales(path))[["unique_id", "ds", "y"]]
    names = [m for m in config.models if m in STAT_MODELS]
    started = time.perf_counter()
    stats = StatsForecast(models=make_stat_models(names, season_length("D")), freq="D", n_jobs=1)
    history_periods = config.local_history()  # the same history our local models see
    stats.cross_validation(
        h=HORIZON, df=long, n_windows=n_windows, step_size=HORIZON, input_size=history_periods
    )
    history = long.groupby("unique_id").tail(history_periods)
    forecast = stats.forecast(h=HORIZON, df=history)
    return {"seconds": time.perf_counter() - started, "rows": len(forecast), "models": names}


def mlforecast_m5(path: str, n_windows: int) -> dict[str, Any]:
    from forecasting.models import LIGHTGBM, make_mlforecast, ml_frame, to_long

    frame = ml_frame(to_long(_m5_sales(path)), LIGHTGBM, HORIZON)
    static = ["sku_category", "location_category"]
    future_x = None
    started = time.perf_counter()
    make_mlforecast(LIGHTGBM, "D", HORIZON, 0).cross_validation(
        df=frame, n_windows=n_windows, h=HORIZON, step_size=HORIZON, static_features=static
    )
    model = make_mlforecast(LIGHTGBM, "D", HORIZON, 0).fit(frame, static_features=static)
    exogenous = [c for c in frame.columns if c not in ("unique_id", "ds", "y", *static)]
    if exogenous:  # the same rule as ours: last value carried forward
        future_x = model.make_future_dataframe(HORIZON).merge(
            frame.groupby("unique_id", observed=True)[exogenous].last().reset_index(),
            on="unique_id",
        )
    forecast = model.predict(h=HORIZON, X_df=future_x)
    return {"seconds": time.perf_counter() - started, "rows": len(forecast), "models": [LIGHTGBM]}


def synthetic_sales(n_series: int, days: int = 365, seed: int = 0) -> pd.DataFrame:
    """Seeded daily sales: lognormal levels, weekly profile, a third of the series intermittent."""
    rng = np.random.default_rng(seed)
    level = rng.lognormal(mean=1.0, sigma=1.0, size=n_series)
    level[rng.random(n_series) < 1 / 3] *= 0.1  # slow movers: mostly zeros
    weekday = np.array([0.9, 0.95, 1.0, 1.0, 1.1, 1.3, 0.75])
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    rate = level[:, None] * weekday[dates.dayofweek.to_numpy()][None, :]
    units = rng.poisson(rate).astype("float64")
    sku = np.repeat([f"S{i // 10:05d}" for i in range(n_series)], days)
    location = np.repeat([f"L{i % 10}" for i in range(n_series)], days)
    return pd.DataFrame(
        {"sku": sku, "location": location, "date": np.tile(dates, n_series), "units": units.ravel()}
    )


def ours_synthetic(n_series: int) -> dict[str, Any]:
    from forecasting.forecaster import ForecastConfig, Forecaster

    sales = synthetic_sales(n_series)
    config = ForecastConfig(horizon=HORIZON, n_windows=1, models=SCALING_MODELS)
    started = time.perf_counter()
    forecast = Forecaster(config).fit(sales).predict()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(forecast), "series": n_series}


# --- measuring ----------------------------------------------------------------------------------


def _child(conn: Any, name: str, args: tuple[Any, ...]) -> None:
    warnings.simplefilter("ignore")
    result = WORKLOADS[name](*args)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result["peak_mib"] = peak_kib / 1024
    conn.send(result)
    conn.close()


WORKLOADS: dict[str, Callable[..., dict[str, Any]]] = {
    "ours_m5": ours_m5,
    "statsforecast_m5": statsforecast_m5,
    "mlforecast_m5": mlforecast_m5,
    "ours_synthetic": ours_synthetic,
}


def measure(name: str, *args: Any) -> dict[str, Any]:
    """Run a workload in a fresh process: its seconds, peak memory (MiB) and facts."""
    context = mp.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(child, name, args))
    process.start()
    result: dict[str, Any] = parent.recv()
    process.join()
    print(f"  {name}{args}: {result['seconds']:.1f} s, {result['peak_mib']:.0f} MiB", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=Path, default=M5)
    parser.add_argument("--n-windows", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 5000, 20000])
    parser.add_argument("--skip-m5", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(".allocast/bench/forecast_speed.json"))
    args = parser.parse_args()

    results: dict[str, Any] = {"command": " ".join(sys.argv)}
    if not args.skip_m5:
        print("M5: ours vs the plain libraries", flush=True)
        m5 = {
            name: measure(name, str(args.sales), args.n_windows)
            for name in ("ours_m5", "statsforecast_m5", "mlforecast_m5")
        }
        results["m5"] = m5
    print("scaling", flush=True)
    results["scaling"] = [measure("ours_synthetic", n) for n in args.sizes]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(markdown(results))


def markdown(results: dict[str, Any]) -> str:
    lines = []
    m5 = results.get("m5")
    if m5:
        ours, stats, ml = m5["ours_m5"], m5["statsforecast_m5"], m5["mlforecast_m5"]
        peers_seconds = stats["seconds"] + ml["seconds"]
        peers_peak = max(stats["peak_mib"], ml["peak_mib"])
        lines += [
            "| train + forecast, m5_tiny (280 series) | seconds | peak MiB |",
            "|---|---:|---:|",
            f"| ours (`Forecaster.fit` + `predict`) | {ours['seconds']:.1f} | "
            f"{ours['peak_mib']:.0f} |",
            f"| plain statsforecast, same local models | {stats['seconds']:.1f} | "
            f"{stats['peak_mib']:.0f} |",
            f"| plain mlforecast, same LightGBM | {ml['seconds']:.1f} | {ml['peak_mib']:.0f} |",
            f"| **ratio ours / plain** (time: sum; memory: larger) | "
            f"**{ours['seconds'] / peers_seconds:.2f}** | "
            f"**{ours['peak_mib'] / peers_peak:.2f}** |",
            "",
        ]
    scaling = results.get("scaling") or []
    if scaling:
        lines += [
            "| series | rows | seconds | series / s | peak MiB | seconds per 1k series |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for row in scaling:
            n = row["series"]
            lines.append(
                f"| {n:,} | {n * 365:,} | {row['seconds']:.1f} | {n / row['seconds']:.0f} | "
                f"{row['peak_mib']:.0f} | {1000 * row['seconds'] / n:.2f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
