"""/v1/models over HTTP: versions with metrics, promotion (admin), retrain jobs run by a worker."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from forecasting.data import prepare_sales
from forecasting.forecaster import ForecastConfig
from forecasting.sample import SampleSpec, generate_sales
from forecasting.tracking import train_and_register
from serving.config import Settings
from serving.jobs import run_next
from serving.models import AuditEntry
from tests.serving.conftest import Keys
from tests.serving.registry import Registry, registry_copy, sales_rows


@pytest.fixture
def registry(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Registry:
    """The trained registry at the app's tracking URI (version 1 is champion)."""
    return registry_copy(tmp_path_factory, Path(settings.tracking_uri.removeprefix("sqlite:///")))


def audit_actions(app: FastAPI) -> list[tuple[str, str, str | None]]:
    with app.state.db.sessions() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.role, AuditEntry.resource_id).order_by(
                AuditEntry.id
            )
        ).all()
    return [(row.action, row.role, row.resource_id) for row in rows]


def test_versions_come_with_their_backtest_metrics(
    client: TestClient, keys: Keys, registry: Registry
) -> None:
    response = client.get("/v1/models", headers=keys.headers("planner"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == registry.model_name
    assert body["champion_version"] == "1" and body["count"] == 2
    assert [v["version"] for v in body["data"]] == ["2", "1"]
    champion = body["data"][1]
    assert champion["champion"] and "champion" in champion["aliases"]
    assert champion["run_id"] and champion["created"]
    assert any(key.endswith("wape") for key in champion["metrics"])
    # what a promote would make the service forecast: days per location, 14 ahead
    assert (champion["freq"], champion["level"], champion["horizon"]) == ("D", "location", 14)
    one = client.get("/v1/models/2", headers=keys.headers("admin")).json()
    assert one["version"] == "2" and not one["champion"] and one["metrics"]


def test_unknown_version_is_404(client: TestClient, keys: Keys, registry: Registry) -> None:
    assert client.get("/v1/models/99", headers=keys.headers("planner")).status_code == 404
    response = client.post("/v1/models/99/promote", headers=keys.headers("admin"))
    assert response.status_code == 404
    assert "no version 99" in response.json()["detail"]


def test_admin_promotes_and_the_service_loads_it_at_once(
    client: TestClient, keys: Keys, registry: Registry, app: FastAPI
) -> None:
    assert app.state.model_store.refresh().version == "1"
    app.state.model_store.check_interval = 3600.0  # only the promote itself may reload
    response = client.post("/v1/models/2/promote", headers=keys.headers("admin"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == "2" and body["previous_champion"] == "1"
    assert body["loaded_version"] == "2" and body["load_error"] is None
    ready = client.get("/ready").json()
    assert ready["model"]["version"] == "2"
    listed = client.get("/v1/models", headers=keys.headers("admin")).json()
    assert listed["champion_version"] == listed["loaded_version"] == "2"
    assert ("model.promote", "admin", f"{registry.model_name}:2") in audit_actions(app)


@pytest.mark.parametrize("who", ["planner", "north"])
def test_only_admins_promote_and_retrain(
    client: TestClient, keys: Keys, registry: Registry, who: str
) -> None:
    headers = keys.headers(who)
    assert client.post("/v1/models/2/promote", headers=headers).status_code == 403
    assert client.post("/v1/models/retrain", json={}, headers=headers).status_code == 403
    if who == "north":  # distributors see no model endpoint at all
        assert client.get("/v1/models", headers=headers).status_code == 403
        assert client.get("/v1/models/1", headers=headers).status_code == 403
    assert client.get("/v1/models").status_code == 401


def test_bad_retrain_requests_are_422(client: TestClient, keys: Keys) -> None:
    admin = keys.headers("admin")
    assert client.post("/v1/models/retrain", json={"horizon": 0}, headers=admin).status_code == 422
    bad_quantile = {"quantiles": [0.5, 1.2]}
    assert client.post("/v1/models/retrain", json=bad_quantile, headers=admin).status_code == 422
    assert client.post("/v1/models/retrain", json={"epochs": 3}, headers=admin).status_code == 422
    # a level an allocation request could not name its column by (q0.123456)
    finer = client.post("/v1/models/retrain", json={"quantiles": [0.123456]}, headers=admin)
    assert finer.status_code == 422 and "at most 4 decimals" in finer.json()["detail"][0]["msg"]
    nan = client.post(
        "/v1/models/retrain",
        content=b'{"quantiles": [NaN]}',
        headers={**admin, "Content-Type": "application/json"},
    )
    assert nan.status_code == 422 and "finite" in nan.json()["detail"][0]["msg"]


@pytest.mark.slow
def test_retrain_job_trains_on_the_stored_sales_and_registers_a_version(
    client: TestClient, keys: Keys, registry: Registry, app: FastAPI, settings: Settings
) -> None:
    ingest = client.post(
        "/v1/sales", json={"rows": sales_rows(registry.sales)}, headers=keys.headers("planner")
    )
    assert ingest.status_code == 201, ingest.text
    body = {"horizon": 7, "quantiles": [0.5, 0.9], "n_windows": 2}
    response = client.post("/v1/models/retrain", json=body, headers=keys.headers("admin"))
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued" and accepted["status_url"].endswith(
        str(accepted["job_id"])
    )
    assert run_next(settings, app.state.db, "test-worker")  # what `allocast worker` does
    job = client.get(accepted["status_url"], headers=keys.headers("admin")).json()
    assert job["status"] == "succeeded", job["error"]
    result = job["result"]
    assert result["version"] == "3" and result["series"] == 9
    assert isinstance(result["promoted"], bool) and result["gate"]
    versions = client.get("/v1/models", headers=keys.headers("admin")).json()
    assert [v["version"] for v in versions["data"]] == ["3", "2", "1"]
    assert versions["data"][0]["metrics"]
    actions = [action for action, _role, _id in audit_actions(app)]
    assert "model.retrain" in actions and "model.register" in actions


def test_retrain_without_stored_sales_is_409_saying_why(
    client: TestClient, keys: Keys, app: FastAPI, settings: Settings
) -> None:
    response = client.post("/v1/models/retrain", json={}, headers=keys.headers("admin"))
    assert response.status_code == 409  # was a job that could only fail
    assert "POST /v1/sales" in response.json()["detail"]
    assert not run_next(settings, app.state.db, "test-worker")  # nothing was queued


def test_a_retrain_longer_than_the_stored_history_is_422_naming_its_settings(
    client: TestClient, keys: Keys, registry: Registry, app: FastAPI, settings: Settings
) -> None:
    ingest = client.post(
        "/v1/sales", json={"rows": sales_rows(registry.sales)}, headers=keys.headers("planner")
    )
    assert ingest.status_code == 201, ingest.text
    days = (registry.sales["date"].max() - registry.sales["date"].min()).days + 1
    body = {"horizon": days - 13, "n_windows": 2}  # one window and 14 days: one day too many
    response = client.post("/v1/models/retrain", json=body, headers=keys.headers("admin"))
    assert response.status_code == 422, response.text  # was a job that could only fail
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "horizon"] and "lower horizon or send more" in error["msg"]
    assert f"needs {days + 1} days" in error["msg"] and f"at most {days}" in error["msg"]
    assert not run_next(settings, app.state.db, "test-worker")  # nothing was queued
    # Room for one window, not the two asked: the forecaster trains on the one, as `allocast
    # train` does (it was a 422 asking for two windows' history).
    body = {"horizon": days - 14, "n_windows": 2}
    response = client.post("/v1/models/retrain", json=body, headers=keys.headers("admin"))
    assert response.status_code == 202, response.text


def test_a_retrain_counts_a_series_from_its_listing_not_its_first_sale(
    client: TestClient, keys: Keys
) -> None:
    # Priced (listed) for 30 days before its first sale, then 30 days of sales: the forecaster
    # counts all 60 from the listing, where the check counted 30 from the first sale and
    # refused a retrain that needs 54 (a 40-day window after 14 days).
    days = pd.date_range("2025-01-01", periods=60)
    rows = [
        {"sku": "S", "location": "L", "date": f"{day:%Y-%m-%d}", "units": 0.0 if n < 30 else 2.0,
         "price": 3.0}
        for n, day in enumerate(days)
    ]  # fmt: skip
    ingest = client.post("/v1/sales", json={"rows": rows}, headers=keys.headers("planner"))
    assert ingest.status_code == 201, ingest.text
    body = {"horizon": 40, "n_windows": 1}
    response = client.post("/v1/models/retrain", json=body, headers=keys.headers("admin"))
    assert response.status_code == 202, response.text
    too_long = client.post(
        "/v1/models/retrain", json={"horizon": 47, "n_windows": 1}, headers=keys.headers("admin")
    )
    assert too_long.status_code == 422 and "at most 60" in too_long.json()["detail"][0]["msg"]


def test_a_version_the_service_cannot_serve_is_not_promoted(
    client: TestClient, keys: Keys, registry: Registry, app: FastAPI
) -> None:
    # Promoted, it was a 200 with a load error: the old version served until a restart, then
    # nothing did.
    daily = generate_sales(SampleSpec(days=120))
    regional = prepare_sales(daily[daily["sku"] == "SKU-001"], level="region")
    config = ForecastConfig(horizon=7, n_windows=1, models=("MA28",), level="region")
    trained = train_and_register(regional, config, registry.tracking_uri, registry.model_name)
    response = client.post(f"/v1/models/{trained.version}/promote", headers=keys.headers("admin"))
    assert response.status_code == 409, response.text
    assert "forecasts region totals" in response.json()["detail"]
    assert response.json()["detail"].endswith("the champion stays version 1")
    assert app.state.model_store.refresh().version == "1"
    assert client.get("/v1/models", headers=keys.headers("admin")).json()["champion_version"] == "1"
