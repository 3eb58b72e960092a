"""Forecast accuracy measures on backtest tables, at two levels.

A *backtest table* is a long frame `unique_id, ds, cutoff, y` plus one column per model (the
point forecast, units per period) and optionally quantile columns `<model>|q0.9`.

Measures (all computed per model):

- `wape`: sum |y - f| / sum y over all rows (0 = perfect; scale-free, volume-weighted).
- `bias`: sum (f - y) / sum y (positive = over-forecast).
- `rmsse`: root mean squared scaled error of M5: for each series and backtest window,
  sqrt(mean (y - f)^2 / scale), scale = mean squared one-step difference of the series' history
  up to the window's cutoff, counted from its first non-zero sale. `rmsse` is the plain mean over
  series-windows, `rmsse_weighted` weights each by the series' sales value (units x price, or
  units without prices) over the `horizon` periods before the cutoff, as M5's WRMSSE does.
- `pinball_q<τ>`: quantile (pinball) loss of the τ-quantile, summed and divided by sum y.
- `coverage_q<τ>`: share of rows with y <= the τ-quantile (nominal: τ).
- `interval_coverage_<p>`: share of rows inside [q(1-τ), q(τ)] for each requested pair of
  quantiles, p = 100 (2τ - 1) (nominal: p %).

Levels: `series` (SKU-location-period, as forecast) and `sku_region_week` (sums over the
locations of a region and over weeks counted from each cutoff, so every week is whole).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from utilsforecast.losses import mse

from forecasting.columns import CUTOFF, DS, KEY_SEP, PRICE, UNIQUE_ID, Y, quantile_column
from forecasting.models import split_ids

__all__ = [
    "QUANTILE_SEP",
    "SERIES_LEVEL",
    "WEEK_LEVEL",
    "aggregate_backtest",
    "aggregate_history",
    "bias",
    "coverage",
    "evaluate",
    "interval_coverage",
    "m5_scale",
    "pinball",
    "quantile_name",
    "rmsse_per_window",
    "sales_weights",
    "wape",
]

SERIES_LEVEL = "series"
WEEK_LEVEL = "sku_region_week"
QUANTILE_SEP = "|"
TINY = 1e-12


def quantile_name(model: str, level: float) -> str:
    """Backtest column of a model's quantile forecast: ("Ensemble", 0.9) -> "Ensemble|q0.9"."""
    return f"{model}{QUANTILE_SEP}{quantile_column(level)}"


# --- pure measures on arrays -----------------------------------------------------------------


