"""`Forecaster`: backtest every model, choose per segment, calibrate quantiles, forecast.

    forecaster = Forecaster(ForecastConfig(horizon=28)).fit(sales)
    forecast = forecaster.predict()          # the periods right after the history
    forecaster.metrics_                      # per model and level: wape, rmsse, bias, ...

`fit` runs the rolling-origin backtest of all models (`backtest_`), picks a weighted ensemble
of the best models per demand segment (`choice_`, with the reason), calibrates the quantiles on
the backtest residuals, measures everything (`metrics_`) and fits the final models. `predict`
gives the forecast contract `sku, location, date, forecast, q0.5, q0.9, q0.95`.

One bad series never sinks a run: a series too short for the backtest, or one a model cannot
forecast, gets the fallback (mean of its last 28 days, 4 weeks or 3 months) and a warning naming it
(`warnings_`, also issued as `SeriesFallbackWarning`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from forecasting.backtest import fill_missing_forecasts, run_backtest
from forecasting.calibration import (
    Calibration,
    fit_calibration,
    points_needed,
    quantile_forecasts,
)
from forecasting.columns import (
    CUTOFF,
    DATE,
    DS,
    FORECAST,
    KEY_SEP,
    LOCATION,
    PRICE,
    REGION,
    SKU,
    UNIQUE_ID,
    UNITS,
    Y,
    quantile_column,
)
from forecasting.data import period_starts
from forecasting.errors import (
    ForecastingError,
    ModelFormatError,
    NotFittedError,
    SalesValidationError,
    listed,
)
from forecasting.metrics import evaluate, quantile_name
from forecasting.models import (
    FALLBACK,
    LIGHTGBM,
    LIGHTGBM_DIRECT,
    ML_MODELS,
    STAT_MODELS,
    GlobalModel,
    exogenous_of,
    fallback_forecast,
    fallback_mae,
    from_long,
    ml_fit,
    ml_predict,
    moving_average_window,
    season_length,
    seasons_before,
    stat_forecast,
    to_long,
    trim_leading_zeros,
)
from forecasting.selection import Selection, choose, classify_series, combine

__all__ = [
    "ENSEMBLE",
    "FORMAT",
    "ForecastConfig",
    "Forecaster",
    "HorizonWarning",
    "SeriesFallbackWarning",
    "check_format",
    "choose_and_calibrate",
    "ensemble_forecast",
    "unplanned_flags",
]

ENSEMBLE = "Ensemble"
DEFAULT_MODELS = (*STAT_MODELS, LIGHTGBM, LIGHTGBM_DIRECT)
Progress = Callable[[str], None]


class SeriesFallbackWarning(UserWarning):
    """A series (or a model) fell back to the fallback forecast; the message names it."""


class HorizonWarning(UserWarning):
    """A forecast reaches past the horizon the model was backtested and calibrated on."""


# Share of the recent periods a flag must be 1 on for its absence from the forecast to be told:
# a flag that is never or hardly ever 1 moves nothing.
UNPLANNED_SHARE = 0.01


class ForecastConfig(BaseModel):
    """How to forecast. Periods are those of `freq` (days for "D", weeks for "W")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon: int = Field(default=28, ge=1, description="periods to forecast")
    freq: str = Field(default="D", description="pandas frequency of the sales frame: D, W, MS, ...")
    quantiles: tuple[float, ...] = Field(default=(0.5, 0.9, 0.95), description="quantile levels")
    n_windows: int = Field(default=3, ge=1, description="rolling-origin backtest windows")
    models: tuple[str, ...] = Field(default=DEFAULT_MODELS, description="candidate models")
    top_k: int = Field(default=3, ge=1, description="models per segment ensemble, at most")
    tolerance: float = Field(
        default=0.15, ge=0, description="ensemble members: score within this share"
    )
    segment_lookback: int | None = Field(
        default=None, ge=1, description="periods used to classify demand (default: one year)"
    )
    input_size: int | None = Field(
        default=None,
        ge=1,
        description="periods of history the local models see (default: two years)",
    )
    level: Literal["location", "region"] = Field(
        default="location",
        description="what a series is: a SKU at a location, or a SKU summed over its region",
    )
    engine: Literal["local", "dask"] = "local"
    dask_address: str | None = None
    seed: int = 0

    def backtest_periods(self) -> int:
        """Periods a series needs for the backtest (its windows and `seasons_before` them);
        shorter series get the fallback."""
        return self.horizon * self.n_windows + seasons_before(self.freq)

    def fewest_periods(self) -> int:
        """Periods the longest series needs for a fit at all: one backtest window and
        `seasons_before` it. Histories between this and `backtest_periods` are backtested on
        the windows they hold (`Forecaster._windows_that_fit`), so a check made before a fit
        (the API's retrain, simulate) refuses only what the fit would refuse."""
        return self.horizon + seasons_before(self.freq)

    def local_history(self) -> int:
        """Periods the local (statsforecast) models fit on: `input_size`, else two years, and
        at least eight seasons (months: eight years).

        Older history barely moves an ETS or Croston level but costs time in proportion. Two
        years of months are 24 points for a 12-month season: AutoETS and Theta fitted on them
        lost to the same AutoETS fitted on the whole history (weighted RMSSE 1.27 against
        1.00 on the M5 slice summed to SKU-state-months), and months cost next to nothing.
        """
        if self.input_size:
            return self.input_size
        return max(2 * _lookback_periods(self.freq), 8 * season_length(self.freq))

    @field_validator("freq")
    @classmethod
    def _days_or_longer(cls, value: str) -> str:
        """A pandas frequency of a day or more: hours zero-filled 23 empty periods a day and
        read daily sales as hourly ones."""
        from pandas.tseries.frequencies import to_offset

        try:
            offset = to_offset(value)
        except ValueError:
            raise ValueError(f"{value!r} is no pandas frequency; use D, W or MS") from None
        if isinstance(offset, pd.offsets.Tick) and offset.nanos < pd.Timedelta(days=1).value:
            raise ValueError(
                f"{value!r} is shorter than a day; sales are daily or coarser (D, W, MS)"
            )
        return value

    @field_validator("quantiles")
    @classmethod
    def _levels_inside_unit_interval(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not 0 < q < 1 for q in value):
            raise ValueError("quantiles must be levels strictly between 0 and 1, e.g. 0.9")
        return tuple(sorted(set(value)))

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("give at least one model")
        known = (*STAT_MODELS, *ML_MODELS)
        unknown = [m for m in value if m not in known]
        if unknown:
            raise ValueError(f"unknown model {unknown[0]!r}; choose from {', '.join(known)}")
        return value


