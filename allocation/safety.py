"""Demand over the cover period and safety stock from forecast quantiles.

For a demand location with lead time L and review period R the cover period is L + R days from
today. Its mean demand is the sum of the daily point forecasts over those days. Daily spread comes
from one quantile column: sigma_d = (q_a - forecast) / z_a, with z_a the standard normal quantile
of level a, the lowest level at or above the location's service target (else the highest; the
lowest below the median where none is above it; a Poisson spread sqrt(forecast) where the frame
has no quantile columns). Days are taken as independent, so the spread over the cover period is
sqrt(sum sigma_d^2) and the safety stock at service target alpha is z_alpha times that spread.
Where the forecast horizon is shorter than the cover period, the mean and variance of the days it
has are scaled up to the full period (each replenishment line's reason says so).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

from allocation.inputs import DATE, FORECAST, LOCATION, SKU, quantile_levels

__all__ = [
    "cover_demand",
    "daily_sigma",
    "no_spread_note",
    "row_days",
    "safety_stock",
    "z_value",
]

# A quantile this close to the forecast, relative to it (at least 1 unit), is equal to it: the
# rounding of a point forecast written into the quantile columns.
EQUAL_TO_ROUNDING = 1e-3
PERIOD_MIN_DAYS = 7  # dates this many days apart or more are periods (weeks, months), not days


def z_value(level: float) -> float:
    """Standard normal quantile of a probability level (0 < level < 1)."""
    return float(_z(np.asarray(level, dtype=float)))


def _z(levels: np.ndarray) -> np.ndarray:
    """Standard normal quantiles of probability levels, all at once (a target per row at
    scale); a level outside (0, 1) is an error, not an infinite safety stock."""
    outside = ~((levels > 0.0) & (levels < 1.0))
    if np.any(outside):
        level = float(np.ravel(levels)[np.ravel(outside)][0])
        raise ValueError(f"probability level {level:g}: expected 0 < level < 1")
    return ndtri(levels)


def daily_sigma(frame: pd.DataFrame, target: np.ndarray | None = None) -> np.ndarray:
    """Per-row standard deviation of daily demand (units) from one quantile column: of the
    levels above the median, the lowest at or above the row's service `target` (the quantile a
    one-day cover would stock to), else the highest; a target of NaN (or none) takes the highest.
    A frame with quantiles below the median only reads the lowest of them, one with none (or the
    median alone) has a Poisson spread. A skewed forecast (mean 10, q0.9 13, q0.95 20) at a
    0.9 target has a spread of 3 / z(0.9), where the widest column gave 10 / z(0.95).

    A quantile below the mean says nothing of the spread above it (an intermittent day: mean
    0.5, q0.8 0, its sales in rare lumps): such a row reads the widest column instead, and where
    that too lies below the mean, has a Poisson spread. Read as a spread of 0, it planned no
    safety stock at a 98 % target from a model trained with q0.5 and q0.8."""
    forecast = frame[FORECAST].to_numpy(dtype=float)
    levels = {level: column for level, column in quantile_levels(frame).items() if level != 0.5}
    upper = sorted(level for level in levels if level > 0.5)
    if not upper:
        lower = sorted(levels)[:1]  # the widest below the median: its distance / |z|
        if not lower:
            return np.sqrt(np.clip(forecast, 0.0, None))
        spread = frame[levels[lower[0]]].to_numpy(dtype=float) - forecast
        return np.clip(spread / z_value(lower[0]), 0.0, None)
    chosen = np.full(len(frame), len(upper) - 1)
    if target is not None and len(upper) > 1:
        wanted = np.asarray(target, dtype=float)
        at_or_above = np.searchsorted(np.asarray(upper), wanted - 1e-9, side="left")
        chosen = np.where(np.isnan(wanted), chosen, np.minimum(at_or_above, len(upper) - 1))
    quantile = np.empty(len(frame))
    for k, level in enumerate(upper):  # column by column: no rows x levels copy at scale
        rows = chosen == k
        quantile[rows] = frame[levels[level]].to_numpy(dtype=float)[rows]
    z = _z(np.asarray(upper))[chosen]
    # Below by more than rounding: a quantile equal to the mean, to the digits a file keeps, is
    # a spread of 0 (a point forecast written into the quantiles; a store the replay's
    # restated forecast stocks to its mean), however the rounding fell (10.0 under 10.004
    # gave a Poisson spread of 3.16, over 9.996 one of 0.002).
    tolerance = EQUAL_TO_ROUNDING * np.maximum(np.abs(forecast), 1.0)
    sigma = _spread_at_least_0((quantile - forecast), tolerance) / z
    widest = _spread_at_least_0(
        frame[levels[upper[-1]]].to_numpy(dtype=float) - forecast, tolerance
    )
    sigma = np.where(sigma >= 0, sigma, widest / _z(np.asarray(upper[-1])))
    return np.where(sigma >= 0, sigma, np.sqrt(np.clip(forecast, 0.0, None)))


def _spread_at_least_0(distance: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """A quantile's distance above the forecast, 0 where it is below by no more than
    `tolerance` (rounding), negative where below by more (it says nothing of the spread)."""
    return np.where((distance < 0) & (distance >= -tolerance), 0.0, distance)


def no_spread_note(demand: pd.DataFrame) -> str | None:
    """A note naming the series of a forecast-contract frame that sell (a forecast above 0) but
    whose quantile columns give no spread in any row (each equal to the forecast: a point
    forecast written into the quantile columns; one below it reads a Poisson spread, see
    `daily_sigma`), None where there are none. Their safety stock is 0 whatever the service
    target: planned as the forecast says, but said, not silently.
    The widest column is read (`daily_sigma` with no target): quantiles rise with the level, so
    where it is flat every column is."""
    forecast = demand[FORECAST].to_numpy(dtype=float)
    selling = forecast > 0
    flat = selling & (daily_sigma(demand) <= 0)
    if not flat.any():  # one pass where the forecast has a spread, as a forecaster's has
        return None
    rows = demand.loc[selling, [SKU, LOCATION]].assign(spread=~flat[selling])
    has_spread = rows.groupby([SKU, LOCATION], sort=True, observed=True)["spread"].any()
    without = has_spread.index[~has_spread.to_numpy()]
    levels = ", ".join(quantile_levels(demand).values())
    first_sku, first_location = without[0]
    return (
        f"{len(without):,} of {len(has_spread):,} series with demand (e.g. {first_sku!r} at "
        f"{first_location!r}) have quantiles ({levels}) equal to their forecast in every row, "
        "so no spread to set safety stock from: they are planned with none, below their "
        "service targets; send the forecast's real quantiles, or leave the quantile columns "
        "out for a Poisson spread"
    )


def safety_stock(sigma_cover: np.ndarray | float, service_target: np.ndarray | float) -> np.ndarray:
    """Safety stock (units) = z(service target) * spread of demand over the cover period."""
    z = _z(np.asarray(service_target, dtype=float))
    return np.clip(z, 0.0, None) * np.asarray(sigma_cover, dtype=float)


def cover_demand(
    demand: pd.DataFrame,
    today: pd.Timestamp,
    cover_days: pd.Series,
    service_target: pd.Series | None = None,
) -> pd.DataFrame:
    """Mean demand and spread over each location's cover period.

    demand: forecast-contract frame. today: first day of the plan. cover_days: days of cover per
    demand location (L + R), indexed by location. service_target: per location, which quantile
    column gives the daily spread (`daily_sigma`; the highest where not given).
    Returns one row per (sku, location), sorted, with `mean` (units over the cover period),
    `sigma` (units, standard deviation over the cover period), `daily` (mean units per day),
    `cover_days` and `forecast_days` (days of forecast found inside the cover period).

    Daily forecasts count each day inside the window. Forecasts whose dates are a week or more
    apart (weekly, monthly: PERIOD_MIN_DAYS) are periods: a row stands for the days from its
    date to the next period's, so a weekly row's units are spread over its seven days instead
    of being read as one day's demand.

    Integer codes and bincounts instead of a groupby on two string columns: the frame has a row
    per SKU, location and day, 14 million at 10,000 SKUs x 100 locations.
    """
    sku_code, sku_names = pd.factorize(demand[SKU], sort=True)
    location_code, location_names = pd.factorize(demand[LOCATION], sort=True)
    # One id per (sku, location) present, in sorted order (codes are sorted, so is the pair).
    pair = sku_code.astype(np.int64) * len(location_names) + location_code
    keys, key = _unique_codes(pair, len(sku_names) * len(location_names))
    offset = (demand[DATE].to_numpy() - np.datetime64(today)) // np.timedelta64(1, "D")
    window_of = cover_days.reindex(location_names).to_numpy(dtype=float)
    row_window = window_of[location_code]
    n = len(keys)
    row_target = None
    if service_target is not None:
        row_target = service_target.reindex(location_names).to_numpy(dtype=float)[location_code]
    forecast = demand[FORECAST].to_numpy(dtype=float)
    variance_of_row = daily_sigma(demand, row_target) ** 2
    step = _series_steps(key, offset, n)[key]
    periodic = step >= PERIOD_MIN_DAYS
    # Daily rows: a day inside the window counts whole; days without a row are scaled.
    inside = ~periodic & (offset >= 0) & (offset < row_window)
    key_in, offset_in = key[inside], offset[inside]
    # (astype: bincount of no rows is integer zeros, whatever the weights)
    total = np.bincount(key_in, forecast[inside], minlength=n).astype(float)
    variance = np.bincount(key_in, variance_of_row[inside], minlength=n).astype(float)
    # Days of forecast in the window: distinct (key, day) pairs (a day may hold two rows).
    span = int(offset_in.max()) + 1 if len(offset_in) else 1
    days_seen, _ = _unique_codes(key_in * span + offset_in, n * span)
    days = np.bincount(days_seen // span, minlength=n).astype(float)
    if periodic.any():
        # Rows a week or more apart: each stands for the days from its date to the next period
        # (a calendar month for monthly dates), its units spread evenly over them; a row counts
        # by the share of its days inside the window.
        key_p = key[periodic]
        length = _period_lengths(demand[DATE][periodic], step[periodic])
        start = offset[periodic].astype(float)
        end = np.minimum(start + length, row_window[periodic])
        overlap = np.clip(end - np.maximum(start, 0.0), 0, None)
        overlap = np.where(np.isnan(overlap), 0.0, overlap)
        share = overlap / length
        total += np.bincount(key_p, forecast[periodic] * share, minlength=n)
        variance += np.bincount(key_p, variance_of_row[periodic] * share, minlength=n)
        days += np.bincount(key_p, overlap, minlength=n)
    window = window_of[keys % len(location_names)]
    window = np.where(np.isnan(window), 0.0, window)
    scale = np.where(days > 0, window / np.maximum(days, 1.0), 0.0)
    mean = total * scale
    return pd.DataFrame(
        {
            SKU: sku_names[keys // len(location_names)],
            LOCATION: location_names[keys % len(location_names)],
            "mean": mean,
            "sigma": np.sqrt(variance * scale),
            "cover_days": window,
            "forecast_days": days,
            "daily": np.where(window > 0, mean / np.maximum(window, 1.0), 0.0),
        }
    )


def row_days(demand: pd.DataFrame) -> np.ndarray:
    """Days each row of a forecast-contract frame (`sku, location, date`) stands for, as
    `cover_demand` reads it: 1 in a daily series, the step between dates in a weekly one, the
    row's calendar month in a monthly one; each series by its own period."""
    sku_code, _ = pd.factorize(demand[SKU])
    location_code, locations = pd.factorize(demand[LOCATION])
    pair = sku_code.astype(np.int64) * len(locations) + location_code
    keys, key = _unique_codes(pair, (int(sku_code.max()) + 1) * len(locations))
    first = np.datetime64(demand[DATE].min())
    offset = (demand[DATE].to_numpy() - first) // np.timedelta64(1, "D")
    step = _series_steps(key, offset, len(keys))[key]
    return np.where(step >= PERIOD_MIN_DAYS, _period_lengths(demand[DATE], step), 1.0)


