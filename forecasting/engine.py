"""Scale-out on Dask: statsforecast and mlforecast run through their fugue / distributed support.

    with dask_engine("tcp://scheduler:8786"):     # or dask_engine() for a LocalCluster
        Forecaster(ForecastConfig(engine="dask")).fit(sales)

Inside `dask_engine` the model functions of `forecasting.models` hand their work to the cluster:

- local models (statsforecast): the long frame becomes a Dask DataFrame and `StatsForecast`
  fits each series where its partition lives (fugue partitions by `unique_id`). The models are
  the very same objects, so the forecasts equal the local engine's (to float rounding).
- the global model's backtest (mlforecast): `DistributedMLForecast` builds the lag features per
  partition and trains LightGBM with `lightgbm.dask` across the workers, once per window. Arrow,
  which fugue moves frames with, has no pandas categoricals, so the SKU / location categories
  travel as integer codes (LightGBM then splits them as ordered numbers, a small difference
  from the local engine's categorical splits). The final global model is fitted locally: it is
  one fit, and a local LightGBM is what the registered model carries.

No engine of our own: the cluster, the partitioning and the shuffles are Dask's and fugue's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import pandas as pd

from forecasting.columns import CUTOFF, DS, UNIQUE_ID, Y
from forecasting.errors import ForecastingError

__all__ = [
    "active_client",
    "dask_engine",
    "ml_cross_validation",
    "stat_cross_validation",
    "stat_forecast",
]

_CLIENT: ContextVar[Any | None] = ContextVar("allocast_dask_client", default=None)


def active_client() -> Any | None:
    """The Dask client of the enclosing `dask_engine`, or None (run locally)."""
    return _CLIENT.get()


def _local_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@contextmanager
def dask_engine(
    address: str | None = None, n_workers: int | None = None, connect_timeout: float = 20.0
) -> Iterator[Any]:
    """Run the model functions on Dask: the scheduler at `address`, else a LocalCluster.

    The LocalCluster has `n_workers` single-threaded worker processes (default: the CPUs, at
    most 4) and no dashboard; it is closed on exit. Nested use reuses the outer client
    (unless another address is given).
    `connect_timeout` is in seconds.
    """
    current = active_client()
    if current is not None and address in (None, current.scheduler.address):
        yield current
        return
    from dask.distributed import Client, LocalCluster

    cluster = None
    try:
        if address:
            client = Client(address, timeout=f"{connect_timeout}s")
        else:
            cluster = LocalCluster(
                n_workers=n_workers or _local_workers(),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            client = Client(cluster)
    except (OSError, TimeoutError) as error:
        where = address or "a LocalCluster"
        raise ForecastingError(f"cannot start the Dask engine on {where}: {error}") from error
    token = _CLIENT.set(client)
    try:
        yield client
    finally:
        _CLIENT.reset(token)
        client.close()
        if cluster is not None:
            cluster.close()


def _partitions(client: Any) -> int:
    workers = len(client.scheduler_info().get("workers", {})) or 1
    return max(1, workers)


def to_dask(frame: pd.DataFrame, client: Any) -> Any:
    """A Dask DataFrame of a long frame, about one partition per worker."""
    import dask.dataframe as dd

    ordered = frame.sort_values([UNIQUE_ID, DS], kind="stable").reset_index(drop=True)
    return dd.from_pandas(ordered, npartitions=min(_partitions(client), len(ordered) or 1))


def _collect(result: Any, keys: Sequence[str]) -> pd.DataFrame:
    frame = result.compute() if hasattr(result, "compute") else result
    frame = pd.DataFrame(frame)
    frame[UNIQUE_ID] = frame[UNIQUE_ID].astype(str)
    for column in frame.columns:  # Arrow round trips may hand values back as objects
        if column in (DS, CUTOFF):
            frame[column] = pd.to_datetime(frame[column])
        elif column != UNIQUE_ID:
            frame[column] = frame[column].astype("float64")
    return frame.sort_values(list(keys), kind="stable").reset_index(drop=True)


# --- statsforecast ---------------------------------------------------------------------------


def stat_cross_validation(
    long: pd.DataFrame,
    names: Sequence[str],
    horizon: int,
    n_windows: int,
    freq: str,
    input_size: int | None = None,
) -> pd.DataFrame:
    """`forecasting.models.stat_cross_validation` on the active Dask client."""
    from forecasting.models import _stats

    client = _require_client()
    result = _stats(names, freq).cross_validation(
        h=horizon,
        df=to_dask(long[[UNIQUE_ID, DS, Y]], client),
        n_windows=n_windows,
        step_size=horizon,
        input_size=input_size,
    )
    frame = _collect(result, [UNIQUE_ID, CUTOFF, DS])
    return frame[[UNIQUE_ID, DS, CUTOFF, Y, *names]]


def stat_forecast(
    long: pd.DataFrame,
    names: Sequence[str],
    horizon: int,
    freq: str,
    input_size: int | None = None,
) -> pd.DataFrame:
    """`forecasting.models.stat_forecast` on the active Dask client."""
    from forecasting.models import _stats

    client = _require_client()
    history = long[[UNIQUE_ID, DS, Y]]
    if input_size is not None:
        history = history.groupby(UNIQUE_ID, sort=False).tail(input_size)
    result = _stats(names, freq).forecast(h=horizon, df=to_dask(history, client))
    frame = _collect(result, [UNIQUE_ID, DS])
    return frame[[UNIQUE_ID, DS, *names]]


# --- mlforecast ------------------------------------------------------------------------------


def _codes(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as integer codes (fugue moves frames as Arrow, without categoricals)."""
    coded = frame.copy()
    for column in coded.columns:
        if isinstance(coded[column].dtype, pd.CategoricalDtype):
            coded[column] = coded[column].cat.codes.astype("int32")
    return coded


