"""POST /v1/sales: validation through forecasting (naming rows), zero fill, replacement of days."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from serving.crud import stored_sales
from serving.models import SalesRow
from tests.serving.conftest import Keys


def _rows(days: list[int], units: float = 2.0) -> list[dict[str, Any]]:
    return [
        {
            "sku": "SKU-001",
            "location": "FW-N1",
            "region": "north",
            "date": f"2026-01-{day:02d}",
            "units": units,
            "price": 9.5,
            "promo": 0,
        }
        for day in days
    ]


def test_ingest_fills_missing_days_and_replaces_stored_days(
    client: TestClient, keys: Keys, app: FastAPI
) -> None:
    planner = keys.headers("planner")
    first = client.post("/v1/sales", json={"rows": _rows([1, 2, 5])}, headers=planner)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["rows"] == 5 and body["series"] == 1  # days 3 and 4 filled with zeros
    assert (body["first_date"], body["last_date"]) == ("2026-01-01", "2026-01-05")
    second = client.post("/v1/sales", json={"rows": _rows([5, 6], units=7.0)}, headers=planner)
    assert second.status_code == 201
    with app.state.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SalesRow)) == 6
        sales = stored_sales(session)
    assert sales["units"].tolist() == [2.0, 2.0, 0.0, 0.0, 7.0, 7.0]
    listed = client.get("/v1/sales/ingests", headers=planner).json()
    assert [i["id"] for i in listed["data"]] == [second.json()["id"], body["id"]]


def test_duplicate_days_are_422_naming_the_rows(client: TestClient, keys: Keys) -> None:
    rows = _rows([1, 2, 2])
    response = client.post("/v1/sales", json={"rows": rows}, headers=keys.headers("planner"))
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["type"] == "sales_validation"
    assert problem["rows"] and set(problem["rows"]) <= {2, 3}
    assert problem["loc"][:2] == ["body", "rows"]


def test_negative_units_are_refused_at_the_edge(client: TestClient, keys: Keys) -> None:
    rows = _rows([1])
    rows[0]["units"] = -1
    response = client.post("/v1/sales", json={"rows": rows}, headers=keys.headers("planner"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "rows", 0, "units"]
