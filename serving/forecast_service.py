"""Forecasts of the stored sales by the champion model: what `GET /v1/forecasts` and plans use.

    result = forecast_stored_sales(session, model_store, cache, ForecastQuery(horizon=28))
    result.frame         # sku, location, region, date, forecast, q0.5, q0.9, ... (units per day)
    result.model_version # the registry version that produced it

The history is the `sales` table (what planners ingested), read for the requested series only
by `serving.crud.stored_sales`, which prepares it as training did (missing days are zero sales).
Every stored series is forecast together (the global model's cross-series features need them
all), and each query filters that forecast. Forecasting takes seconds, so results are kept in a
small LRU cache keyed by the model version, the state of the sales table (newest ingest id,
ingest count) and the horizon: a new ingest or a new champion makes fresh forecasts, repeated
reads cost a lookup.
Predictions run one at a time: a fitted model is not guaranteed to be safe to share across
threads, and two requests missing the cache at once should not both spend the CPU.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import Depends, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allocation.inputs import series_outside_network
from allocation.network import Network
from forecasting.columns import (
    DATE,
    FORECAST,
    LOCATION,
    REGION,
    SKU,
    quantile_column,
    quantile_of,
)
from serving.crud import stored_sales
from serving.model_store import LoadedModel, ModelStore
from serving.models import SalesIngest, SalesRow

__all__ = [
    "ForecastCache",
    "ForecastCacheDep",
    "ForecastQuery",
    "ForecastResult",
    "NoSalesError",
    "UnknownQuantileError",
    "forecast_stored_sales",
    "get_forecast_cache",
    "read_stored_sales",
    "sales_state",
]

CACHE_SIZE = 32  # forecasts kept (each is one query's rows: a few MB at most)


class NoSalesError(LookupError):
    """The sales table holds no rows for the requested series (nothing to forecast from)."""


class UnknownQuantileError(ValueError):
    """A requested quantile level is not one the loaded model was trained for."""

    def __init__(self, missing: Sequence[float], available: Sequence[float]) -> None:
        self.missing = list(missing)
        self.available = list(available)
        super().__init__(
            f"quantile(s) {', '.join(f'{q:g}' for q in missing)} not produced by the champion "
            f"model; it forecasts {', '.join(f'{q:g}' for q in available) or 'no quantiles'} "
            "(retrain with other quantiles to get others)"
        )


@dataclass(frozen=True)
class ForecastQuery:
    """Which series, how far ahead (days) and which quantile levels (None: all the model has)."""

    horizon: int = 28
    skus: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    quantiles: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ForecastResult:
    """A forecast frame (forecast contract + `region`) and the model behind it."""

    frame: pd.DataFrame
    model_name: str
    model_version: str
    run_id: str
    quantiles: tuple[float, ...]
    history_end: dt.date  # last day of the sales history the forecast starts after
    cached: bool
    trained_horizon: int  # days the model was backtested and calibrated ahead


def horizon_note(horizon: int, trained_horizon: int) -> str | None:
    """What a forecast further ahead than its model was trained for says (None where it is
    not): the model's backtest and quantile calibration stop at its trained horizon."""
    if horizon <= trained_horizon:
        return None
    return (
        f"{horizon} days forecast by a model trained {trained_horizon} days ahead: its "
        f"quantiles past day {trained_horizon} were never measured and are likely too narrow"
    )


@dataclass
class ForecastCache:
    """LRU of full-quantile forecasts of every stored series, keyed by model version, sales
    state and horizon."""

    size: int = CACHE_SIZE
    _entries: OrderedDict[tuple[object, ...], tuple[pd.DataFrame, dt.date]] = field(
        default_factory=OrderedDict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    predict_lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[object, ...]) -> tuple[pd.DataFrame, dt.date] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple[object, ...], frame: pd.DataFrame, history_end: dt.date) -> None:
        with self._lock:
            self._entries[key] = (frame, history_end)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


_cache_lock = threading.Lock()


async def get_forecast_cache(request: Request) -> ForecastCache:
    """The app's forecast cache (`app.state.forecast_cache`, made on first use).

    `async` so FastAPI calls it on the event loop (the lock is held for an attribute read).
    """
    state = request.app.state
    with _cache_lock:
        cache: ForecastCache | None = getattr(state, "forecast_cache", None)
        if cache is None:
            cache = ForecastCache()
            state.forecast_cache = cache
    return cache


ForecastCacheDep = Annotated[ForecastCache, Depends(get_forecast_cache)]


def sales_state(session: Session) -> tuple[int, int]:
    """(newest ingest id, ingests): changes with every ingest, the only way sales are written.

    Every write of sales rows goes through `serving.crud.store_sales`, which adds an ingest
    row; reading the small ingest table keeps a cache hit far cheaper than counting sales.
    """
    newest, ingests = session.execute(
        select(func.max(SalesIngest.id), func.count(SalesIngest.id))
    ).one()
    return int(newest or 0), int(ingests)


