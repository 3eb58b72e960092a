"""POST /v1/sales: validation through forecasting (naming rows), zero fill, replacement of days."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
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
    assert body["rows"] == 3 and body["series"] == 1  # days 3 and 4 read as zeros
    assert (body["first_date"], body["last_date"]) == ("2026-01-01", "2026-01-05")
    second = client.post("/v1/sales", json={"rows": _rows([5, 6], units=7.0)}, headers=planner)
    assert second.status_code == 201
    with app.state.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SalesRow)) == 4
        sales = stored_sales(session)
    assert sales["units"].tolist() == [2.0, 2.0, 0.0, 0.0, 7.0, 7.0]
    listed = client.get("/v1/sales/ingests", headers=planner).json()
    assert [i["id"] for i in listed["data"]] == [second.json()["id"], body["id"]]
    # A correction of days 1 and 6 leaves the days between as stored (they were set to zero);
    # another series sent on day 2 alone makes day 2 one of no sales for this one.
    other = {**_rows([2])[0], "sku": "SKU-002"}
    third = client.post(
        "/v1/sales", json={"rows": [*_rows([1, 6], units=3.0), other]}, headers=planner
    )
    assert third.status_code == 201, third.text
    with app.state.db.session() as session:
        sales = stored_sales(session)
    ours = sales[sales["sku"] == "SKU-001"]
    assert ours["units"].tolist() == [3.0, 0.0, 0.0, 0.0, 7.0, 3.0]


def test_a_correction_of_days_apart_in_a_stored_daily_history_is_taken(
    client: TestClient, keys: Keys, app: FastAPI
) -> None:
    # Days 1, 3, 5 and 7 of a stored daily history: refused as "2 or more days apart, not
    # daily", where the batch corrects four days of a history already read as daily.
    planner = keys.headers("planner")
    stored = client.post("/v1/sales", json={"rows": _rows(list(range(1, 11)))}, headers=planner)
    assert stored.status_code == 201, stored.text
    fix = client.post("/v1/sales", json={"rows": _rows([1, 3, 5, 7], units=4.0)}, headers=planner)
    assert fix.status_code == 201, fix.text
    with app.state.db.session() as session:
        sales = stored_sales(session)
    assert sales["units"].tolist() == [4.0, 2.0, 4.0, 2.0, 4.0, 2.0, 4.0, 2.0, 2.0, 2.0]


def test_duplicate_days_are_422_naming_the_rows(client: TestClient, keys: Keys) -> None:
    rows = _rows([1, 2, 2])
    response = client.post("/v1/sales", json={"rows": rows}, headers=keys.headers("planner"))
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["type"] == "sales_validation"
    assert problem["rows"] and set(problem["rows"]) <= {2, 3}  # from 1, as the message says
    assert problem["loc"][:3] == ["body", "rows", problem["rows"][0] - 1]  # from 0, as FastAPI


def test_negative_units_are_refused_at_the_edge(client: TestClient, keys: Keys) -> None:
    rows = _rows([1])
    rows[0]["units"] = -1
    response = client.post("/v1/sales", json={"rows": rows}, headers=keys.headers("planner"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "rows", 0, "units"]


def _stored_rows(app: FastAPI) -> int:
    with app.state.db.session() as session:
        return session.scalar(select(func.count()).select_from(SalesRow)) or 0


def test_a_day_after_today_or_a_mistyped_year_is_422_and_stores_nothing(
    client: TestClient, keys: Keys, app: FastAPI
) -> None:
    planner = keys.headers("planner")
    assert (
        client.post("/v1/sales", json={"rows": _rows([1, 2])}, headers=planner).status_code == 201
    )
    future = [*_rows([3]), {**_rows([4])[0], "date": "2200-12-31"}]
    response = client.post("/v1/sales", json={"rows": future}, headers=planner)
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["rows"] == [2] and "after today" in problem["msg"]
    # Two rows, 1900 and today: with zero fill they would have stored 46,000 rows.
    old = [{**_rows([3])[0], "sku": "SKU-002", "date": "1900-01-01"}, *_rows([3])]
    response = client.post("/v1/sales", json={"rows": old}, headers=planner)
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["rows"] == [1] and "1900-01-01" in problem["msg"] and "2026" in problem["msg"]
    assert _stored_rows(app) == 2


def test_days_after_the_stored_history_continue_it(
    client: TestClient, keys: Keys, app: FastAPI
) -> None:
    planner = keys.headers("planner")
    assert (
        client.post("/v1/sales", json={"rows": _rows([1, 2])}, headers=planner).status_code == 201
    )
    # One row 11 months on (a mistyped date): its series would be zero-filled back to January
    # and forecasts would start after it, every other series left behind.
    far = [*_rows([3]), {**_rows([4])[0], "sku": "SKU-002", "date": "2026-12-01"}]
    response = client.post("/v1/sales", json={"rows": far}, headers=planner)
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["rows"] == [2] and "starts 332 days after the day before it" in problem["msg"]
    assert _stored_rows(app) == 2
    # A closure of up to 31 days without a row is a gap the history may have.
    later = [{**_rows([1])[0], "date": "2026-02-02"}]
    assert client.post("/v1/sales", json={"rows": later}, headers=planner).status_code == 201
    # the same before it: one row ten years early (2016 typed 2006) zero-filled ten years
    early = [{**_rows([1])[0], "sku": "SKU-002", "date": "2016-01-01"}]
    response = client.post("/v1/sales", json={"rows": early}, headers=planner)
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert (
        problem["rows"] == [1]
        and "leaves 3653 days without a day up to 2026-01-01" in problem["msg"]
    )
    earlier = [{**_rows([1])[0], "sku": "SKU-002", "date": "2025-12-20"}]  # a backfill
    assert client.post("/v1/sales", json={"rows": earlier}, headers=planner).status_code == 201


def test_a_row_without_a_region_takes_its_locations_stored_one(
    client: TestClient, keys: Keys, app: FastAPI
) -> None:
    planner = keys.headers("planner")
    assert (
        client.post("/v1/sales", json={"rows": _rows([1, 2])}, headers=planner).status_code == 201
    )
    bare = [{key: value for key, value in row.items() if key != "region"} for row in _rows([3])]
    assert client.post("/v1/sales", json={"rows": bare}, headers=planner).status_code == 201
    with app.state.db.session() as session:
        assert stored_sales(session)["region"].tolist() == ["north"] * 3


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"region": "east"}, "other than its stored one"),  # FW-N1 is stored in the north
        ({"location": "FW-X", "region": None}, "without a region"),  # a new location, no region
    ],
)
def test_rows_that_would_break_the_stored_sales_are_422_and_store_nothing(
    client: TestClient, keys: Keys, app: FastAPI, change: dict[str, Any], words: str
) -> None:
    planner = keys.headers("planner")
    assert (
        client.post("/v1/sales", json={"rows": _rows([1, 2])}, headers=planner).status_code == 201
    )
    rows = [
        {key: value for key, value in {**row, **change}.items() if value is not None}
        for row in _rows([3, 4])
    ]
    response = client.post("/v1/sales", json={"rows": rows}, headers=planner)
    assert response.status_code == 422, response.text
    problem = response.json()["detail"][0]
    assert words in problem["msg"] and problem["rows"] == [1, 2]
    assert problem["loc"][:2] == ["body", "rows"]
    assert _stored_rows(app) == 2
    forecastable = client.get("/v1/sales/ingests", headers=planner)
    assert forecastable.status_code == 200 and forecastable.json()["count"] == 1


def test_ids_may_be_written_in_any_script_but_without_spaces(
    client: TestClient, keys: Keys, app: FastAPI
) -> None:
    planner = keys.headers("planner")
    rows = [
        {**row, "sku": "饮料-001", "location": "华东仓", "region": "华东"} for row in _rows([1])
    ]
    assert client.post("/v1/sales", json={"rows": rows}, headers=planner).status_code == 201
    with app.state.db.session() as session:
        assert stored_sales(session)["location"].tolist() == ["华东仓"]
    spaced = [{**row, "location": "FW N1"} for row in _rows([2])]
    response = client.post("/v1/sales", json={"rows": spaced}, headers=planner)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "rows", 0, "location"]


def test_an_ingest_answers_with_the_notes_its_rows_raise(client: TestClient, keys: Keys) -> None:
    # eight Mondays of 70 beside a daily series: weekly totals read as one day's sales a week
    days = pd.date_range("2026-01-05", periods=50, freq="D")
    daily = [{**_rows([1])[0], "date": day.date().isoformat()} for day in days]
    mondays = [
        {**_rows([1])[0], "sku": "SKU-002", "date": day.date().isoformat(), "units": 70.0}
        for day in days[::7]
    ]
    answer = client.post(
        "/v1/sales", json={"rows": daily + mondays}, headers=keys.headers("planner")
    )
    assert answer.status_code == 201, answer.text
    notes = answer.json()["notes"]
    assert len(notes) == 1 and "series have dates only whole weeks apart (SKU-002 at" in notes[0]
    # in a client's words: the service keeps daily sales, it has no --freq
    assert "--freq" not in notes[0] and "the service cannot store them" in notes[0]
    weekly = client.post("/v1/sales", json={"rows": mondays}, headers=keys.headers("planner"))
    assert weekly.status_code == 422, weekly.text
    message = weekly.json()["detail"][0]["msg"]
    assert "not daily" in message and "--freq" not in message
    assert "the service keeps daily sales" in message
    alone = client.post("/v1/sales", json={"rows": daily}, headers=keys.headers("planner"))
    assert alone.json()["notes"] == []
    # kept with the ingest: the list says the same as the answers did
    listed = client.get("/v1/sales/ingests", headers=keys.headers("planner")).json()["data"]
    assert [(i["id"], i["notes"]) for i in listed] == [
        (alone.json()["id"], []),
        (answer.json()["id"], notes),
    ]