def _lookback_periods(freq: str) -> int:
    """About one year of periods."""
    base = freq.split("-")[0].upper()
    return {"D": 364, "W": 52}.get(base, 12 if base in {"M", "MS", "ME"} else 4)


# The shape of a fitted Forecaster's state. A registered model is this object pickled, and the
# service unpickles it with the installed code: bump this whenever fitted attributes change shape
# (2: the direct LightGBM became a two-part model), so an older model fails at load, saying why.
FORMAT = 2


class Forecaster:
    """Backtested, segment-ensembled, calibrated SKU-location forecaster (see module doc)."""

    def __init__(self, config: ForecastConfig | None = None) -> None:
        self.config = config or ForecastConfig()
        self.format_ = FORMAT

    # --- fit ---------------------------------------------------------------------------------

    def fit(self, sales: pd.DataFrame, progress: Progress | None = None) -> Forecaster:
        """Backtest, choose, calibrate and fit on a canonical sales frame (`forecasting.data`)."""
        if self.config.engine == "dask":  # the same steps, the models on the cluster
            from forecasting.engine import dask_engine

            with dask_engine(self.config.dask_address):
                return self._fit(sales, progress)
        return self._fit(sales, progress)

    def _fit(self, sales: pd.DataFrame, progress: Progress | None) -> Forecaster:
        say = progress or (lambda _message: None)
        config = self.config
        long = _listed_history(sales)
        if long.empty or not (long["y"] > 0).any():
            raise ForecastingError(
                "every series sold nothing in the history given: there is nothing to learn a "
                "forecast from; give a history with sales"
            )
        self.warnings_: list[str] = []
        self.region_of_ = _region_of(sales)
        self.lookback_ = config.segment_lookback or _lookback_periods(config.freq)
        lengths = long.groupby(UNIQUE_ID, sort=False).size()
        config = self.config = self._windows_that_fit(config, int(lengths.max()))
        needed = config.backtest_periods()
        short = lengths.index[lengths < needed].tolist()
        if short:
            self._warn(
                f"{len(short)} series have fewer than {needed} periods from their listing "
                f"(their first sale or price; the periods before it are left out), too few for "
                f"the backtest; they get the {FALLBACK} fallback (the mean of their last "
                f"{moving_average_window(config.freq)} periods): {listed(short)}"
            )
        self.short_series_ = set(short)
        usable = long[~long[UNIQUE_ID].isin(self.short_series_)]
        if usable.empty:
            seasons = seasons_before(config.freq)
            longest = int(lengths.max())
            fix = (
                "give more history"
                if longest < seasons + 1
                else "lower --horizon or give more history"
            )
            raise ForecastingError(
                f"no series has the {needed} periods a {config.n_windows} x {config.horizon} "
                f"backtest needs ({seasons} {config.freq!r} periods before its "
                f"windows); the longest has {longest}: {fix}"
            )

        backtest = run_backtest(
            usable,
            config.models,
            config.horizon,
            config.n_windows,
            config.freq,
            config.seed,
            config.local_history(),
            progress=say,
        )
        for message in backtest.warnings:
            self._warn(message)
        self.failed_models_ = backtest.failed
        say("choosing models per segment, calibrating quantiles")
        table = backtest.table
        self.selection_, self.calibration_ = choose_and_calibrate(
            table, usable, backtest.models, config, self.lookback_
        )
        self.backtest_ = table
        residuals = int(np.isfinite(table[ENSEMBLE].to_numpy(dtype=float)).sum())
        if residuals < (needed_points := points_needed(config.quantiles)):
            # 3 residuals (1 window x 1 period x 3 series) made every quantile one number
            self._warn(
                f"the quantiles rest on {residuals} backtest errors, fewer than the "
                f"{needed_points} that q{max(config.quantiles, key=lambda q: abs(q - 0.5)):g} "
                "needs: their intervals may be far too narrow or too wide; give more series, "
                "windows (--n-windows) or a longer horizon"
            )
        say("measuring the backtest")
        self.metrics_ = evaluate(
            table,
            usable,
            [*backtest.models, ENSEMBLE],
            config.horizon,
            config.quantiles,
            region_of=self.region_of_,
            week_periods=_week_periods(config.freq),
        )
        self.segments_ = classify_series(long, self.lookback_)
        self.choice_ = self._choice_table(long)
        say("fitting the final models")
        self.history_ = long
        self.ml_models_: dict[str, GlobalModel] = {}
        for name in self.selection_.models_used():
            if name in ML_MODELS:
                self.ml_models_[name] = ml_fit(
                    usable, name, config.horizon, config.freq, config.seed
                )
        self._cache = self._forecast(long, config.horizon, None)
        return self

    def _windows_that_fit(self, config: ForecastConfig, longest: int) -> ForecastConfig:
        """`config` with as many backtest windows as the longest series holds, where it holds
        at least one but fewer than asked, and a warning saying so: 60 days of sales with a
        28-day horizon, or 18 months with 3, were refused outright where one or two windows
        backtest, choose and calibrate (on fewer errors, which the warning says)."""
        fits = (longest - seasons_before(config.freq)) // config.horizon
        if fits >= config.n_windows or fits < 1:
            return config
        self._warn(
            f"the longest series has {longest} periods: room for {fits} backtest window(s) of "
            f"{config.horizon} after the {seasons_before(config.freq)} the models need before "
            f"them, not the {config.n_windows} asked; backtested on {fits}, so the model choice "
            "and the intervals rest on fewer errors (give more history for more)"
        )
        return config.model_copy(update={"n_windows": fits})

    def _warn(self, message: str) -> None:
        self.warnings_.append(message)
        warnings.warn(message, SeriesFallbackWarning, stacklevel=3)

    def _choice_table(self, long: pd.DataFrame) -> pd.DataFrame:
        rows = []
        never_sold = set(_never_sold(long, self.lookback_))
        for unique_id in long[UNIQUE_ID].unique():
            if unique_id in never_sold:
                weights = {}
                segment, reason = "inactive", "never sold: forecast 0"
            elif unique_id in self.short_series_:
                weights = {FALLBACK: 1.0}
                segment, reason = "short", f"history too short for the backtest: {FALLBACK}"
            else:
                segment = str(self.segments_.get(unique_id, "inactive"))
                weights = self.selection_.weights(segment)
                reason = self.selection_.describe(segment)
            sku, location = unique_id.split("|", 1)
            rows.append(
                {
                    SKU: sku,
                    LOCATION: location,
                    "segment": segment,
                    "models": ", ".join(f"{m} {w:.2f}" for m, w in weights.items()),
                    "reason": reason,
                }
            )
        return pd.DataFrame(rows)

    # --- predict -----------------------------------------------------------------------------

    def predict(
        self,
        sales: pd.DataFrame | None = None,
        horizon: int | None = None,
        future: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Forecast the `horizon` periods after the history (the fitted one, or `sales`).

        `future` (canonical columns `sku, location, date` + exogenous, e.g. planned prices and
        promotions) overrides the default rule for future exogenous values: last price carried
        forward, flags 0. Returns `sku, location, date, forecast, q<τ>...` (units per period).

        The global models' cross-series features (a SKU's mean over its locations, a location's
        over its SKUs) are computed from the `sales` given: pass every series and filter the
        result, or a series' forecast changes with what else was passed.
        """
        if not hasattr(self, "history_"):
            raise NotFittedError("this Forecaster is not fitted yet; call fit(sales) first")
        h = horizon or self.config.horizon
        if h > self.config.horizon:  # said each time, not kept in warnings_ (a served model)
            warnings.warn(
                f"{h} periods asked of a model backtested {self.config.horizon} ahead: its "
                f"quantiles are calibrated on errors up to {self.config.horizon} periods out, so "
                f"further out they are likely too narrow (train with --horizon {h} to measure "
                "them)",
                HorizonWarning,
                stacklevel=2,
            )
        if sales is None and future is None and h == self.config.horizon:
            return self._cache.copy()
        long = self.history_
        if sales is not None:
            long = _with_columns_of(_listed_history(sales), self.input_columns())
            self._warn_unseen(long)
        future_long = to_long(future) if future is not None else None
        return self._forecast(long, h, future_long)

    def unplanned_note(
        self, sales: pd.DataFrame | None = None, future: pd.DataFrame | None = None
    ) -> str | None:
        """What a `predict` with these `sales` and `future` leaves out by taking the model's 0/1
        flags as 0 in every forecast period (`unplanned_flags`; None where nothing). Asked by
        `allocast forecast`, not by every `predict`: the service and the replay forecast many
        times from one history, and a note each time told them nothing new."""
        long = self.history_ if sales is None else _listed_history(sales)
        flags = [c for c in self.input_columns() if c != PRICE and c in long.columns]
        planned = set(future.columns) if future is not None else set()
        return unplanned_flags(long, [c for c in flags if c not in planned], self.lookback_)

    def _warn_unseen(self, long: pd.DataFrame) -> None:
        """Say (each time, not kept in warnings_) which series the model never saw: their
        forecasts rest on other series, and their quantiles on the calibration of the series it
        was trained on, which may be of another kind (a model of slow movers gave a fast one a
        median of 0.8 for a mean of 12.5)."""
        unseen = sorted(set(long[UNIQUE_ID].unique()) - set(self.history_[UNIQUE_ID].unique()))
        if unseen:
            warnings.warn(
                f"{len(unseen)} series were not in the history this model was trained on: "
                f"their forecasts and quantiles rest on what it learned from other series "
                f"(retrain with them to measure their own): {listed(unseen)}",
                SeriesFallbackWarning,
                stacklevel=3,
            )

    def input_columns(self) -> list[str]:
        """The columns beside `sku, location, date, units` that `predict(sales=...)` reads: the
        global models' known-future features (price, 0/1 flags); the statistical models read
        the sales alone."""
        return exogenous_of(self.history_) if self.ml_models_ else []

    def _forecast(
        self, long: pd.DataFrame, horizon: int, future: pd.DataFrame | None
    ) -> pd.DataFrame:
        config = self.config
        lengths = long.groupby(UNIQUE_ID, sort=False).size()
        too_short = lengths.index[lengths < seasons_before(config.freq)].tolist()
        fresh_short = [s for s in too_short if s not in self.short_series_]
        if fresh_short:
            self._warn(f"series too short to forecast, {FALLBACK} used: {listed(fresh_short)}")
        excluded = self.short_series_ | set(too_short)
        usable = long[~long[UNIQUE_ID].isin(excluded)]
        frame = fallback_forecast(long, horizon, config.freq)
        used = self.selection_.models_used()
        stat_names = [m for m in STAT_MODELS if m in used and m != FALLBACK]
        if stat_names and not usable.empty:
            stats = stat_forecast(usable, stat_names, horizon, config.freq, config.local_history())
            frame = frame.merge(stats, on=[UNIQUE_ID, DS], how="left")
        for model in self.ml_models_.values():
            if usable.empty:
                continue
            predicted = ml_predict(model, usable, horizon, config.freq, future)
            frame = frame.merge(predicted, on=[UNIQUE_ID, DS], how="left")
        models = [m for m in used if m in frame.columns]
        short = frame[UNIQUE_ID].isin(excluded).to_numpy()
        for name in models:  # on the fallback already, and said so once: not once per model
            frame.loc[short, name] = frame.loc[short, FALLBACK]
        for message in fill_missing_forecasts(frame, models, FALLBACK, what="forecast"):
            self._warn(message)
        frame = ensemble_forecast(
            frame, long, self.selection_, self.calibration_, self.lookback_, config.freq, excluded
        )
        quantiles = self.calibration_.levels
        outputs = [FORECAST, *map(quantile_column, quantiles)]
        # A series that never sold in a year's history forecasts zero: the global model,
        # learning from the other series, gave one that sold nothing in 456 days 3.4 a day.
        frame.loc[frame[UNIQUE_ID].isin(_never_sold(long, self.lookback_)), outputs] = 0.0
        result = from_long(frame[[UNIQUE_ID, DS, *outputs]])
        result[DATE] = period_starts(result[DATE], config.freq)
        return result.sort_values([SKU, LOCATION, DATE], kind="stable").reset_index(drop=True)


def choose_and_calibrate(
    table: pd.DataFrame,
    history: pd.DataFrame,
    models: list[str],
    config: ForecastConfig,
    lookback: int,
) -> tuple[Selection, Calibration]:
    """Choose the per-segment ensemble and calibrate its quantiles on a backtest table.

    Segments come from the history before the first backtest cutoff, so the choice is made
    with what was known then. Adds the `Ensemble` column and its quantile columns to `table`.
    """
    first_cutoff = table[CUTOFF].min()
    segments = classify_series(history[history[DS] <= first_cutoff], lookback)
    selection = choose(
        table,
        history,
        models,
        segments,
        config.horizon,
        top_k=config.top_k,
        tolerance=config.tolerance,
        fallback=FALLBACK,
    )
    table[ENSEMBLE] = combine(table, segments, selection)
    calibration = fit_calibration(table, ENSEMBLE, segments, config.quantiles)
    for level, values in quantile_forecasts(table, ENSEMBLE, segments, calibration).items():
        table[quantile_name(ENSEMBLE, level)] = values
    return selection, calibration


def ensemble_forecast(
    frame: pd.DataFrame,
    history: pd.DataFrame,
    selection: Selection,
    calibration: Calibration,
    lookback: int,
    freq: str,
    excluded: set[str] | frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """Add `forecast` and the quantile columns to a frame of model forecasts.

    `frame` holds `unique_id, ds`, the fallback column and the chosen models' columns; series in
    `excluded` (too short) and rows no chosen model could forecast get the fallback. A series
    the backtest never saw has its interval scaled by the fallback's error over its own
    `history` too (`fallback_mae`, over the frame's horizon).
    """
    segments = classify_series(history, lookback)
    segment_of = {str(uid): str(seg) for uid, seg in segments.items()}
    combined = combine(frame, segment_of, selection)
    in_short = frame[UNIQUE_ID].isin(excluded).to_numpy()
    point = np.where(in_short | ~np.isfinite(combined), frame[FALLBACK], combined)
    frame[FORECAST] = np.maximum(point, 0.0)
    unseen = history[~history[UNIQUE_ID].isin(calibration.mae.index)]
    horizon = int(frame.groupby(UNIQUE_ID, sort=False).size().max()) if len(frame) else 1
    own_mae = fallback_mae(unseen, horizon, freq) if len(unseen) else None
    for level, values in quantile_forecasts(
        frame, FORECAST, segment_of, calibration, own_mae
    ).items():
        frame[quantile_column(level)] = values
    return frame


def unplanned_flags(long: pd.DataFrame, flags: list[str], lookback: int) -> str | None:
    """What a forecast that takes `flags` as 0 in every period leaves out, in words (None where
    each was 1 on fewer than UNPLANNED_SHARE of the last `lookback` periods of `long`).

    Without planned values a flag is 0 in the future (`future_exogenous`), but the backtest
    read its real values in the test windows: on daily sales promoted on 8 % of the days
    (2.5 times the sales) the backtest measured a bias of -2 % and 97 % of the sales under
    q0.95, the forecast of the next week erred by -15 % with 87 % under it, and nothing said
    why."""
    recent = long.groupby(UNIQUE_ID, sort=False).tail(lookback)
    sold = float(recent[Y].sum())
    left_out = {}
    for flag in flags:
        on = recent[flag].fillna(0.0).to_numpy() == 1.0
        if on.mean() >= UNPLANNED_SHARE:
            units = float(recent.loc[on, Y].sum()) / sold if sold > 0 else 0.0
            left_out[flag] = (
                f"{flag} was 1 on {on.mean():.1%} of them, which sold {units:.1%} of the units"
            )
    if not left_out:
        return None
    return (
        f"{' and '.join(left_out)} taken as 0 in every forecast period (no planned values were "
        f"given), where in the last {lookback} periods of the history "
        f"{'; '.join(left_out.values())}: this forecast leaves them out, and the "
        "backtest, which knew them, measured one that did not; add their lift where they are "
        "planned, or give the planned values (Forecaster.predict(future=))"
    )


def _never_sold(long: pd.DataFrame, periods: int) -> list[str]:
    """Series of a long frame with `periods` or more of history and not a single sale in it
    (a shorter one, a SKU listed last week or a slow seller's last month given alone, may yet
    sell: its models decide)."""
    history = long.groupby(UNIQUE_ID, sort=False)[Y].agg(["max", "size"])
    return history.index[(history["max"] <= 0) & (history["size"] >= periods)].tolist()


def _listed_history(sales: pd.DataFrame) -> pd.DataFrame:
    """A canonical sales frame, checked, as the long frame the models read: each series from
    its listing (`trim_leading_zeros`)."""
    return trim_leading_zeros(to_long(_checked(sales)))


def _checked(sales: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in (SKU, LOCATION, DATE, UNITS) if c not in sales.columns]
    if missing:
        raise SalesValidationError(
            f"sales frame lacks column {missing[0]!r}; load it with forecasting.data.load_sales "
            "or prepare_sales first",
            source="<frame>",
            column=missing[0],
        )
    if sales.empty:
        raise SalesValidationError("the sales frame is empty", source="<frame>")
    ends = pd.to_datetime(sales[DATE]).groupby([sales[SKU], sales[LOCATION]]).max()
    if ends.nunique() > 1:
        # each series' forecast starts after its own last row: a series whose missing last
        # days mean "sold nothing" would be forecast for days that have passed
        sku, location = ends.index[int(np.argmin(ends.to_numpy()))]
        raise SalesValidationError(
            f"sales frame: the series end on different days ({sku} at {location} on "
            f"{ends.min().date()}, the last on {ends.max().date()}); prepare it with "
            "forecasting.data.prepare_sales, which fills each series' missing days with zeros",
            source="<frame>",
            column=DATE,
        )
    return sales


def _with_columns_of(long: pd.DataFrame, fitted: list[str]) -> pd.DataFrame:
    """`long` with the exogenous columns the forecaster was fitted on, in their fitted order.

    The global models read their features by position: `price` before `snap` in one file and
    after it in another changed forecasts without a word (23.3 against 17.6 units a day). A
    column it was not fitted on cannot be used and is left out; one it needs is an error.
    """
    missing = [c for c in fitted if c not in long.columns]
    if missing:
        present = exogenous_of(long)
        raise SalesValidationError(
            f"sales frame: the forecaster was fitted with the columns {fitted} beside the sales "
            f"and needs them to forecast; missing {missing}"
            + (f" (given: {present})" if present else "")
            + ": map them with --map, or forecast with a model fitted on these columns",
            source="<frame>",
            column=missing[0],
        )
    return long[[UNIQUE_ID, DS, Y, *fitted]]


def _region_of(sales: pd.DataFrame) -> dict[str, str]:
    """unique_id -> region (the location itself where no region is given)."""
    keys = sales.drop_duplicates([SKU, LOCATION])
    region = keys[REGION] if REGION in keys.columns else keys[LOCATION]
    ids = keys[SKU].astype(str) + KEY_SEP + keys[LOCATION].astype(str)
    return dict(zip(ids, region.astype(str), strict=True))


def _week_periods(freq: str) -> int | None:
    base = freq.split("-")[0].upper()
    return 7 if base == "D" else 1 if base == "W" else None


def backtest_summary(forecaster: Forecaster) -> pd.DataFrame:
    """The metrics table with the chosen ensemble first (for printing)."""
    metrics = forecaster.metrics_
    order = {ENSEMBLE: 0}
    return metrics.sort_values(
        ["level", "model"], key=lambda s: s.map(order).fillna(1) if s.name == "model" else s
    ).reset_index(drop=True)


def trained_level(config: ForecastConfig) -> Literal["location", "region"]:
    """The level a forecaster's series were trained at (forecasters pickled before the config
    recorded it were trained at location level: region level came with it)."""
    return config.__dict__.get("level", "location")


def check_format(forecaster: Forecaster, name: str) -> Forecaster:
    """`forecaster` if this code can run it, else ModelFormatError naming `name` and the fix."""
    found = getattr(forecaster, "format_", 1)  # format 1 predates the stamp
    if found != FORMAT:
        raise ModelFormatError(
            f"{name} holds a forecaster of format {found}, this allocast runs format {FORMAT}: "
            "retrain it (`allocast train`, or POST /v1/models/retrain) or forecast with the "
            "allocast release that trained it"
        )
    return forecaster
