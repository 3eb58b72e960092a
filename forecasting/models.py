"""The model families, and the few functions every statsforecast / mlforecast call goes through.

Local (per-series) models come from statsforecast: the two baselines (SeasonalNaive and a
28-period moving average, the "traditional" method), AutoETS, a Theta variant (dynamic optimised
Theta, the strongest Theta of statsforecast's M4 experiments), and the intermittent-demand
family (CrostonOptimized, TSB, ADIDA, IMAPA) for the many SKUs that sell on few days.

The global model is LightGBM trained by mlforecast on all series at once, as the M5 winners did:
a tweedie objective (zero-inflated, right-skewed counts), lags at the season and its multiples,
rolling means of the recent level, calendar features, price (relative to its own recent maximum:
a discount shows up whatever the price level), promotion, event and SNAP-like flags, the SKU
and location as categories, and the recent mean sales of the SKU across locations and of the
location across SKUs as of the forecast origin (`cross_series_levels`). A "plain" LightGBM
(default L2 objective, a few lags, the mlforecast quick-start recipe) is kept as the peer the
benchmarks compare against.
The direct (non-recursive) LightGBM is one model per week of the horizon (for 28 days: days 1-7,
8-14, 15-21 and 22-28), each seeing only lags at least as old as the last day of its week, as the
M5 winners' direct models did: the first week's model sees last week's sales, the last one only
sales four weeks back. Each of its parts takes half the trees of the recursive model at twice the
learning rate, so the four cost about what two full-size parts did.

Every statsforecast or mlforecast call goes through `stat_cross_validation`, `stat_forecast`,
`ml_cross_validation`, `ml_fit` and `ml_predict`, so another execution engine plugs in here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import ExpandingMean, RollingMean, RollingStd
from statsforecast import StatsForecast
from statsforecast.models import (
    ADIDA,
    IMAPA,
    TSB,
    AutoETS,
    CrostonOptimized,
    DynamicOptimizedTheta,
    SeasonalNaive,
    WindowAverage,
)

from forecasting import engine
from forecasting.columns import CUTOFF, DATE, DS, KEY_SEP, LOCATION, PRICE, SKU, UNIQUE_ID, UNITS, Y
from forecasting.data import exogenous_columns, fill_prices

__all__ = [
    "BASELINES",
    "FALLBACK",
    "ML_MODELS",
    "PEERS",
    "STAT_MODELS",
    "GlobalModel",
    "fallback_forecast",
    "fallback_mae",
    "from_long",
    "future_exogenous",
    "horizon_groups",
    "ml_cross_validation",
    "ml_fit",
    "ml_predict",
    "moving_average_window",
    "season_length",
    "seasons_before",
    "split_ids",
    "stat_cross_validation",
    "stat_forecast",
    "to_long",
    "trim_leading_zeros",
]

SEASONAL_NAIVE: Final = "SeasonalNaive"
MOVING_AVERAGE: Final = "MA28"
STAT_MODELS: Final = (
    SEASONAL_NAIVE,
    MOVING_AVERAGE,
    "AutoETS",
    "Theta",
    "CrostonOptimized",
    "TSB",
    "ADIDA",
    "IMAPA",
)
LIGHTGBM: Final = "LightGBM"
LIGHTGBM_DIRECT: Final = "LightGBMDirect"
LIGHTGBM_PLAIN: Final = "LightGBMPlain"
ML_MODELS: Final = (LIGHTGBM, LIGHTGBM_DIRECT, LIGHTGBM_PLAIN)
BASELINES: Final = (SEASONAL_NAIVE, MOVING_AVERAGE)
PEERS: Final = (SEASONAL_NAIVE, MOVING_AVERAGE, "AutoETS", LIGHTGBM_PLAIN)
FALLBACK: Final = MOVING_AVERAGE  # defined for any series with at least one observation
MOVING_AVERAGE_WINDOW: Final = 28  # days
SKU_CATEGORY: Final = "sku_category"
LOCATION_CATEGORY: Final = "location_category"
STATIC_FEATURES: Final = [SKU_CATEGORY, LOCATION_CATEGORY]
MAX_GROUPS: Final = 4  # direct models per horizon, at most (each costs one LightGBM fit)
# Trees and learning rate per LightGBM fit. The direct model fits one model per part, so each
# takes half the trees at twice the rate: four parts cost about what two full ones did.
BOOSTING: Final = {LIGHTGBM: (400, 0.05), LIGHTGBM_DIRECT: (200, 0.1)}
PRICE_RELATIVE: Final = "price_relative"  # price / its maximum so far in the series


def moving_average_window(freq: str) -> int:
    """Periods the moving average (MA28, also the fallback) spans: 28 days' worth, at least 3
    periods (28 days, 4 weeks, 3 months or quarters). On months, 28 periods was the mean of 2.3
    years: a series selling 34 a month lately was forecast 16."""
    return max(3, round(MOVING_AVERAGE_WINDOW / _days_per_period(freq)))


def _days_per_period(freq: str) -> float:
    """Days in one period of a pandas frequency (a month 30.4, a business day 7/5)."""
    offset = pd.tseries.frequencies.to_offset(freq)
    try:
        return offset.nanos / 86_400e9 if offset.nanos else 1.0  # fixed: D, h, 7D
    except ValueError:  # calendar periods
        per = {"W": 7.0, "M": 30.4, "Q": 91.3, "Y": 365.25, "A": 365.25, "B": 1.4}
        base = offset.rule_code.split("-")[0].rstrip("SE")[:1] or "D"
        return per.get(base, 1.0) * abs(offset.n)


def season_length(freq: str) -> int:
    """Periods in one seasonal cycle: a week of days, a year of weeks or months."""
    base = freq.split("-")[0].upper()
    if base == "D":
        return 7
    if base == "W":
        return 52
    if base in {"M", "MS", "ME"}:
        return 12
    if base in {"Q", "QS", "QE"}:
        return 4
    return 1


# --- frames ----------------------------------------------------------------------------------


def to_long(sales: pd.DataFrame) -> pd.DataFrame:
    """Canonical sales frame -> Nixtla long frame `unique_id, ds, y` + exogenous columns."""
    long = pd.DataFrame(
        {
            UNIQUE_ID: sales[SKU].astype(str) + KEY_SEP + sales[LOCATION].astype(str),
            DS: pd.to_datetime(sales[DATE]),
            Y: sales[UNITS].astype("float64") if UNITS in sales.columns else np.nan,
        }
    )
    for column in exogenous_columns(sales):
        long[column] = sales[column].to_numpy(dtype="float64")
    long = long.sort_values([UNIQUE_ID, DS], kind="stable").reset_index(drop=True)
    # as files are filled: one week sent to the service without prices moved the next week's
    # forecasts by -22 % to +50 %
    fill_prices(long, [UNIQUE_ID], units=Y)
    return long


def trim_leading_zeros(long: pd.DataFrame) -> pd.DataFrame:
    """Drop each series' periods before it was listed: before its first sale, or before its
    first price where that comes earlier (`fill_prices` leaves the periods before both
    without one).

    Zero-filled months before a launch would teach the models demand that never existed (the
    global model sees a zero target with zero lags; ETS and Croston start from a zero level).
    A listed period without a sale is demand, though: counted from its first sale alone, a
    series' young history starts on a sale, and its mean runs high (on the M5 slice, the
    series in their first 28 days from their first sale had a fallback level 27 % above what
    they sold in the next 28 days, their opening sale left out as `fallback_level` does; counted
    from their first price, 11 % above: `benchmarks/young_series.py`). Series that never
    sold are kept whole: they forecast zero.
    """
    ordered = long.sort_values([UNIQUE_ID, DS], kind="stable")
    listed = ordered[Y] > 0
    if PRICE in ordered.columns:
        listed |= ordered[PRICE].notna()
    started = listed.groupby(ordered[UNIQUE_ID], sort=False).cummax()
    never = ordered.groupby(UNIQUE_ID, sort=False)[Y].transform("max") <= 0
    return ordered[started | never].reset_index(drop=True)


def split_ids(unique_id: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The sku and location of every `sku|location` id, each distinct id split once: split
    row by row, the ids of two years of 280 daily series took 14 s of a 200 s fit."""
    codes, distinct = pd.factorize(unique_id, sort=False)
    parts = pd.Series(distinct, dtype=object).str.split(KEY_SEP, n=1, expand=True, regex=False)
    return parts[0].to_numpy(dtype=object)[codes], parts[1].to_numpy(dtype=object)[codes]


