"""The model store against a real MLflow registry holding real trained models."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from forecasting.data import prepare_sales
from forecasting.forecaster import ForecastConfig
from forecasting.sample import SampleSpec, generate_sales
from forecasting.tracking import load_model, promote, train_and_register
from serving.model_store import ForecastModel, ModelStore, ModelUnavailableError
from tests.serving.registry import QUANTILES_V1, Registry, registry_copy


@pytest.fixture
def registry(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Registry:
    return registry_copy(tmp_path_factory, tmp_path / "mlflow.db")


class CountingLoader:
    """The real loader (forecasting.tracking.load_model), counting the loads per version."""

    def __init__(self) -> None:
        self.loads: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, tracking_uri: str, model_name: str, version: str) -> ForecastModel:
        model = load_model(tracking_uri=tracking_uri, model_name=model_name, alias=version)
        with self._lock:
            self.loads.append(str(model.version))
        return model


def test_refresh_loads_the_champion_and_it_forecasts(registry: Registry) -> None:
    store = ModelStore(registry.tracking_uri, registry.model_name)
    status = store.refresh()
    assert status.loaded and status.version == "1" and status.champion_version == "1"
    assert status.error is None
    loaded = store.current()
    assert loaded.version == "1" and loaded.run_id
    forecast = loaded.model.predict(registry.sales, horizon=5)
    assert len(forecast) == 9 * 5  # 3 SKUs x 3 locations x 5 days
    assert {"sku", "location", "date", "forecast", *(f"q{q:g}" for q in QUANTILES_V1)} <= set(
        forecast.columns
    )
    assert pd.to_datetime(forecast["date"]).min() > registry.sales["date"].max()


def test_without_a_registered_model_it_says_so(registry: Registry) -> None:
    store = ModelStore(registry.tracking_uri, "nobody-trained-me")
    status = store.refresh()
    assert not status.loaded and status.version is None
    assert status.error is not None and "no 'champion' version" in status.error
    with pytest.raises(ModelUnavailableError, match="nobody-trained-me"):
        store.current()


def test_a_promotion_is_picked_up_on_the_next_due_check(registry: Registry) -> None:
    store = ModelStore(registry.tracking_uri, registry.model_name, check_interval=0.0)
    assert store.current().version == "1"
    promote(registry.tracking_uri, registry.model_name, "2")
    assert store.current().version == "2"  # no restart, no explicit refresh
    forecast = store.current().model.predict(registry.sales, horizon=3)
    assert "q0.8" in forecast.columns and "q0.95" not in forecast.columns


def test_between_checks_the_loaded_model_is_kept_until_refresh(registry: Registry) -> None:
    store = ModelStore(registry.tracking_uri, registry.model_name, check_interval=3600.0)
    assert store.current().version == "1"
    promote(registry.tracking_uri, registry.model_name, "2")
    assert store.current().version == "1"  # the interval has not run out
    assert store.refresh().version == "2"  # what the promote route does
    assert store.current().version == "2"


def test_concurrent_readers_during_a_promotion_load_each_version_once(registry: Registry) -> None:
    loader = CountingLoader()
    store = ModelStore(
        registry.tracking_uri, registry.model_name, check_interval=0.0, loader=loader
    )
    assert store.refresh().version == "1"
    seen: list[str] = []
    failures: list[BaseException] = []
    start = threading.Barrier(9)

    def read() -> None:
        start.wait()
        try:
            for _ in range(20):
                seen.append(store.current().version)
        except BaseException as error:  # collected and asserted on below
            failures.append(error)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    start.wait()
    promote(registry.tracking_uri, registry.model_name, "2")
    for thread in threads:
        thread.join()
    assert not failures
    assert set(seen) <= {"1", "2"} and len(seen) == 160
    assert store.current().version == "2"
    assert sorted(loader.loads) == ["1", "2"]  # never loaded twice, never half-loaded


def test_a_failed_load_keeps_serving_the_previous_version(registry: Registry) -> None:
    store = ModelStore(registry.tracking_uri, registry.model_name)
    assert store.refresh().version == "1"
    client = MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri)
    broken = client.create_model_version(
        registry.model_name, source=str(Path(registry.tracking_uri[10:]).parent / "missing")
    )
    client.set_registered_model_alias(registry.model_name, "champion", broken.version)
    status = store.refresh()
    assert status.version == "1" and status.loaded
    assert status.champion_version == str(broken.version)
    assert status.error is not None and f"version {broken.version}" in status.error
    assert store.current().version == "1"


def test_status_checks_in_the_background_so_ready_follows_the_registry(
    registry: Registry,
) -> None:
    client = MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri)
    client.delete_registered_model_alias(registry.model_name, "champion")
    store = ModelStore(registry.tracking_uri, registry.model_name, check_interval=0.0)
    assert not store.refresh().loaded
    promote(registry.tracking_uri, registry.model_name, "1")  # e.g. a retrain in the worker
    deadline = time.monotonic() + 60
    while not store.status().loaded:  # what /ready calls; it never waits for the load
        assert time.monotonic() < deadline, store.status()
        time.sleep(0.05)
    assert store.status().version == "1"


def test_a_champion_of_other_periods_than_days_is_refused_at_load(registry: Registry) -> None:
    store = ModelStore(registry.tracking_uri, registry.model_name)
    assert store.refresh().version == "1"
    daily = generate_sales(SampleSpec(days=800))  # weekly models need two years and more
    daily = daily[(daily["sku"] == "SKU-001") & (daily["location"] == "FW-N1")]
    weekly = prepare_sales(daily, freq="W")
    config = ForecastConfig(freq="W", horizon=2, n_windows=1, models=("MA28",))
    trained = train_and_register(weekly, config, registry.tracking_uri, registry.model_name)
    promote(registry.tracking_uri, registry.model_name, trained.version)
    status = store.refresh()
    # its forecasts of the daily stored sales would be weeks' worth a day
    assert status.version == "1" and status.champion_version == trained.version
    assert status.error is not None and "forecasts 'W' periods" in status.error
    assert store.current().version == "1"


def test_a_champion_of_region_totals_is_refused_at_load(registry: Registry) -> None:
    store = ModelStore(registry.tracking_uri, registry.model_name)
    assert store.refresh().version == "1"
    daily = generate_sales(SampleSpec(days=120))
    regional = prepare_sales(daily[daily["sku"] == "SKU-001"], level="region")
    config = ForecastConfig(horizon=7, n_windows=1, models=("MA28",), level="region")
    trained = train_and_register(regional, config, registry.tracking_uri, registry.model_name)
    assert not trained.promoted, trained.gate  # not comparable with a location champion
    promote(registry.tracking_uri, registry.model_name, trained.version)
    status = store.refresh()
    # fed one location's stored sales, it would forecast its region's demand there
    assert status.version == "1" and status.champion_version == trained.version
    assert status.error is not None and "forecasts region totals" in status.error
    assert store.current().version == "1"


def test_a_champion_that_reads_a_column_the_service_does_not_store_is_refused_at_load(
    registry: Registry,
) -> None:
    store = ModelStore(registry.tracking_uri, registry.model_name)
    assert store.refresh().version == "1"
    daily = generate_sales(SampleSpec(days=120))
    daily = daily[daily["sku"].isin(["SKU-001", "SKU-002"])]
    flagged = prepare_sales(daily.assign(holiday=(daily["date"].dt.dayofweek == 6).astype(int)))
    config = ForecastConfig(horizon=7, n_windows=1, models=("LightGBM",))
    trained = train_and_register(flagged, config, registry.tracking_uri, registry.model_name)
    assert "holiday" in trained.forecaster.input_columns()
    promote(registry.tracking_uri, registry.model_name, trained.version)
    status = store.refresh()
    # /ready said ready, and every GET /v1/forecasts was a 422 about a column no client sends
    assert status.version == "1" and status.champion_version == trained.version
    assert status.error is not None and "reads column(s) holiday" in status.error
    assert store.current().version == "1"
