"""MLflow round trip: log, register, load by alias, same forecasts; the champion gate both ways."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from mlflow import MlflowClient

from forecasting import forecaster as forecaster_module
from forecasting import tracking
from forecasting.columns import DATE, LOCATION, SKU, UNITS
from forecasting.data import load_sales, prepare_sales
from forecasting.errors import ForecastingError, ModelFormatError
from forecasting.forecaster import ForecastConfig, trained_level

SKUS = ["SKU-001", "SKU-002", "SKU-007"]  # a fast, a medium and an intermittent seller
LOCATIONS = ["D-N1", "FW-E1"]
CONFIG = ForecastConfig(
    horizon=7, n_windows=2, models=("SeasonalNaive", "MA28", "AutoETS", "LightGBM")
)


@pytest.fixture(scope="module")
def small_sales(repo_root: Path) -> pd.DataFrame:
    """Six series of the repository's sample, the last eight months (daily)."""
    sales = load_sales(repo_root / "data" / "samples" / "sales.parquet")
    keep = sales[SKU].isin(SKUS) & sales[LOCATION].isin(LOCATIONS) & (sales[DATE] >= "2025-05-01")
    return sales[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def first(small_sales: pd.DataFrame, store: str) -> tracking.TrainOutcome:
    return tracking.train_and_register(small_sales, CONFIG, store, source="sample subset")


# --- pure parts ----------------------------------------------------------------------------------


def test_gate_promotes_the_first_version() -> None:
    promoted, reason = tracking.gate_decision(0.8, None)
    assert promoted
    assert "no champion" in reason


def test_gate_promotes_only_a_strictly_better_version() -> None:
    assert tracking.gate_decision(0.7, 0.8)[0]
    assert not tracking.gate_decision(0.8, 0.8)[0]
    assert not tracking.gate_decision(0.9, 0.8)[0]
    assert not tracking.gate_decision(math.nan, 0.8)[0]
    assert tracking.gate_decision(0.9, math.inf)[0]  # a champion without the metric


def test_fingerprint_ignores_row_order_and_sees_a_changed_value(
    small_sales: pd.DataFrame,
) -> None:
    shuffled = small_sales.sample(frac=1.0, random_state=1)
    assert tracking.data_fingerprint(shuffled) == tracking.data_fingerprint(small_sales)
    changed = small_sales.copy()
    changed.loc[3, "units"] += 1
    assert tracking.data_fingerprint(changed) != tracking.data_fingerprint(small_sales)


def test_default_store_is_sqlite_under_allocast() -> None:
    assert tracking.default_tracking_uri() == "sqlite:///.allocast/mlflow.db"


# --- the round trip ------------------------------------------------------------------------------


@pytest.mark.slow
def test_first_version_is_champion_and_challenger(first: tracking.TrainOutcome, store: str) -> None:
    assert first.version == "1"
    assert first.promoted
    versions = tracking.list_versions(store, tracking.DEFAULT_MODEL_NAME)
    assert [v.version for v in versions] == ["1"]
    assert versions[0].aliases == ["challenger", "champion"]
    assert versions[0].run_id == first.run_id
    assert versions[0].metrics[tracking.GATE_METRIC] == pytest.approx(
        first.metrics[tracking.GATE_METRIC]
    )


@pytest.mark.slow
def test_run_logs_params_fingerprint_metrics_and_artifacts(
    first: tracking.TrainOutcome, small_sales: pd.DataFrame, store: str
) -> None:
    client = MlflowClient(tracking_uri=store)
    run = client.get_run(first.run_id)
    assert run.data.params["horizon"] == "7"
    assert run.data.params["data.series"] == "6"
    assert run.data.tags["data.fingerprint"] == tracking.data_fingerprint(small_sales)
    assert run.data.tags["gate.promoted"] == "true"
    assert run.data.tags["gate.metric"] == tracking.GATE_METRIC
    for model in ("SeasonalNaive", "MA28", "AutoETS", "LightGBM", "Ensemble"):
        for level in ("series", "sku_region_week"):
            assert f"{level}/{model}/wape" in run.data.metrics
    artifacts = {
        f.path
        for folder in ("tables", "plots")
        for f in client.list_artifacts(first.run_id, folder)
    }
    assert {
        "tables/backtest.parquet",
        "tables/metrics.csv",
        "tables/choice.csv",
        "tables/feature_importance.csv",
        "plots/backtest_best.png",
        "plots/backtest_typical.png",
        "plots/backtest_worst.png",
        "plots/feature_importance_LightGBM.png",
    } <= artifacts
    local = Path(client.download_artifacts(first.run_id, "tables/backtest.parquet"))
    assert len(pd.read_parquet(local)) == len(first.forecaster.backtest_)


@pytest.mark.slow
def test_loaded_champion_forecasts_like_the_fitted_forecaster(
    first: tracking.TrainOutcome, small_sales: pd.DataFrame, store: str
) -> None:
    loaded = tracking.load_model(store, alias="champion")
    assert (loaded.version, loaded.run_id) == ("1", first.run_id)
    expected = first.forecaster.predict()
    pd.testing.assert_frame_equal(loaded.predict(), expected)
    pd.testing.assert_frame_equal(loaded.predict(small_sales, horizon=7), expected)
    # the generic pyfunc face gives the same frame, with the horizon as a parameter
    shorter = small_sales[small_sales[DATE] < small_sales[DATE].max() - pd.Timedelta(days=10)]
    through_pyfunc = loaded.pyfunc.predict(shorter, params={"horizon": 3})
    pd.testing.assert_frame_equal(
        pd.DataFrame(through_pyfunc), first.forecaster.predict(shorter, horizon=3)
    )
    assert through_pyfunc[DATE].min() == shorter[DATE].max() + pd.Timedelta(days=1)
    # a generic client's rows: text dates, and the days a series sold nothing left out
    # (one series' last row kept, sold or not: it tells where the history ends)
    last_row = shorter.index == shorter[shorter[DATE] == shorter[DATE].max()].index[0]
    sold = (shorter[UNITS] > 0) | last_row
    rows = shorter[sold].assign(**{DATE: shorter[DATE].dt.strftime("%Y-%m-%d")})
    assert len(rows) < len(shorter)
    from_rows = pd.DataFrame(loaded.pyfunc.predict(rows, params={"horizon": 3}))
    starts = from_rows.groupby([SKU, LOCATION])[DATE].min()
    assert (starts == shorter[DATE].max() + pd.Timedelta(days=1)).all()
    # whole units as integers, as a sales export holds them: MLflow's own schema check refused
    # int64 as "not safely convertible to float64"
    integers = shorter.assign(**{UNITS: shorter[UNITS].round().astype("int64")})
    from_integers = pd.DataFrame(loaded.pyfunc.predict(integers, params={"horizon": 3}))
    assert len(from_integers) == len(through_pyfunc)


@pytest.mark.slow
def test_gate_both_ways(
    first: tracking.TrainOutcome, small_sales: pd.DataFrame, store: str
) -> None:
    worse_config = CONFIG.model_copy(update={"models": ("SeasonalNaive",)})
    # on the champion's own history: the two versions' backtests are compared
    worse = tracking.train_and_register(small_sales, worse_config, store)
    assert worse.metrics[tracking.GATE_METRIC] > first.metrics[tracking.GATE_METRIC]
    assert not worse.promoted
    assert tracking.load_model(store, alias="champion").version == first.version
    assert tracking.load_model(store, alias="challenger").version == worse.version
    run = MlflowClient(tracking_uri=store).get_run(worse.run_id)
    assert run.data.tags["gate.promoted"] == "false"
    assert "no day after the champion's history" in run.data.tags["gate.reason"]
    assert run.data.tags["gate.reason"].endswith("both versions' own backtests, on this history)")
    assert run.data.metrics["gate/champion_before"] == pytest.approx(
        first.metrics[tracking.GATE_METRIC]
    )

    # a weak champion trained four weeks earlier, its own backtest made on days far easier
    # than any later history offered (faked): it used to be compared as logged, unbeatable
    earlier = small_sales[small_sales[DATE] <= small_sales[DATE].max() - pd.Timedelta(days=28)]
    weak = tracking.train_and_register(earlier, worse_config, store)
    # it knows four weeks less than the champion: kept out whatever it scores, and told why
    assert not weak.promoted
    assert "before the champion's" in weak.gate and "allocast models promote" in weak.gate
    tracking.promote(store, tracking.DEFAULT_MODEL_NAME, weak.version)
    MlflowClient(tracking_uri=store).log_metric(weak.run_id, tracking.GATE_METRIC, 1e-4)
    # the first version's forecaster, logged again, beats it on the days after its history,
    # both out of sample (no refit needed)
    better = tracking.train_and_register(
        small_sales, tracking_uri=store, forecaster=first.forecaster
    )
    assert better.promoted, better.gate
    assert "beats" in better.gate and "backtest days after the champion's history" in better.gate
    assert tracking.load_model(store, alias="champion").version == better.version


@pytest.mark.slow
def test_a_version_backtested_at_another_horizon_stays_challenger(
    first: tracking.TrainOutcome, small_sales: pd.DataFrame, store: str
) -> None:
    # On the champion's own history only the two backtests compare: a 1-day one (0.35) beat a
    # 28-day one (0.81) and was promoted to forecast 28 days.
    champion_before = tracking.load_model(store, alias="champion").version
    shorter = tracking.train_and_register(
        small_sales, CONFIG.model_copy(update={"horizon": 1}), store
    )
    assert not shorter.promoted
    assert f"trained {CONFIG.horizon} periods ahead, this version 1" in shorter.gate
    # nor does a backtest of other series: one that never saw the champion's won on its own
    keys = small_sales[[SKU, LOCATION]].drop_duplicates()
    fewer = small_sales.merge(keys.iloc[: len(keys) // 2], on=[SKU, LOCATION])
    other = tracking.train_and_register(fewer, CONFIG, store)
    assert not other.promoted
    assert f"on {len(keys)} series, this version on {len(keys) // 2}" in other.gate
    assert tracking.load_model(store, alias="champion").version == champion_before


@pytest.mark.slow
def test_a_version_at_another_level_stays_challenger(
    first: tracking.TrainOutcome, small_sales: pd.DataFrame, store: str
) -> None:
    # Region totals are smoother than one location's sales: a region version won the gate on
    # them, and forecasting locations with it gave each its region's demand (+50 %).
    region_sales = prepare_sales(small_sales, level="region")
    champion_before = tracking.load_model(store, alias="champion").version
    region = tracking.train_and_register(
        region_sales, CONFIG.model_copy(update={"level": "region"}), store
    )
    assert not region.promoted
    assert "location-level series, this version region-level: not comparable" in region.gate
    assert tracking.load_model(store, alias="champion").version == champion_before
    assert trained_level(tracking.load_model(store, alias=region.version).config) == "region"


@pytest.mark.slow
def test_a_version_that_reads_a_column_the_champion_does_not_stays_challenger(
    first: tracking.TrainOutcome, small_sales: pd.DataFrame, store: str
) -> None:
    # A scheduled retrain on sales with a SNAP flag was promoted; the service stores no such
    # column and could load no champion after it.
    champion_before = tracking.load_model(store, alias="champion").version
    dates = pd.to_datetime(small_sales[DATE])
    flagged = small_sales.assign(snap=(dates.dt.day <= 10).astype(int))
    # LightGBM alone, so that the version surely reads the flag (the choice between models
    # could leave it out, and then the version reads nothing the champion does not)
    global_only = CONFIG.model_copy(update={"models": ("LightGBM",)})
    snap = tracking.train_and_register(flagged, global_only, store)
    assert not snap.promoted
    assert "reads column(s) snap, outside the sales contract, which the champion does not" in (
        snap.gate
    )
    assert tracking.load_model(store, alias="champion").version == champion_before


def test_a_config_pickled_before_it_recorded_the_level_reads_location() -> None:
    config = CONFIG.model_copy()
    del config.__dict__["level"]
    assert trained_level(pickle.loads(pickle.dumps(config))) == "location"


def test_unknown_alias_is_one_clear_error(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(ForecastingError, match="no model 'allocast-forecaster' alias 'champion'"):
        tracking.load_model(store)
    with pytest.raises(ForecastingError, match="no version '7'"):
        tracking.promote(store, tracking.DEFAULT_MODEL_NAME, "7")


def test_a_model_of_another_format_fails_at_load_saying_to_retrain(
    first: tracking.TrainOutcome, store: str, tmp_path: Path
) -> None:
    loaded = tracking.load_model(store, alias=first.version)
    forecaster = loaded.pyfunc.unwrap_python_model().forecaster
    del forecaster.format_  # what a model pickled before the format stamp looks like
    old = tmp_path / tracking.PICKLE_NAME
    old.write_bytes(pickle.dumps(forecaster))
    context = SimpleNamespace(artifacts={tracking.MODEL_ARTIFACT: str(old)})
    with pytest.raises(ModelFormatError, match=r"format 1, this allocast runs format 2.*retrain"):
        tracking.ForecasterModel().load_context(context)


def test_loading_a_registered_model_of_another_format_names_the_version(
    first: tracking.TrainOutcome, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forecaster_module, "FORMAT", forecaster_module.FORMAT + 1)
    with pytest.raises(ModelFormatError, match=rf"version {first.version}: .*retrain"):
        tracking.load_model(store, alias=first.version)