def from_long(frame: pd.DataFrame) -> pd.DataFrame:
    """Split `unique_id` back into `sku, location` and rename `ds` to `date`."""
    sku, location = split_ids(frame[UNIQUE_ID])
    result = frame.drop(columns=[UNIQUE_ID]).rename(columns={DS: DATE})
    result.insert(0, LOCATION, location)
    result.insert(0, SKU, sku)
    return result


def exogenous_of(long: pd.DataFrame) -> list[str]:
    """Exogenous columns of a long frame (everything but the id, time and target)."""
    return [c for c in long.columns if c not in (UNIQUE_ID, DS, Y, CUTOFF)]


def future_exogenous(
    long: pd.DataFrame,
    horizon: int,
    freq: str,
    given: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Exogenous values for the `horizon` periods after each series' last date.

    Values in `given` (a long frame with `unique_id, ds` and exogenous columns) win; the rest
    follow the documented rule: price carried forward from the last known price, every 0/1
    flag (promo, event, SNAP-like) 0.
    """
    columns = exogenous_of(long)
    last = long.groupby(UNIQUE_ID, sort=False).tail(1)
    offset = pd.tseries.frequencies.to_offset(freq)
    steps = np.arange(1, horizon + 1)
    future = pd.DataFrame(
        {
            UNIQUE_ID: np.repeat(last[UNIQUE_ID].to_numpy(), horizon),
            DS: [d + int(k) * offset for d in last[DS] for k in steps],
        }
    )
    for column in columns:
        if column == PRICE:
            future[column] = np.repeat(last[column].to_numpy(), horizon)
        else:
            future[column] = 0.0
    if given is not None and not given.empty:
        known = [c for c in columns if c in given.columns]
        merged = future.merge(given[[UNIQUE_ID, DS, *known]], on=[UNIQUE_ID, DS], how="left")
        for column in known:
            fresh = merged[f"{column}_y"]
            future[column] = fresh.fillna(merged[f"{column}_x"]).to_numpy()
    return future


# --- statsforecast ---------------------------------------------------------------------------


def make_stat_models(
    names: Sequence[str], season: int, window: int = MOVING_AVERAGE_WINDOW
) -> list[Any]:
    """statsforecast model objects for `names`, aliased with those names; `window`: the moving
    average's periods (`moving_average_window`)."""
    factories = {
        SEASONAL_NAIVE: lambda: SeasonalNaive(season_length=season, alias=SEASONAL_NAIVE),
        MOVING_AVERAGE: lambda: WindowAverage(window_size=window, alias=MOVING_AVERAGE),
        # No trend component: a trend extrapolated over a 28-period horizon hurts more often
        # than it helps on retail demand, and dropping it makes ETS ~4x faster.
        "AutoETS": lambda: AutoETS(season_length=season, model="ZNZ", alias="AutoETS"),
        "Theta": lambda: DynamicOptimizedTheta(season_length=season, alias="Theta"),
        "CrostonOptimized": lambda: CrostonOptimized(alias="CrostonOptimized"),
        "TSB": lambda: TSB(alpha_d=0.1, alpha_p=0.1, alias="TSB"),
        "ADIDA": lambda: ADIDA(alias="ADIDA"),
        "IMAPA": lambda: IMAPA(alias="IMAPA"),
    }
    unknown = [n for n in names if n not in factories]
    if unknown:
        raise ValueError(f"unknown statistical model {unknown[0]!r}; choose from {STAT_MODELS}")
    return [factories[name]() for name in names]


def _stats(names: Sequence[str], freq: str) -> StatsForecast:
    window = moving_average_window(freq)
    return StatsForecast(
        models=make_stat_models(names, season_length(freq), window),
        freq=freq,
        n_jobs=1,
        fallback_model=WindowAverage(window_size=window),
    )


def stat_cross_validation(
    long: pd.DataFrame,
    names: Sequence[str],
    horizon: int,
    n_windows: int,
    freq: str,
    input_size: int | None = None,
) -> pd.DataFrame:
    """Rolling-origin forecasts of the local models: `unique_id, ds, cutoff, y, <model>...`."""
    if engine.active_client() is not None:  # --engine dask: the same models on the cluster
        return engine.stat_cross_validation(long, names, horizon, n_windows, freq, input_size)
    result = _stats(names, freq).cross_validation(
        h=horizon,
        df=long[[UNIQUE_ID, DS, Y]],
        n_windows=n_windows,
        step_size=horizon,
        input_size=input_size,
    )
    return pd.DataFrame(result).reset_index(drop=True)


def stat_forecast(
    long: pd.DataFrame,
    names: Sequence[str],
    horizon: int,
    freq: str,
    input_size: int | None = None,
) -> pd.DataFrame:
    """Forecasts of the local models after each series' history: `unique_id, ds, <model>...`."""
    if engine.active_client() is not None:  # --engine dask: the same models on the cluster
        return engine.stat_forecast(long, names, horizon, freq, input_size)
    history = long[[UNIQUE_ID, DS, Y]]
    if input_size is not None:
        history = history.groupby(UNIQUE_ID, sort=False).tail(input_size)
    result = _stats(names, freq).forecast(h=horizon, df=history)
    return pd.DataFrame(result).reset_index(drop=True)


# --- mlforecast ------------------------------------------------------------------------------


def week_of_year(dates: pd.DatetimeIndex) -> np.ndarray:
    """ISO week number, a calendar feature (module-level so fitted models pickle)."""
    return np.asarray(dates.isocalendar().week, dtype="int32")


def lag_plan(season: int, horizon: int) -> tuple[list[int], dict[int, list[Any]]]:
    """Lags and rolling statistics for the tweedie model, scaled to the season length."""
    if season <= 1:
        lags = [1, 2, 3, 4]
        windows = [4, 12]
    elif season <= 14:  # e.g. days: the last week, then the same weekday 1-4 weeks back
        lags = [*range(1, season + 1), 2 * season, 3 * season, 4 * season]
        windows = [season, 4 * season, 8 * season]
    else:  # e.g. weeks or months: the last few periods and one year back
        lags = [1, 2, 3, 4, season // 4, season]
        windows = [4, max(8, season // 4)]
    transforms: dict[int, list[Any]] = {
        1: [RollingMean(window_size=w) for w in windows] + [RollingStd(window_size=windows[1])],
    }
    if season > 1 and season <= 14:
        transforms[season] = [RollingMean(window_size=4), RollingMean(window_size=12)]
    del horizon  # recursive model: the lags do not depend on the horizon
    return _with_last_year(season, 1, sorted(set(lags)), transforms)


def _with_last_year(
    season: int, horizon: int, lags: list[int], transforms: dict[int, list[Any]]
) -> tuple[list[int], dict[int, list[Any]]]:
    """Add last year to a daily plan: the same weekday 52 weeks back and the mean of the four
    weeks around that date (yearly seasonality: holidays, summer, the weeks around Christmas).

    Only for weekly seasons of days (weeks and months already reach a year back), and only
    where last year is known at the forecast origin for every step of `horizon`.
    """
    if not 1 < season <= 14:
        return lags, transforms
    year, around = 52 * season, 50 * season  # the 4-season window ending 2 seasons after
    if around < horizon:
        return lags, transforms
    plan = {**transforms, around: [RollingMean(window_size=4 * season)]}
    return sorted({*lags, year}), plan


def direct_lag_plan(season: int, horizon: int) -> tuple[list[int], dict[int, list[Any]]]:
    """Lags and rolling statistics no younger than the horizon (the non-recursive model).

    Every feature is known at the forecast origin for all `horizon` steps, so no forecast is
    fed back as an input: errors do not compound (M5's winners blended such a model with a
    recursive one).
    """
    if season <= 14:
        lags = [horizon + i for i in range(max(season, 1))]
        lags += [horizon + k * max(season, 1) for k in (1, 2, 3)]
        windows = [max(season, 4), 4 * max(season, 1), 8 * max(season, 1), 16 * max(season, 1)]
    else:
        lags = [horizon, horizon + 1, horizon + 2, horizon + 3, max(horizon, season)]
        windows = [4, 8, max(12, season // 2)]
    transforms: dict[int, list[Any]] = {
        horizon: [RollingMean(window_size=w) for w in windows]
        + [RollingStd(window_size=windows[1])],
    }
    return _with_last_year(season, horizon, sorted(set(lags)), transforms)


def date_features(freq: str) -> list[Any]:
    """Calendar features the model sees for each period."""
    base = freq.split("-")[0].upper()
    if base == "D":
        return ["dayofweek", "day", "month", week_of_year]
    if base == "W":
        return ["month", week_of_year]
    return ["month"]


def make_lightgbm(name: str, seed: int) -> lgb.LGBMRegressor:
    """The LightGBM regressor of `name` (ours: tweedie; the plain peer: library defaults)."""
    if name == LIGHTGBM_PLAIN:
        return lgb.LGBMRegressor(random_state=seed, num_threads=1, verbosity=-1)
    if name not in BOOSTING:
        raise ValueError(f"unknown machine-learning model {name!r}; choose from {ML_MODELS}")
    n_estimators, learning_rate = BOOSTING[name]
    return lgb.LGBMRegressor(
        objective="tweedie",
        tweedie_variance_power=1.1,
        n_estimators=n_estimators,
        learning_rate=learning_rate,
        num_leaves=63,
        min_child_samples=50,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        reg_lambda=0.1,
        random_state=seed,
        num_threads=1,
        verbosity=-1,
    )


def make_mlforecast(name: str, freq: str, horizon: int, seed: int) -> MLForecast:
    """An unfitted MLForecast for `name` with its features."""
    season = season_length(freq)
    model = make_lightgbm(name, seed)
    if name == LIGHTGBM_PLAIN:  # the mlforecast quick-start recipe
        lags = sorted({1, season, 2 * season} - {0})
        transforms: dict[int, list[Any]] = {1: [ExpandingMean()], season: [RollingMean(28)]}
        return MLForecast(
            models={name: model},
            freq=freq,
            lags=lags,
            lag_transforms=transforms,
            date_features=date_features(freq)[:1],
            num_threads=1,
        )
    plan = direct_lag_plan if name == LIGHTGBM_DIRECT else lag_plan
    lags, transforms = plan(season, horizon)
    return MLForecast(
        models={name: model},
        freq=freq,
        lags=lags,
        lag_transforms=transforms,
        date_features=date_features(freq),
        num_threads=1,
    )


def ml_frame(long: pd.DataFrame, name: str, horizon: int | None = None) -> pd.DataFrame:
    """The training frame of an mlforecast model: static categories and price features added.

    Our models (`horizon` required) also see cross-series levels lagged by the horizon (see
    `cross_series_levels`). The plain peer sees only the target (and its calendar), as in the
    quick start.
    """
    if name == LIGHTGBM_PLAIN:
        return long[[UNIQUE_ID, DS, Y]]
    frame = long.copy()
    sku, location = split_ids(frame[UNIQUE_ID])
    frame[SKU_CATEGORY] = pd.Categorical(sku)
    frame[LOCATION_CATEGORY] = pd.Categorical(location)
    if PRICE in frame.columns:
        running_max = frame.groupby(UNIQUE_ID, sort=False)[PRICE].cummax()
        frame[PRICE_RELATIVE] = frame[PRICE] / running_max.replace(0.0, np.nan)
    if horizon is None:
        raise ValueError(f"{name} needs the horizon to build its cross-series features")
    return cross_series_levels(frame, horizon, sku, location)


CROSS_WINDOWS: Final = (7, 28)


def cross_series_levels(
    frame: pd.DataFrame, horizon: int, sku: np.ndarray, location: np.ndarray
) -> pd.DataFrame:
    """Mean sales per series of the same SKU (all locations) and of the same location (all
    SKUs), averaged over the last 7 and 28 periods, `horizon` periods back.

    A SKU taking off everywhere, or a location growing, shows up here before a single series'
    own lags can tell it from noise (M5's winners fed such higher-level features). Lagged by the
    horizon, the values are known at the forecast origin for every step, and a test window's
    rows use no sales after their cutoff.
    """
    result = frame.copy()
    for key, group in (("sku", sku), ("location", location)):
        level = (
            pd.DataFrame({key: group, DS: frame[DS].to_numpy(), Y: frame[Y].to_numpy()})
            .groupby([key, DS], sort=True)[Y]
            .mean()
        )
        shifted = level.groupby(level=0, sort=False).shift(horizon)
        for window in CROSS_WINDOWS:
            rolled = shifted.groupby(level=0, sort=False).transform(
                lambda s, w=window: s.rolling(w, min_periods=1).mean()
            )
            index = pd.MultiIndex.from_arrays([group, frame[DS].to_numpy()])
            result[f"{key}_level_{window}"] = rolled.reindex(index).to_numpy()
    return result


def _static(name: str) -> list[str]:
    return [] if name == LIGHTGBM_PLAIN else list(STATIC_FEATURES)


def _dropna(name: str) -> bool:
    """Whether training drops rows whose features are not all known yet.

    Ours keep them: LightGBM learns what a missing lag means, so series younger than a year
    (no last-year features) or than the longest window still train and forecast. The plain
    peer keeps mlforecast's default, as in the quick start.
    """
    return name == LIGHTGBM_PLAIN


@contextmanager
def _missing_lags_expected() -> Iterator[None]:
    """Silence mlforecast's note on missing feature values: ours train and forecast with them
    on purpose (see `_dropna`)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Found null values in", category=UserWarning)
        yield


def horizon_groups(name: str, freq: str, horizon: int) -> list[int]:
    """The last step each part of a global model forecasts, in order.

    The direct model gets one part per season (a week of days), at most `MAX_GROUPS` parts:
    a part's lags are no younger than its last step, so the first week sees last week's sales.
    The recursive and plain models are one part for the whole horizon.
    """
    if name != LIGHTGBM_DIRECT:
        return [horizon]
    size = max(season_length(freq), math.ceil(horizon / MAX_GROUPS))
    return [*range(size, horizon, size), horizon]


def _steps(frame: pd.DataFrame, by: list[str]) -> np.ndarray:
    """1-based step of each row within its forecast (`frame` sorted by `by`, then `ds`)."""
    return frame.groupby(by, sort=False).cumcount().to_numpy() + 1


def _part_rows(steps: np.ndarray, ends: Sequence[int], index: int) -> np.ndarray:
    """Rows the part `index` forecasts: steps after the previous part's end, up to its own
    (the last part also takes any step beyond its end)."""
    first = ends[index - 1] if index > 0 else 0
    last = ends[index] if index < len(ends) - 1 else np.inf
    return np.asarray((steps > first) & (steps <= last))


def ml_cross_validation(
    long: pd.DataFrame,
    name: str,
    horizon: int,
    n_windows: int,
    freq: str,
    seed: int,
) -> pd.DataFrame:
    """Rolling-origin forecasts of a global model: `unique_id, ds, cutoff, y, <name>`.

    Exogenous columns of `long` cover the test windows, as known-future inputs do. Each part of
    the model (`horizon_groups`) forecasts the whole window and keeps its own steps.
    """
    if engine.active_client() is not None:  # --engine dask: DistributedMLForecast
        return engine.ml_cross_validation(long, name, horizon, n_windows, freq, seed)
    ends = horizon_groups(name, freq, horizon)
    parts = []
    for index, end in enumerate(ends):
        with _missing_lags_expected():
            result = make_mlforecast(name, freq, end, seed).cross_validation(
                df=ml_frame(long, name, end),
                n_windows=n_windows,
                h=horizon,
                step_size=horizon,
                static_features=_static(name),
                dropna=_dropna(name),
            )
        parts.append(keep_part(pd.DataFrame(result), ends, index, [UNIQUE_ID, CUTOFF]))
    table = pd.concat(parts).sort_values([UNIQUE_ID, CUTOFF, DS], kind="stable")
    table = table.reset_index(drop=True)
    table[name] = table[name].clip(lower=0.0)
    return table[[UNIQUE_ID, DS, CUTOFF, Y, name]]


def keep_part(
    forecast: pd.DataFrame, ends: Sequence[int], index: int, by: list[str]
) -> pd.DataFrame:
    """The rows of a part's forecast that are its own steps (see `horizon_groups`)."""
    ordered = forecast.sort_values([*by, DS], kind="stable")
    return ordered[_part_rows(_steps(ordered, by), ends, index)]


@dataclass(frozen=True)
class GlobalModel:
    """A fitted global model: its parts, each an MLForecast and the last step it forecasts."""

    name: str
    ends: tuple[int, ...]
    parts: tuple[MLForecast, ...]


def ml_fit(long: pd.DataFrame, name: str, horizon: int, freq: str, seed: int) -> GlobalModel:
    """Fit a global model (every part of it) on the whole history."""
    ends = horizon_groups(name, freq, horizon)
    parts = tuple(
        make_mlforecast(name, freq, end, seed).fit(
            ml_frame(long, name, end), static_features=_static(name), dropna=_dropna(name)
        )
        for end in ends
    )
    return GlobalModel(name=name, ends=tuple(ends), parts=parts)


def ml_predict(
    model: GlobalModel,
    history: pd.DataFrame,
    horizon: int,
    freq: str,
    future: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Forecast `horizon` periods after `history` with a fitted global model.

    `history` is a long frame (it may be newer than the training data); `future` gives the
    known-future exogenous values (see `future_exogenous` for the rule when it does not).
    Beyond the last part's end (a longer horizon than fitted) that part goes on recursively.
    """
    ends = list(model.ends)
    forecasts = []
    for index, (end, part) in enumerate(zip(ends, model.parts, strict=True)):
        if index > 0 and ends[index - 1] >= horizon:
            break
        steps = horizon if index == len(ends) - 1 else min(end, horizon)
        result = _predict_part(part, model.name, end, history, steps, freq, future)
        forecasts.append(keep_part(result, ends, index, [UNIQUE_ID]))
    result = pd.concat(forecasts).sort_values([UNIQUE_ID, DS], kind="stable")
    result = result.reset_index(drop=True)
    result[model.name] = result[model.name].clip(lower=0.0)
    return result[[UNIQUE_ID, DS, model.name]]


def _predict_part(
    model: MLForecast,
    name: str,
    trained_for: int,
    history: pd.DataFrame,
    horizon: int,
    freq: str,
    future: pd.DataFrame | None,
) -> pd.DataFrame:
    """One MLForecast's forecast, its features built as at fit time (`trained_for` periods)."""
    frame = ml_frame(history, name, trained_for)
    exogenous = [c for c in frame.columns if c not in (UNIQUE_ID, DS, Y, *_static(name))]
    x_df = None
    if exogenous:
        raw_future = future_exogenous(history, horizon, freq, given=future)
        joined = pd.concat([history, raw_future], ignore_index=True)
        joined = ml_frame(joined.sort_values([UNIQUE_ID, DS], kind="stable"), name, trained_for)
        joined = joined.sort_values([UNIQUE_ID, DS], kind="stable")
        is_future = joined[Y].isna() & joined[DS].gt(
            joined[UNIQUE_ID].map(history.groupby(UNIQUE_ID)[DS].max())
        )
        x_df = joined.loc[is_future, [UNIQUE_ID, DS, *exogenous]].reset_index(drop=True)
    _align_categories(frame, model)
    with _missing_lags_expected():
        return pd.DataFrame(model.predict(h=horizon, new_df=frame, X_df=x_df))


def _align_categories(frame: pd.DataFrame, model: MLForecast) -> None:
    """Use the training categories, so codes mean the same SKU / location at predict time."""
    static = getattr(model.ts, "static_features_", None)
    if static is None:
        return
    for column in STATIC_FEATURES:
        if column in frame.columns and column in static.columns:
            categories = static[column].cat.categories
            frame[column] = pd.Categorical(frame[column].astype(str), categories=categories)


def min_history(freq: str, horizon: int, n_windows: int) -> int:
    """Fewest periods a series needs to take part in a backtest with these windows."""
    return horizon * n_windows + max(seasons_before(freq), math.ceil(horizon / 2))


# statsforecast's ETS fits no season longer than this (it drops the season of weekly data).
LONGEST_FITTED_SEASON: Final = 24


def seasons_before(freq: str) -> int:
    """Periods of history a series needs before it is backtested or forecast by the models.

    Two seasons where two span less than a year (days: 14), so ETS and Theta can estimate the
    season from them; one where a season is a year (months: 12, quarters: 4), SeasonalNaive's
    minimum, and ETS and Theta fit the season once a series has two (they test for it and fit
    without it before); LONGEST_FITTED_SEASON periods where no model fits the season (weeks:
    24, as ETS drops a 52-week season). Asking two years of months (or a year of weeks) before
    a 3 x 3 backtest (a 3 x 8 one) refused two years of monthly sales (a year of weekly sales)
    outright. Shorter series get SeasonalNaive's fallback (MA28) in its place, said in the
    fit's warnings, and LightGBM trains on the lags they have."""
    season = season_length(freq)
    if season > LONGEST_FITTED_SEASON:
        return LONGEST_FITTED_SEASON
    periods_a_year = 365.25 / _days_per_period(freq)
    return 2 * season if 2 * season < periods_a_year else season


def fallback_level(long: pd.DataFrame, freq: str) -> pd.Series:
    """Each series' mean over its last `moving_average_window` periods (28 days, 4 weeks, 3
    months), or over as many as it has: the fallback (`long` sorted by date in each series).

    A series younger than the window that started after the history's first period launched
    inside it: its history begins at its first sale (`trim_leading_zeros`), a period picked
    because it sold, so that sale says when the series started, not how fast it sells. Its
    level is the mean of the periods after it, and at least the sale spread over the window,
    as the moving average of the days before it, unsold, would give (so a launch that has not
    sold again since is not forecast 0, less than the day it launched). Counted in,
    a catalogue SKU that sold 2 units yesterday, once in 300 days, was forecast 2 a day (56 in
    the next 28 days) and 20 such SKUs 137 units where they sold 6."""
    window = moving_average_window(freq)
    by_series = long.groupby(UNIQUE_ID, sort=False)
    periods = by_series[Y].transform("size").to_numpy()
    opening = by_series.cumcount().to_numpy() == 0
    launched = opening & (long[DS] > long[DS].min()).to_numpy() & (long[Y] > 0).to_numpy()
    launched &= periods <= window
    recent = long[~launched].groupby(UNIQUE_ID, sort=False).tail(window)
    level = recent.groupby(UNIQUE_ID, sort=False)[Y].mean()
    ids = long[UNIQUE_ID].to_numpy()[launched]
    spread = pd.Series(long[Y].to_numpy()[launched] / window, index=ids)
    # the larger of the two where a launch has both; the spread alone where it has no other period
    return pd.concat([level, spread], axis=1).max(axis=1).fillna(0.0)


def fallback_mae(long: pd.DataFrame, horizon: int, freq: str) -> pd.Series:
    """Each series' mean absolute error of the fallback over its own history, as a backtest
    measures a model: every period forecast by the mean of the `moving_average_window`
    periods that ended 1 to `horizon` periods before it. Series with no such period are left
    out (NaN). Array arithmetic over all series at once: the service runs it at every forecast
    of series the model never saw."""
    window = moving_average_window(freq)
    ordered = long.sort_values([UNIQUE_ID, DS], kind="stable")
    ids = ordered[UNIQUE_ID].to_numpy()
    actual = ordered[Y].to_numpy(dtype="float64")
    position = ordered.groupby(UNIQUE_ID, sort=False).cumcount().to_numpy()
    running = np.concatenate([[0.0], np.cumsum(actual)])
    rows = np.arange(len(actual))
    start = np.maximum(rows + 1 - window, 0)
    level = np.where(position >= window - 1, (running[rows + 1] - running[start]) / window, np.nan)
    total = np.zeros(len(actual))
    count = np.zeros(len(actual))
    for lead in range(1, horizon + 1):
        earlier = np.where(position >= lead, level[np.maximum(rows - lead, 0)], np.nan)
        error = np.abs(actual - earlier)
        seen = np.isfinite(error)
        total += np.where(seen, error, 0.0)
        count += seen
    sums = pd.DataFrame({"total": total, "count": count}).groupby(ids, sort=False).sum()
    return (sums["total"] / sums["count"].where(sums["count"] > 0)).dropna()


def fallback_forecast(long: pd.DataFrame, horizon: int, freq: str) -> pd.DataFrame:
    """Mean of each series' last 28 days, 4 weeks or 3 months (or fewer periods) as its
    forecast: `unique_id, ds, MA28`.

    Defined for any series with one observation, so it stands in wherever a model fails.
    """
    level = fallback_level(long, freq)
    last = long.groupby(UNIQUE_ID, sort=False)[DS].max()
    offset = pd.tseries.frequencies.to_offset(freq)
    return pd.DataFrame(
        {
            UNIQUE_ID: np.repeat(last.index.to_numpy(), horizon),
            DS: [d + k * offset for d in last for k in range(1, horizon + 1)],
            FALLBACK: np.repeat(level.reindex(last.index).to_numpy(), horizon),
        }
    )
