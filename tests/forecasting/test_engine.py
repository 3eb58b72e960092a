"""The Dask engine gives the local engine's forecasts (statsforecast, mlforecast via fugue)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dask.distributed import get_task_stream

from forecasting import engine, models
from forecasting.columns import CUTOFF, DATE, DS, LOCATION, SKU, UNIQUE_ID
from forecasting.data import load_sales
from forecasting.errors import ForecastingError
from forecasting.forecaster import ForecastConfig, Forecaster
from forecasting.metrics import wape

pytestmark = pytest.mark.slow  # a LocalCluster takes ~10 s to start on two busy cores

STAT = ["SeasonalNaive", "MA28", "AutoETS", "TSB"]


@pytest.fixture(scope="module")
def sales(repo_root: Path) -> pd.DataFrame:
    """Six series of the repository's sample, the last eight months (daily)."""
    frame = load_sales(repo_root / "data" / "samples" / "sales.parquet")
    keep = (
        frame[SKU].isin(["SKU-001", "SKU-003", "SKU-007"])
        & frame[LOCATION].isin(["D-N1", "FW-E1"])
        & (frame[DATE] >= "2025-05-01")
    )
    return frame[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def long(sales: pd.DataFrame) -> pd.DataFrame:
    return models.to_long(sales)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with engine.dask_engine(n_workers=2) as dask_client:
        yield dask_client


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def test_stat_backtest_on_dask_equals_local(client: Any, long: pd.DataFrame) -> None:
    keys = [UNIQUE_ID, CUTOFF, DS]
    local = _sorted(models.stat_cross_validation(long, STAT, 7, 2, "D"), keys)
    on_dask = _sorted(engine.stat_cross_validation(long, STAT, 7, 2, "D"), keys)
    pd.testing.assert_frame_equal(on_dask[keys], local[keys])
    np.testing.assert_allclose(on_dask[STAT], local[STAT], rtol=1e-5, atol=1e-6)


def test_stat_forecast_on_dask_equals_local(client: Any, long: pd.DataFrame) -> None:
    keys = [UNIQUE_ID, DS]
    local = _sorted(models.stat_forecast(long, STAT, 14, "D"), keys)
    on_dask = _sorted(engine.stat_forecast(long, STAT, 14, "D"), keys)
    pd.testing.assert_frame_equal(on_dask[keys], local[keys])
    np.testing.assert_allclose(on_dask[STAT], local[STAT], rtol=1e-5, atol=1e-6)


def test_lightgbm_backtest_on_dask_covers_the_same_windows(client: Any, long: pd.DataFrame) -> None:
    keys = [UNIQUE_ID, CUTOFF, DS]
    local = _sorted(models.ml_cross_validation(long, models.LIGHTGBM, 7, 2, "D", 0), keys)
    on_dask = _sorted(engine.ml_cross_validation(long, models.LIGHTGBM, 7, 2, "D", 0), keys)
    pd.testing.assert_frame_equal(on_dask[[*keys, "y"]], local[[*keys, "y"]])
    values = on_dask[models.LIGHTGBM].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all()
    # lightgbm.dask trains across workers with integer-coded categories: close, not identical
    y = local["y"].to_numpy()
    assert wape(y, values) < 1.5 * wape(y, local[models.LIGHTGBM].to_numpy())


def test_forecaster_on_dask_forecasts_like_local(client: Any, sales: pd.DataFrame) -> None:
    config = ForecastConfig(horizon=7, n_windows=2, models=tuple(STAT))
    local = Forecaster(config).fit(sales).predict()
    with get_task_stream(client) as tasks:  # proof that the work went to the cluster
        on_dask = Forecaster(config.model_copy(update={"engine": "dask"})).fit(sales).predict()
    assert len(tasks.data) > 0
    key = [SKU, LOCATION, DATE]
    pd.testing.assert_frame_equal(on_dask[key], local[key])
    numbers = [c for c in local.columns if c not in key]
    np.testing.assert_allclose(on_dask[numbers], local[numbers], rtol=1e-4, atol=1e-6)


def test_unreachable_scheduler_is_a_clear_error() -> None:
    with (
        pytest.raises(
            ForecastingError, match=r"cannot start the Dask engine on tcp://127\.0\.0\.1:9"
        ),
        engine.dask_engine("tcp://127.0.0.1:9", connect_timeout=2),
    ):
        pass


def test_forecaster_on_dask_backtests_the_same_models_as_local(
    client: Any, sales: pd.DataFrame
) -> None:
    ml = [models.LIGHTGBM, models.LIGHTGBM_DIRECT]
    config = ForecastConfig(horizon=7, n_windows=2, models=("MA28", *ml))
    local = Forecaster(config).fit(sales)
    on_dask = Forecaster(config.model_copy(update={"engine": "dask"})).fit(sales)
    assert on_dask.failed_models_ == local.failed_models_ == {}
    assert set(on_dask.metrics_["model"]) == set(local.metrics_["model"]) >= set(ml)
    for name in ml:
        values = on_dask.backtest_[name].to_numpy()
        assert np.isfinite(values).all() and (values >= 0).all()
