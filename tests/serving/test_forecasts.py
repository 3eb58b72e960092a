"""GET /v1/forecasts over HTTP: the champion's forecast of the ingested sales, filtered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow import MlflowClient

from forecasting.forecaster import ForecastConfig
from forecasting.models import LIGHTGBM
from forecasting.tracking import train_and_register
from serving.config import Settings
from tests.serving.conftest import Keys
from tests.serving.registry import (
    LOCATIONS,
    QUANTILES_V1,
    SKUS,
    Registry,
    registry_copy,
    sales_rows,
)


@pytest.fixture
def registry(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Registry:
    """The trained registry at the app's tracking URI (version 1 is champion)."""
    return registry_copy(tmp_path_factory, Path(settings.tracking_uri.removeprefix("sqlite:///")))


@pytest.fixture
def ingested(client: TestClient, keys: Keys, registry: Registry) -> Registry:
    """The registry's training sales ingested through the API."""
    response = client.post(
        "/v1/sales", json={"rows": sales_rows(registry.sales)}, headers=keys.headers("planner")
    )
    assert response.status_code == 201, response.text
    return registry


def forecasts(client: TestClient, keys: Keys, who: str = "planner", **params: Any) -> Response:
    return client.get("/v1/forecasts", params=params, headers=keys.headers(who))


def test_forecast_of_one_series_names_the_model_version(
    client: TestClient, keys: Keys, ingested: Registry
) -> None:
    response = forecasts(client, keys, sku="SKU-001", location="D-N1", horizon=7)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == "1" and body["run_id"]
    assert body["quantiles"] == list(QUANTILES_V1) and body["count"] == 7
    history_end = ingested.sales["date"].max().date()
    assert body["history_end"] == history_end.isoformat()
    dates = [row["date"] for row in body["data"]]
    expected = pd.date_range(history_end + pd.Timedelta(days=1), periods=7).strftime("%Y-%m-%d")
    assert dates == list(expected)
    for row in body["data"]:
        assert (row["sku"], row["location"], row["region"]) == ("SKU-001", "D-N1", "north")
        q = row["quantiles"]
        assert set(q) == {"q0.5", "q0.9", "q0.95"}
        assert 0 <= q["q0.5"] <= q["q0.9"] <= q["q0.95"] and row["forecast"] >= 0
    assert body["trained_horizon"] == 14 and body["note"] is None
    # past the 14 days the model was trained for, the answer says what that means
    further = forecasts(client, keys, sku="SKU-001", location="D-N1", horizon=30).json()
    assert further["note"] == (
        "30 days forecast by a model trained 14 days ahead: its quantiles past day 14 were never "
        "measured and are likely too narrow"
    )


def test_filters_by_region_and_picks_quantiles(
    client: TestClient, keys: Keys, ingested: Registry
) -> None:
    body = forecasts(client, keys, region="east", quantile=[0.9], horizon=3).json()
    assert {row["location"] for row in body["data"]} == {"D-E1"}
    assert body["count"] == 3 * 3  # 3 SKUs at D-E1, 3 days
    assert body["quantiles"] == [0.9]
    assert all(set(row["quantiles"]) == {"q0.9"} for row in body["data"])


def test_all_series_with_paging(client: TestClient, keys: Keys, ingested: Registry) -> None:
    first = forecasts(client, keys, horizon=4, limit=10).json()
    rest = forecasts(client, keys, horizon=4, offset=10, limit=100).json()
    assert first["count"] == rest["count"] == 9 * 4
    assert len(first["data"]) == 10 and len(rest["data"]) == 26
    keys_seen = [(r["sku"], r["location"], r["date"]) for r in first["data"] + rest["data"]]
    assert keys_seen == sorted(keys_seen) and len(set(keys_seen)) == 36


@pytest.mark.slow
def test_a_series_reads_the_same_whatever_else_the_query_names(
    client: TestClient, keys: Keys, ingested: Registry
) -> None:
    # A LightGBM champion: its cross-series features (a SKU's mean over its locations, a
    # location's over its SKUs) came from the series a query named, so one series read
    # differently by filter, and a plan (all series) disagreed with a filtered read.
    config = ForecastConfig(horizon=14, n_windows=1, models=(LIGHTGBM,))
    version = train_and_register(
        ingested.sales, config, tracking_uri=ingested.tracking_uri, model_name=ingested.model_name
    )
    promoted = client.post(f"/v1/models/{version.version}/promote", headers=keys.headers("admin"))
    assert promoted.status_code == 200, promoted.text

    def rows(**params: Any) -> dict[tuple[str, str, str], tuple[float, dict[str, float]]]:
        body = forecasts(client, keys, horizon=5, **params).json()
        assert body["model_version"] == str(version.version)
        return {
            (row["sku"], row["location"], row["date"]): (row["forecast"], row["quantiles"])
            for row in body["data"]
        }

    everything = rows()
    assert len(everything) == 9 * 5
    for params in ({"location": "D-N1"}, {"sku": "SKU-001"}, {"location": ["D-N1", "D-E1"]}):
        some = rows(**params)
        assert some == {key: everything[key] for key in some}, params


