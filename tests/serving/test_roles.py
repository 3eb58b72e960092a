"""Every /v1 endpoint: no key is 401; a distributor key is 403 everywhere but its own data.

The endpoints are read from the app's OpenAPI schema, so a new endpoint is covered the day it lands.
"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

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
