"""Service fixtures: an app on a fresh database (SQLite, and PostgreSQL when configured), keys.

Database tests take the `database_url` fixture, which runs them on SQLite and on PostgreSQL.
PostgreSQL needs ALLOCAST_TEST_POSTGRES_URL (`.ci/run` sets it when the local server is up);
each test gets a database of its own, created for it and dropped after it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from serving.auth import create_key
from serving.config import Settings
from serving.db import connect, upgrade
from serving.main import create_app
from serving.models import Role

POSTGRES_ENV = "ALLOCAST_TEST_POSTGRES_URL"


def _postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = f"allocast_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # the URL was given: failing to use it is a failure, not a skip
        admin.dispose()
        raise RuntimeError(f"{POSTGRES_ENV}={admin_url} is set but unusable: {error}") from error
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: SQLite in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'allocast.db'}"
        return
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(
            f"PostgreSQL variant skipped: {POSTGRES_ENV} is not set (`.ci/run` sets it when "
            "PostgreSQL listens on 127.0.0.1:5432)"
        )
    yield from _postgres_database(admin_url)


@pytest.fixture(scope="session")
def empty_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow store with its tables made and no model, made once (MLflow's own migrations
    take seconds) and copied for each test."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("empty-registry") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_registered_models()
    return path


@pytest.fixture
def settings(database_url: str, tmp_path: Path, empty_registry: Path) -> Settings:
    shutil.copyfile(empty_registry, tmp_path / "mlflow.db")
    return Settings(
        database_url=database_url,
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        load_model_on_startup=False,
        max_body_bytes=2_000_000,
        sync_allocation_limit=50,
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:  # runs the lifespan: migrations
        yield test_client
    _wait_for_model_threads()


MODEL_THREADS = ("model-load", "model-store-check")


def _wait_for_model_threads(timeout: float = 60.0) -> None:
    """Let the model store's background look-ups end with their test.

    A look-up opens the MLflow store, which may run MLflow's own Alembic migrations; Alembic
    keeps the migration under way in module globals, so one still running when the next test's
    app migrates its database would trample it (one process, many apps: only tests do that).
    """
    for thread in threading.enumerate():
        if thread.name in MODEL_THREADS:
            thread.join(timeout)


@dataclass(frozen=True)
class Keys:
    planner: str
    admin: str
    north: str  # distributor D-N1
    east: str  # distributor D-E1

    def headers(self, who: str) -> dict[str, str]:
        return {"X-API-Key": getattr(self, who)}


@pytest.fixture
def keys(settings: Settings) -> Keys:
    database = connect(settings.database_url)
    upgrade(database.engine)
    with database.session() as session:
        made = {
            "planner": create_key(session, Role.planner)[0],
            "admin": create_key(session, Role.admin)[0],
            "north": create_key(session, Role.distributor, "D-N1")[0],
            "east": create_key(session, Role.distributor, "D-E1")[0],
        }
    database.dispose()
    return Keys(**made)


def small_network() -> dict[str, Any]:
    """Central CW, regional RW-N / RW-E, forward FW-N1 / FW-E1, four distributors, three SKUs."""
    warehouses = [
        {"id": "CW", "kind": "central", "region": "north", "capacity": 100_000},
        {"id": "RW-N", "kind": "regional", "region": "north", "capacity": 20_000},
        {"id": "RW-E", "kind": "regional", "region": "east", "capacity": 20_000},
        {"id": "FW-N1", "kind": "forward", "region": "north", "capacity": 5_000},
        {"id": "FW-E1", "kind": "forward", "region": "east", "capacity": 5_000},
    ]
    lanes = [
        {"origin": "CW", "destination": "RW-N", "cost_per_unit": 0.5, "lead_time_days": 2},
        {"origin": "CW", "destination": "RW-E", "cost_per_unit": 0.7, "lead_time_days": 3},
        {"origin": "RW-N", "destination": "FW-N1", "cost_per_unit": 0.2, "lead_time_days": 1},
        {"origin": "RW-E", "destination": "FW-E1", "cost_per_unit": 0.2, "lead_time_days": 1},
    ]
    distributors = [
        {"id": "D-N1", "region": "north", "tier": "strategic", "served_by": ["FW-N1", "RW-N"]},
        {"id": "D-N2", "region": "north", "tier": "growth", "served_by": ["FW-N1"]},
        {"id": "D-E1", "region": "east", "tier": "strategic", "served_by": ["FW-E1", "RW-E"]},
        {
            "id": "D-E2",
            "region": "east",
            "tier": "observation",
            "credit": "red",
            "served_by": ["FW-E1"],
        },
    ]
    skus = [
        {"id": "SKU-001", "unit_cost": 10.0, "hot": True},
        {"id": "SKU-002", "unit_cost": 5.0},
        {"id": "SKU-003", "unit_cost": 2.0},
    ]
    return {"warehouses": warehouses, "lanes": lanes, "distributors": distributors, "skus": skus}


def small_stock() -> list[dict[str, Any]]:
    return [
        {"sku": sku, "node": node, "on_hand": on_hand}
        for sku in ("SKU-001", "SKU-002", "SKU-003")
        for node, on_hand in (("CW", 600.0), ("RW-N", 40.0), ("RW-E", 40.0), ("FW-N1", 10.0))
    ]


@pytest.fixture
def network_document() -> dict[str, Any]:
    return small_network()


@pytest.fixture
def stock_rows() -> list[dict[str, Any]]:
    return small_stock()


DEMAND_LOCATIONS = ("FW-N1", "FW-E1", "D-N1", "D-N2", "D-E1", "D-E2")


def demand_rows(
    days: int = 14, start: str = "2026-01-01", units: float = 3.0
) -> list[dict[str, Any]]:
    """Forecast-contract rows for every SKU and demand location of `small_network` (units/day)."""
    first = dt.date.fromisoformat(start)
    return [
        {
            "sku": sku,
            "location": location,
            "date": (first + dt.timedelta(days=day)).isoformat(),
            "forecast": units,
            "quantiles": {"q0.5": units, "q0.9": units * 1.6, "q0.95": units * 2.0},
        }
        for sku in ("SKU-001", "SKU-002", "SKU-003")
        for location in DEMAND_LOCATIONS
        for day in range(days)
    ]


def allocation_body(**extra: Any) -> dict[str, Any]:
    return {"demand": demand_rows(), "today": "2026-01-01", **extra}


@pytest.fixture
def seeded(client: TestClient, keys: Keys) -> TestClient:
    """The client after a planner stored the small network and its stock."""
    planner = keys.headers("planner")
    assert client.put("/v1/network", json=small_network(), headers=planner).status_code == 201
    stock = {"positions": small_stock()}
    assert client.put("/v1/stock", json=stock, headers=planner).status_code == 201
    return client


def create_plan(client: TestClient, keys: Keys, **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/v1/allocations", json=allocation_body(**extra), headers=keys.headers("planner")
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def live_url(app: FastAPI, keys: Keys) -> Iterator[str]:
    """The app served by uvicorn in a thread on a loopback port (real TCP, real concurrency)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 30 s")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