def test_a_new_ingest_moves_the_forecast_on(
    client: TestClient, keys: Keys, ingested: Registry
) -> None:
    before = forecasts(client, keys, sku="SKU-002", location="FW-N1", horizon=2).json()
    last = ingested.sales[(ingested.sales["sku"] == "SKU-002")].copy()
    last = last[last["date"] == last["date"].max()]
    last["date"] = last["date"] + pd.Timedelta(days=1)
    response = client.post(
        "/v1/sales", json={"rows": sales_rows(last)}, headers=keys.headers("planner")
    )
    assert response.status_code == 201, response.text
    after = forecasts(client, keys, sku="SKU-002", location="FW-N1", horizon=2).json()
    assert after["history_end"] > before["history_end"]
    assert after["data"][0]["date"] == before["data"][1]["date"]


def test_a_promotion_through_the_api_changes_the_answering_version(
    client: TestClient, keys: Keys, ingested: Registry
) -> None:
    assert forecasts(client, keys, sku="SKU-001", horizon=2).json()["model_version"] == "1"
    promoted = client.post("/v1/models/2/promote", headers=keys.headers("admin"))
    assert promoted.status_code == 200, promoted.text
    body = forecasts(client, keys, sku="SKU-001", horizon=2).json()
    assert body["model_version"] == "2" and body["quantiles"] == [0.5, 0.8]


def test_unknown_quantile_is_422_naming_the_available_ones(
    client: TestClient, keys: Keys, ingested: Registry
) -> None:
    response = forecasts(client, keys, quantile=[0.75])
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["query", "quantile"]
    assert "0.75" in detail["msg"] and "0.5, 0.9, 0.95" in detail["msg"]


def test_bad_query_values_are_422(client: TestClient, keys: Keys, ingested: Registry) -> None:
    assert forecasts(client, keys, horizon=0).status_code == 422
    assert forecasts(client, keys, horizon=400).status_code == 422
    assert forecasts(client, keys, quantile=[1.5]).status_code == 422
    assert forecasts(client, keys, sku="bad sku!").status_code == 422


def test_without_stored_sales_it_is_409_saying_what_to_do(
    client: TestClient, keys: Keys, registry: Registry
) -> None:
    response = forecasts(client, keys)
    assert response.status_code == 409
    assert "POST /v1/sales" in response.json()["detail"]
    assert forecasts(client, keys, sku="SKU-999").status_code == 409


def test_without_a_champion_it_is_503_saying_why(
    client: TestClient, keys: Keys, ingested: Registry
) -> None:
    registry = MlflowClient(tracking_uri=ingested.tracking_uri, registry_uri=ingested.tracking_uri)
    registry.delete_registered_model_alias(ingested.model_name, "champion")
    response = forecasts(client, keys)
    assert response.status_code == 503
    assert "champion" in response.json()["detail"]


def test_only_planners_and_admins_read_forecasts(
    client: TestClient, keys: Keys, ingested: Registry
) -> None:
    assert forecasts(client, keys, "admin", sku="SKU-003", horizon=1).status_code == 200
    assert forecasts(client, keys, "north", sku="SKU-003", horizon=1).status_code == 403
    assert client.get("/v1/forecasts").status_code == 401
    assert client.get("/v1/forecasts", headers={"X-API-Key": "nope"}).status_code == 401


SERIES = [(sku, location) for sku in SKUS for location in LOCATIONS]
REGION_OF = {"FW-N1": "north", "D-N1": "north", "D-E1": "east"}


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    skus=st.lists(st.sampled_from(SKUS), unique=True, max_size=2),
    locations=st.lists(st.sampled_from(LOCATIONS), unique=True, max_size=2),
    regions=st.lists(st.sampled_from(["north", "east"]), unique=True, max_size=1),
    quantiles=st.lists(st.sampled_from(QUANTILES_V1), unique=True, max_size=3),
    horizon=st.integers(min_value=1, max_value=10),
)
def test_any_filter_gives_exactly_the_matching_series_and_quantiles(
    client: TestClient,
    keys: Keys,
    ingested: Registry,
    skus: list[str],
    locations: list[str],
    regions: list[str],
    quantiles: list[float],
    horizon: int,
) -> None:
    params: dict[str, Any] = {"horizon": horizon}
    for name, values in (("sku", skus), ("location", locations), ("region", regions)):
        if values:
            params[name] = values
    if quantiles:
        params["quantile"] = quantiles
    expected = {
        (sku, location)
        for sku, location in SERIES
        if (not skus or sku in skus)
        and (not locations or location in locations)
        and (not regions or REGION_OF[location] in regions)
    }
    response = forecasts(client, keys, **params)
    if not expected:
        assert response.status_code == 409, response.text
        return
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(expected) * horizon == len(body["data"])
    assert {(row["sku"], row["location"]) for row in body["data"]} == expected
    wanted = {f"q{q:g}" for q in (quantiles or QUANTILES_V1)}
    assert all(set(row["quantiles"]) == wanted for row in body["data"])