def _series_steps(key: np.ndarray, offset: np.ndarray, n: int) -> np.ndarray:
    """Smallest number of days between two distinct forecast dates of each of the `n` series:
    7 for weekly forecasts, 28-31 for monthly ones, 1 for daily ones even with missing days.
    Per series, so that weeks labelled by Sunday in one series and by Monday in another are
    weeks in both. A series with one date is read as most series with two are (the smallest
    such step on a tie; 1 where no series has two dates: one date is then one day)."""
    steps = np.full(n, np.iinfo(np.int64).max)
    if len(offset):
        low = int(offset.min())
        span = int(offset.max()) - low + 1
        codes, _ = _unique_codes(key.astype(np.int64) * span + (offset - low), n * span)
        series, day = codes // span, codes % span
        same = series[1:] == series[:-1]
        np.minimum.at(steps, series[1:][same], np.diff(day)[same])
    known = steps < np.iinfo(np.int64).max
    if known.any():
        values, counts = np.unique(steps[known], return_counts=True)
        steps[~known] = values[np.argmax(counts)]
    else:
        steps[~known] = 1
    return steps


def _period_lengths(dates: pd.Series, step: np.ndarray) -> np.ndarray:
    """Days each row of a periodic forecast stands for: its calendar month where the dates are
    about a month apart, the step between dates otherwise (a week, two weeks)."""
    monthly = (step >= 28) & (step <= 31)
    return np.where(monthly, dates.dt.days_in_month.to_numpy(dtype=float), step.astype(float))


def _unique_codes(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(codes, return_inverse=True) for integer codes in [0, size): a table of `size`
    flags instead of a sort where the table is at most a few times the codes. With sorts,
    `cover_demand` of the 17 million forecast rows of 10,000 SKUs x 100 locations took 5.5-6.7 s,
    with tables 2.0-2.6 s (BENCHMARKS.md, Planning time)."""
    if size > max(4 * len(codes), 1_000_000):
        return np.unique(codes, return_inverse=True)
    present = np.zeros(size, dtype=bool)
    present[codes] = True
    index = np.cumsum(present) - 1
    return np.flatnonzero(present), index[codes]