def ml_cross_validation(
    long: pd.DataFrame,
    name: str,
    horizon: int,
    n_windows: int,
    freq: str,
    seed: int,
) -> pd.DataFrame:
    """`forecasting.models.ml_cross_validation` with mlforecast's `DistributedMLForecast`."""
    from forecasting.models import horizon_groups, keep_part

    ends = horizon_groups(name, freq, horizon)
    parts = [
        keep_part(
            _distributed_cv(long, name, horizon, end, n_windows, freq, seed),
            ends,
            index,
            [UNIQUE_ID, CUTOFF],
        )
        for index, end in enumerate(ends)
    ]
    table = pd.concat(parts).sort_values([UNIQUE_ID, CUTOFF, DS], kind="stable")
    table = table.reset_index(drop=True)
    table[name] = table[name].astype("float64").clip(lower=0.0)
    return table[[UNIQUE_ID, DS, CUTOFF, Y, name]]


def _distributed_cv(
    long: pd.DataFrame, name: str, horizon: int, end: int, n_windows: int, freq: str, seed: int
) -> pd.DataFrame:
    """One part's (features for step `end`) rolling-origin forecasts of `horizon` periods."""
    from mlforecast.distributed import DistributedMLForecast
    from mlforecast.distributed.models.dask.lgb import DaskLGBMForecast

    from forecasting.models import _dropna, _static, make_lightgbm, make_mlforecast, ml_frame

    client = _require_client()
    template = make_mlforecast(name, freq, end, seed).ts  # the local model's features
    regressor = DaskLGBMForecast(**make_lightgbm(name, seed).get_params())
    distributed = DistributedMLForecast(
        models={name: regressor},
        freq=freq,
        lags=template.lags,
        lag_transforms=template.lag_transforms,
        date_features=template.date_features,
        num_threads=1,
    )
    frame = _codes(ml_frame(long, name, end))
    result = distributed.cross_validation(
        df=to_dask(frame, client),
        n_windows=n_windows,
        h=horizon,
        step_size=horizon,
        static_features=_static(name),
        dropna=_dropna(name),
    )
    return _collect(result, [UNIQUE_ID, CUTOFF, DS])


def _require_client() -> Any:
    client = active_client()
    if client is None:
        raise ForecastingError("no Dask engine is active; wrap the call in dask_engine()")
    return client
