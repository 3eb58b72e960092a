"""Every /v1 endpoint: no key is 401; a distributor key is 403 everywhere but its own data.

The endpoints are read from the app's OpenAPI schema, so a new endpoint is covered the day it lands.
"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from serving.auth import hash_key
from serving.config import Settings
from serving.main import create_app
from serving.models import ApiKey, utcnow
from tests.serving.conftest import Keys

OWN_DISTRIBUTOR_ROUTES = {
    ("GET", "/v1/distributors/{distributor_id}/suggestions"),
    ("POST", "/v1/distributors/{distributor_id}/acknowledgements"),
}


def _endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """(METHOD, path template) of every /v1 operation, read from the OpenAPI schema."""
    paths = app.openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in sorted(paths.items())
        if path.startswith("/v1/")
        for method in sorted(operations)
    ]


def _fill(path: str, distributor: str) -> str:
    path = path.replace("{distributor_id}", distributor)
    return re.sub(r"\{[a-z_]+\}", "1", path)


def test_the_route_list_is_not_empty(app: FastAPI) -> None:
    paths = {path for _, path in _endpoints(app)}
    assert {"/v1/plans", "/v1/allocations", "/v1/network", "/v1/stock", "/v1/sales"} <= paths


def test_every_endpoint_needs_a_key(client: TestClient, app: FastAPI) -> None:
    for method, path in _endpoints(app):
        response = client.request(method, _fill(path, "D-N1"), json={})
        assert response.status_code == 401, (method, path, response.text)
        wrong = client.request(method, _fill(path, "D-N1"), json={}, headers={"X-API-Key": "x"})
        assert wrong.status_code == 401, (method, path)


def test_distributor_key_is_403_on_planner_endpoints_and_others_data(
    client: TestClient, app: FastAPI, keys: Keys
) -> None:
    north = keys.headers("north")
    for method, path in _endpoints(app):
        if (method, path) in OWN_DISTRIBUTOR_ROUTES:
            foreign = client.request(
                method, _fill(path, "D-E1"), json={"plan_id": 1}, headers=north
            )
            assert foreign.status_code == 403, (method, path)
            own = client.request(method, _fill(path, "D-N1"), json={"plan_id": 1}, headers=north)
            assert own.status_code != 403, (method, path, own.text)
        else:
            response = client.request(method, _fill(path, "D-N1"), json={}, headers=north)
            assert response.status_code == 403, (method, path, response.text)


@pytest.mark.parametrize("who", ["planner", "admin"])
def test_planner_and_admin_pass_the_role_check(
    client: TestClient, app: FastAPI, keys: Keys, who: str
) -> None:
    admin_only = {p for _, p in _endpoints(app) if "promote" in p or p.endswith("/retrain")}
    for method, path in _endpoints(app):
        if (method, path) == ("POST", "/v1/distributors/{distributor_id}/acknowledgements"):
            continue  # only the distributor itself acknowledges (tested in test_distributors)
        if who == "planner" and path in admin_only:
            continue
        response = client.request(method, _fill(path, "D-N1"), json={}, headers=keys.headers(who))
        assert response.status_code not in (401, 403), (method, path, response.text)
        # 503 is "no champion model yet", never a crash; 500 would be a bug
        assert response.status_code in {200, 201, 202, 404, 409, 422, 503}, (
            method,
            path,
            response.text,
        )


def test_a_revoked_key_stops_working_within_the_key_cache_time(
    settings: Settings, keys: Keys
) -> None:
    app = create_app(settings.model_copy(update={"key_cache_seconds": 5}))
    now = [1000.0]
    app.state.key_cache.clock = lambda: now[0]  # the cache's time, moved by hand: no sleeping
    north = keys.headers("north")
    with TestClient(app) as client:
        assert client.get("/v1/distributors/D-N1/suggestions", headers=north).status_code == 200
        with app.state.db.session() as session:
            session.execute(
                update(ApiKey)
                .where(ApiKey.key_hash == hash_key(keys.north))
                .values(revoked_at=utcnow())
            )
        now[0] += 4.9
        # within the cache time the key found before is still trusted ...
        assert client.get("/v1/distributors/D-N1/suggestions", headers=north).status_code == 200
        now[0] += 0.2
        # ... after it, the database is asked again, and the revocation holds
        revoked = client.get("/v1/distributors/D-N1/suggestions", headers=north)
        assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]


def test_an_unknown_key_is_asked_every_time_not_cached(settings: Settings, keys: Keys) -> None:
    app = create_app(settings.model_copy(update={"key_cache_seconds": 3600}))
    planner = keys.headers("planner")
    stored = hash_key(planner["X-API-Key"])
    with TestClient(app) as client:
        with app.state.db.session() as session:  # the key is unknown for a moment ...
            session.execute(
                update(ApiKey).where(ApiKey.key_hash == stored).values(key_hash="0" * 64)
            )
        for _ in range(2):
            assert client.get("/v1/plans", headers=planner).status_code == 401
        with app.state.db.session() as session:  # ... then known again
            session.execute(
                update(ApiKey).where(ApiKey.key_hash == "0" * 64).values(key_hash=stored)
            )
        # a cached "unknown" would still say 401 for the next hour
        assert client.get("/v1/plans", headers=planner).status_code == 200