def read_stored_sales(
    session: Session,
    skus: Sequence[str] = (),
    locations: Sequence[str] = (),
    regions: Sequence[str] = (),
) -> pd.DataFrame:
    """The stored sales of the matching series as a canonical sales frame (zero-filled days).

    Raises NoSalesError when no row matches.
    """
    wanted = list(locations)
    if regions:
        in_regions = session.scalars(
            select(SalesRow.location).where(SalesRow.region.in_(regions)).distinct()
        ).all()
        wanted = sorted(set(in_regions) & set(wanted)) if wanted else sorted(in_regions)
        if not wanted:
            raise NoSalesError(_no_sales_message(skus, locations, regions))
    sales = stored_sales(session, skus=list(skus) or None, locations=wanted or None)
    if sales.empty:
        raise NoSalesError(_no_sales_message(skus, locations, regions))
    return sales


def _no_sales_message(skus: Sequence[str], locations: Sequence[str], regions: Sequence[str]) -> str:
    filters = [
        f"{name} in {list(values)}"
        for name, values in (("sku", skus), ("location", locations), ("region", regions))
        if values
    ]
    where = f" with {' and '.join(filters)}" if filters else ""
    return f"no stored sales{where}: ingest sales with POST /v1/sales first"


def _model_quantiles(frame: pd.DataFrame) -> tuple[float, ...]:
    levels: list[float] = []
    for column in frame.columns:
        if column.startswith("q"):
            try:
                levels.append(quantile_of(column))
            except ValueError:
                continue
    return tuple(sorted(levels))


def _with_regions(forecast: pd.DataFrame, sales: pd.DataFrame) -> pd.DataFrame:
    if REGION not in sales.columns:
        forecast[REGION] = None
        return forecast
    regions = sales[[SKU, LOCATION, REGION]].drop_duplicates([SKU, LOCATION])
    return forecast.merge(regions, on=[SKU, LOCATION], how="left")


def _predict(
    store: ModelStore, cache: ForecastCache, session: Session, horizon: int
) -> tuple[pd.DataFrame, dt.date, LoadedModel, bool]:
    """The champion's forecast of every stored series, `horizon` days ahead, and the last day
    of the history.

    Every series, whatever a query asks for: the global model's cross-series features (a SKU's
    mean sales over its locations, a location's over its SKUs) are computed from the series
    predicted together, so forecasting a query's own subset changed the numbers of the series
    in it (one series read 9.4 or 10.6 by what else was asked), and a plan and a filtered read
    disagreed. Queries filter this one forecast."""
    loaded = store.current()
    key = (loaded.version, sales_state(session), horizon)
    hit = cache.get(key)
    if hit is not None:
        return hit[0], hit[1], loaded, True
    with cache.predict_lock:
        hit = cache.get(key)  # another request may have made it while this one waited
        if hit is not None:
            return hit[0], hit[1], loaded, True
        sales = read_stored_sales(session)
        session.rollback()  # done reading: hold no snapshot open while the model works
        forecast = loaded.model.predict(sales, horizon=horizon)
        frame = _with_regions(forecast.copy(), sales)
        frame[DATE] = pd.to_datetime(frame[DATE]).dt.date
        history_end = pd.Timestamp(sales[DATE].max()).date()
        cache.put(key, frame, history_end)
    return frame, history_end, loaded, False


def _matching(frame: pd.DataFrame, query: ForecastQuery) -> pd.DataFrame:
    """The rows of the series the query names (every series where it names none)."""
    keep = np.ones(len(frame), dtype=bool)
    for column, values in ((SKU, query.skus), (LOCATION, query.locations), (REGION, query.regions)):
        if values:
            keep &= frame[column].isin(values).to_numpy()
    if not keep.any():
        raise NoSalesError(_no_sales_message(query.skus, query.locations, query.regions))
    return frame[keep]


def stored_series_outside(
    session: Session, store: ModelStore, cache: ForecastCache, horizon: int, network: Network
) -> pd.DataFrame:
    """The stored series of the champion's cached forecast the network has no place for, by
    `allocation.inputs.series_outside_network` (`sku, location, why, rows, units`, sorted; the
    rule `allocate` leaves a forecast's series out by): one pass over the forecast, no copy of
    it (a plan's demand note names them)."""
    return series_outside_network(_predict(store, cache, session, horizon)[0], network)


def forecast_stored_sales(
    session: Session, store: ModelStore, cache: ForecastCache, query: ForecastQuery
) -> ForecastResult:
    """The champion's forecast of the stored sales for `query` (see the module docstring).

    Raises ModelUnavailableError (no champion), NoSalesError (nothing stored for the series),
    UnknownQuantileError (a level the model does not forecast).
    """
    everything, history_end, loaded, cached = _predict(store, cache, session, query.horizon)
    frame = _matching(everything, query)
    available = _model_quantiles(frame)
    levels = available if query.quantiles is None else tuple(query.quantiles)
    missing = [q for q in levels if not any(np.isclose(q, a) for a in available)]
    if missing:
        raise UnknownQuantileError(missing, available)
    wanted = [quantile_column(a) for a in available if any(np.isclose(a, q) for q in levels)]
    columns = [SKU, LOCATION, REGION, DATE, FORECAST, *wanted]
    return ForecastResult(
        frame=frame[columns],
        model_name=store.model_name,
        model_version=loaded.version,
        run_id=loaded.run_id,
        quantiles=tuple(quantile_of(c) for c in wanted),
        history_end=history_end,
        cached=cached,
        trained_horizon=loaded.model.config.horizon,
    )
