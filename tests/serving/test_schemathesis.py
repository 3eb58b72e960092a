"""Schemathesis over the app's own OpenAPI schema: no 5xx, and every answer matches its schema.

One app for the whole module, with everything an endpoint may need already there (a champion
model, ingested sales, a network, stock, an approved plan), so generated requests reach the
code behind the validation layer instead of stopping at "nothing stored yet". Requests carry
an admin key (admins pass every role check). Bounded: a few examples per operation, no
deadline, so the module runs in well under a minute on two cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)
from schemathesis.core.result import Ok

from serving.auth import create_key
from serving.config import Settings
from serving.main import create_app
from serving.models import Role
from tests.serving.conftest import allocation_body, small_network, small_stock
from tests.serving.registry import registry_copy, sales_rows

EXAMPLES_PER_OPERATION = 6
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    """An app with a champion, sales, a network, stock and an approved plan; an admin key."""
    root = tmp_path_factory.mktemp("schemathesis")
    registry = registry_copy(tmp_path_factory, root / "mlflow.db")
    app = create_app(
        Settings(
            database_url=f"sqlite:///{root / 'allocast.db'}",
            tracking_uri=registry.tracking_uri,
            load_model_on_startup=False,
            max_body_bytes=1_000_000,
            sync_allocation_limit=50,
        )
    )
    with TestClient(app) as client:  # the lifespan migrates the database
        with app.state.db.session() as session:
            admin = create_key(session, Role.admin)[0]
        headers = {"X-API-Key": admin}
        for method, path, body in (
            ("PUT", "/v1/network", small_network()),
            ("PUT", "/v1/stock", {"positions": small_stock()}),
            ("POST", "/v1/sales", {"rows": sales_rows(registry.sales)}),
            ("POST", "/v1/allocations", allocation_body()),
            ("POST", "/v1/plans/1/approve", {}),
        ):
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code in (200, 201), (method, path, response.text)
        assert app.state.model_store.refresh().version == "1"
        yield app, admin


def _fuzz(operation: APIOperation, api_key: str) -> str | None:
    """Run the operation's generated cases; the first failure, in words, or None."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"X-API-Key": api_key}, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as error:  # a failed check, named below
        return f"{operation.label}: {type(error).__name__}: {error}"
    return None


@pytest.mark.slow
def test_no_server_errors_and_answers_match_the_schema(world: tuple[FastAPI, str]) -> None:
    app, api_key = world
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results  # the schema is valid
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) > 20
    failures = [failure for op in operations if (failure := _fuzz(op, api_key)) is not None]
    assert not failures, "\n\n".join(failures)


def test_the_schema_covers_the_model_facing_endpoints(world: tuple[FastAPI, str]) -> None:
    paths = world[0].openapi()["paths"]
    assert {"/v1/forecasts", "/v1/models", "/v1/models/{version}/promote"} <= set(paths)
    assert Path(__file__).name == "test_schemathesis.py"