def wape(y: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error: sum |y - f| / sum |y| (NaN when sum |y| is 0)."""
    total = float(np.abs(y).sum())
    return float(np.abs(y - forecast).sum()) / total if total > 0 else float("nan")


def bias(y: np.ndarray, forecast: np.ndarray) -> float:
    """Relative bias: sum (f - y) / sum |y|; positive means over-forecasting."""
    total = float(np.abs(y).sum())
    return float((forecast - y).sum()) / total if total > 0 else float("nan")


def pinball(y: np.ndarray, quantile: np.ndarray, level: float) -> float:
    """Pinball loss of a `level`-quantile forecast, summed and divided by sum |y|."""
    diff = y - quantile
    loss = np.maximum(level * diff, (level - 1.0) * diff)
    total = float(np.abs(y).sum())
    return float(loss.sum()) / total if total > 0 else float("nan")


def coverage(y: np.ndarray, quantile: np.ndarray) -> float:
    """Share of observations at or below the quantile forecast (nominal: its level)."""
    return float(np.mean(y <= quantile + TINY)) if len(y) else float("nan")


def interval_coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of observations inside [lower, upper]."""
    inside = (y >= lower - TINY) & (y <= upper + TINY)
    return float(np.mean(inside)) if len(y) else float("nan")


def m5_scale(history: np.ndarray) -> float:
    """M5 RMSSE denominator: mean squared one-step difference after the first non-zero value.

    NaN when fewer than two values remain from the first sale on (the series cannot be scaled).
    """
    nonzero = np.flatnonzero(history != 0)
    if len(nonzero) == 0:
        return float("nan")
    active = history[nonzero[0] :]
    if len(active) < 2:
        return float("nan")
    return float(np.mean(np.diff(active) ** 2))


# --- frames ----------------------------------------------------------------------------------


def _scales(history: pd.DataFrame, cutoffs: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """`unique_id, cutoff, scale` from the history up to each cutoff."""
    parts = []
    for cutoff in cutoffs:
        upto = history[history[DS] <= cutoff]
        scale = upto.groupby(UNIQUE_ID, sort=False)[Y].apply(lambda s: m5_scale(s.to_numpy()))
        parts.append(pd.DataFrame({UNIQUE_ID: scale.index, CUTOFF: cutoff, "scale": scale.values}))
    return pd.concat(parts, ignore_index=True)


def sales_weights(
    history: pd.DataFrame, cutoffs: Sequence[pd.Timestamp], horizon: int
) -> pd.DataFrame:
    """`unique_id, cutoff, weight`: sales value over the `horizon` periods up to each cutoff.

    Sales value is units x price where a price column exists (missing prices count as 1), else
    units: M5's weighting, which makes a SKU's error matter in proportion to its revenue.
    """
    parts = []
    for cutoff in cutoffs:
        upto = history[history[DS] <= cutoff].groupby(UNIQUE_ID, sort=False).tail(horizon)
        value = upto[Y] * (upto[PRICE].fillna(1.0) if PRICE in upto.columns else 1.0)
        weight = value.groupby(upto[UNIQUE_ID], sort=False).sum()
        parts.append(
            pd.DataFrame({UNIQUE_ID: weight.index, CUTOFF: cutoff, "weight": weight.values})
        )
    return pd.concat(parts, ignore_index=True)


def rmsse_per_window(
    backtest: pd.DataFrame, history: pd.DataFrame, models: Sequence[str]
) -> pd.DataFrame:
    """RMSSE per series and backtest window: `unique_id, cutoff, <model>...`.

    Series whose history up to the cutoff has no sales (scale NaN or 0) are left out (NaN).
    No models: the series and windows alone (a segment whose every score was NaN, as where all
    series are constant, leaves no candidate to score).
    """
    if not models:
        return backtest[[UNIQUE_ID, CUTOFF]].drop_duplicates().reset_index(drop=True)
    per_window = pd.DataFrame(mse(backtest, list(models), cutoff_col=CUTOFF))
    cutoffs = sorted(backtest[CUTOFF].unique())
    scales = _scales(history, cutoffs)
    merged = per_window.merge(scales, on=[UNIQUE_ID, CUTOFF], how="left")
    scale = merged["scale"].where(merged["scale"] > 0)
    for model in models:
        merged[model] = np.sqrt(merged[model] / scale)
    return merged.drop(columns="scale")


def aggregate_history(
    history: pd.DataFrame, region_of: Mapping[str, str], cutoff: pd.Timestamp, periods: int
) -> pd.DataFrame:
    """History up to `cutoff` summed to SKU-region and blocks of `periods` ending at the cutoff.

    Returns `unique_id` (sku|region), `ds` (block number, -1 = the block ending at the cutoff),
    `y` and `value` (sales value, units x price); blocks cut short by a series' start are left out.
    """
    upto = history[history[DS] <= cutoff]
    back = upto.groupby(UNIQUE_ID, sort=False).cumcount(ascending=False).to_numpy()
    frame = pd.DataFrame(
        {
            "series": upto[UNIQUE_ID].to_numpy(),
            UNIQUE_ID: _sku_region(upto[UNIQUE_ID], region_of),
            DS: -1 - back // periods,
            Y: upto[Y].to_numpy(),
            "value": upto[Y].to_numpy()
            * (upto[PRICE].fillna(1.0).to_numpy() if PRICE in upto.columns else 1.0),
        }
    )
    size = frame.groupby(["series", DS], sort=False)[Y].transform("size").to_numpy()
    whole = frame[size == periods]
    return whole.groupby([UNIQUE_ID, DS], as_index=False, sort=True)[[Y, "value"]].sum()


def _sku_region(unique_id: pd.Series, region_of: Mapping[str, str]) -> np.ndarray:
    sku, _ = split_ids(unique_id)
    region = unique_id.map(region_of).astype(str).to_numpy(dtype=object)
    return sku + KEY_SEP + region


def aggregate_backtest(
    backtest: pd.DataFrame, region_of: Mapping[str, str], columns: Sequence[str], periods: int
) -> pd.DataFrame:
    """Backtest summed to SKU-region and blocks of `periods` counted from each cutoff.

    With daily data and `periods` = 7 these are weeks; blocks cut short by the end of a window
    are left out. Quantile columns are not aggregated (quantiles of sums are not sums of
    quantiles).
    """
    ordered = backtest.sort_values([UNIQUE_ID, CUTOFF, DS], kind="stable")
    step = ordered.groupby([UNIQUE_ID, CUTOFF], sort=False).cumcount().to_numpy()
    frame = pd.DataFrame(
        {
            "series": ordered[UNIQUE_ID].to_numpy(),
            UNIQUE_ID: _sku_region(ordered[UNIQUE_ID], region_of),
            CUTOFF: ordered[CUTOFF].to_numpy(),
            DS: step // periods,
            Y: ordered[Y].to_numpy(),
        }
    )
    for column in columns:
        frame[column] = ordered[column].to_numpy()
    size = frame.groupby(["series", CUTOFF, DS], sort=False)[Y].transform("size").to_numpy()
    whole = frame[size == periods]
    keys = [UNIQUE_ID, CUTOFF, DS]
    return whole.groupby(keys, as_index=False, sort=True)[[Y, *columns]].sum()


def _level_metrics(
    backtest: pd.DataFrame,
    rmsse: pd.DataFrame,
    weights: pd.DataFrame,
    models: Sequence[str],
    quantiles: Sequence[float],
) -> pd.DataFrame:
    rows = []
    weighted = rmsse.merge(weights, on=[UNIQUE_ID, CUTOFF], how="left")
    y = backtest[Y].to_numpy()
    for model in models:
        forecast = backtest[model].to_numpy()
        scaled = weighted[model]
        usable = scaled.notna() & weighted["weight"].notna()
        total_weight = float(weighted.loc[usable, "weight"].sum())
        row: dict[str, float | str] = {
            "model": model,
            "wape": wape(y, forecast),
            "bias": bias(y, forecast),
            "rmsse": float(scaled.mean()),
            "rmsse_weighted": float(
                (scaled[usable] * weighted.loc[usable, "weight"]).sum() / total_weight
            )
            if total_weight > 0
            else float(scaled.mean()),
        }
        for level in quantiles:
            column = quantile_name(model, level)
            if column in backtest.columns:
                values = backtest[column].to_numpy()
                row[f"pinball_{quantile_column(level)}"] = pinball(y, values, level)
                row[f"coverage_{quantile_column(level)}"] = coverage(y, values)
        for level in quantiles:
            low, high = quantile_name(model, 1 - level), quantile_name(model, level)
            if level > 0.5 and low in backtest.columns and high in backtest.columns:
                nominal = round(100 * (2 * level - 1))
                row[f"interval_coverage_{nominal}"] = interval_coverage(
                    y, backtest[low].to_numpy(), backtest[high].to_numpy()
                )
        rows.append(row)
    return pd.DataFrame(rows)


def evaluate(
    backtest: pd.DataFrame,
    history: pd.DataFrame,
    models: Sequence[str],
    horizon: int,
    quantiles: Sequence[float] = (),
    region_of: Mapping[str, str] | None = None,
    week_periods: int | None = 7,
) -> pd.DataFrame:
    """All measures per model at the series level and, given `region_of`, SKU-region-week.

    `history` is the long frame the backtest came from (`unique_id, ds, y`, optional `price`);
    `region_of` maps unique_id -> region; `week_periods` is how many periods make a week (7 for
    daily data, 1 for weekly). Returns one row per (level, model).
    """
    cutoffs = sorted(backtest[CUTOFF].unique())
    series = _level_metrics(
        backtest,
        rmsse_per_window(backtest, history, models),
        sales_weights(history, cutoffs, horizon),
        models,
        quantiles,
    ).assign(level=SERIES_LEVEL)
    frames = [series]
    if region_of is not None and week_periods:
        weekly = aggregate_backtest(backtest, region_of, models, week_periods)
        scales, weights = [], []
        for cutoff in cutoffs:
            hist = aggregate_history(history, region_of, cutoff, week_periods)
            scale = hist.groupby(UNIQUE_ID, sort=False)[Y].apply(lambda s: m5_scale(s.to_numpy()))
            scales.append(pd.DataFrame({UNIQUE_ID: scale.index, CUTOFF: cutoff, "scale": scale}))
            n_blocks = max(1, horizon // week_periods)
            value = hist.groupby(UNIQUE_ID, sort=False).tail(n_blocks)
            weight = value.groupby(UNIQUE_ID, sort=False)["value"].sum()
            weights.append(
                pd.DataFrame({UNIQUE_ID: weight.index, CUTOFF: cutoff, "weight": weight})
            )
        per_window = pd.DataFrame(mse(weekly, list(models), cutoff_col=CUTOFF))
        per_window = per_window.merge(
            pd.concat(scales, ignore_index=True), on=[UNIQUE_ID, CUTOFF], how="left"
        )
        scale = per_window["scale"].where(per_window["scale"] > 0)
        for model in models:
            per_window[model] = np.sqrt(per_window[model] / scale)
        frames.append(
            _level_metrics(
                weekly,
                per_window.drop(columns="scale"),
                pd.concat(weights, ignore_index=True),
                models,
                (),
            ).assign(level=WEEK_LEVEL)
        )
    result = pd.concat(frames, ignore_index=True)
    return result[["level", *[c for c in result.columns if c != "level"]]]
