"""POST /v1/allocations: sync plans, Idempotency-Key, large requests as jobs run by the worker."""

from __future__ import annotations

import codecs
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from serving.api.routes.models import RETRAIN
from serving.config import Settings
from serving.jobs import claim_next, enqueue, run_next, run_worker
from serving.models import AuditEntry, Plan, PlanLine, StockPosition
from tests.serving.conftest import Keys, allocation_body, create_plan, demand_rows
from tests.serving.registry import registry_copy, sales_rows


def test_small_allocation_is_answered_at_once_and_stored(
    seeded: TestClient, keys: Keys, app: FastAPI
) -> None:
    plan = create_plan(seeded, keys)
    assert plan["status"] == "draft"
    assert plan["demand_source"] == "request" and plan["model_version"] is None
    assert plan["solver"]["status"] == "optimal"
    assert plan["horizon"] == 14 and plan["starts"] == "2026-01-01"
    assert plan["lines"] > 0
    read = seeded.get(f"/v1/plans/{plan['id']}", headers=keys.headers("planner")).json()
    assert read == plan
    # four weekly rows (a week from each date) are 28 days of demand, not 4 (one a date)
    week_starts = {"2026-01-01", "2026-01-08", "2026-01-15", "2026-01-22"}
    weekly = [row for row in demand_rows(days=28) if row["date"] in week_starts]
    body = {"demand": weekly, "today": "2026-01-01"}
    answer = seeded.post("/v1/allocations", json=body, headers=keys.headers("planner"))
    assert answer.status_code == 201 and answer.json()["horizon"] == 28
    # weeks dated on Sunday in one series, Thursday in another: a week each, not a day
    sunday = [{**row, "sku": "SKU-002", "date": "2025-12-28"} for row in weekly[:1]]
    body = {"demand": [*weekly[:4], *sunday], "today": "2026-01-01"}
    answer = seeded.post("/v1/allocations", json=body, headers=keys.headers("planner"))
    assert answer.status_code == 201 and answer.json()["horizon"] == 28  # from today, 01-01
    # rows before today are left out of the plan, and of its days (17 were counted, not 5)
    days = pd.date_range("2025-12-20", "2026-01-05").strftime("%Y-%m-%d")
    before = [{**row, "date": day} for row in weekly[:1] for day in days]
    body = {"demand": before, "today": "2026-01-01"}
    answer = seeded.post("/v1/allocations", json=body, headers=keys.headers("planner"))
    assert answer.status_code == 201 and answer.json()["horizon"] == 5, answer.text
    # one weekly row per series: nothing says it is a week, not a day (it was read as a day)
    body = {"demand": weekly[::4], "today": "2026-01-01"}
    answer = seeded.post("/v1/allocations", json=body, headers=keys.headers("planner"))
    assert answer.status_code == 422 and "every series has a single date" in answer.text
    # the same where `skus` leaves out the one series with two dates
    other = next(row for row in weekly if row["sku"] == "SKU-002")
    body = {"demand": [*weekly[:2], other], "today": "2026-01-01", "skus": ["SKU-002"]}
    answer = seeded.post("/v1/allocations", json=body, headers=keys.headers("planner"))
    assert answer.status_code == 422 and "every series has a single date" in answer.text
    lines = seeded.get(
        f"/v1/plans/{plan['id']}/lines",
        params={"kind": "replenishment", "limit": 500},
        headers=keys.headers("planner"),
    ).json()
    assert lines["count"] > 0
    assert all(line["reason"] for line in lines["data"])
    # region protection and red credit hold in what was stored
    assert not any(line["destination"] == "D-E2" for line in lines["data"])
    with app.state.db.session() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
        assert "allocation.create" in actions


def test_a_point_forecast_sent_in_the_quantiles_is_said_in_the_plan(
    seeded: TestClient, keys: Keys
) -> None:
    # Planned with no safety stock at every service target, without a word (as allocate said
    # it already, the API did not).
    rows = [{**row, "quantiles": dict.fromkeys(row["quantiles"], row["forecast"])}
            for row in demand_rows()]  # fmt: skip
    answer = seeded.post(
        "/v1/allocations",
        json={"demand": rows, "today": "2026-01-01"},
        headers=keys.headers("planner"),
    )
    assert answer.status_code == 201, answer.text
    assert "no spread to set safety stock from" in answer.json()["solver"]["demand_note"]
    assert create_plan(seeded, keys)["solver"].get("demand_note") is None  # quantiles apart


def test_idempotency_key_replays_the_first_answer(
    seeded: TestClient, keys: Keys, app: FastAPI
) -> None:
    headers = {**keys.headers("planner"), "Idempotency-Key": "order-2026-01-01"}
    first = seeded.post("/v1/allocations", json=allocation_body(), headers=headers)
    again = seeded.post("/v1/allocations", json=allocation_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    with app.state.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Plan)) == 1
    changed = seeded.post("/v1/allocations", json=allocation_body(solver="cbc"), headers=headers)
    assert changed.status_code == 422
    problem = changed.json()["detail"][0]  # FastAPI's shape, as the route documents its 422s
    assert problem["loc"] == ["header", "Idempotency-Key"]
    assert "different request body" in problem["msg"]
    # the key is per API key: another planner's key is another namespace
    other = seeded.post(
        "/v1/allocations",
        json=allocation_body(),
        headers={**keys.headers("admin"), "Idempotency-Key": "order-2026-01-01"},
    )
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


def test_exact_packs_need_a_time_limit_and_get_a_labelled_plan_within_it(
    seeded: TestClient, keys: Keys
) -> None:
    planner = keys.headers("planner")
    refused = seeded.post(
        "/v1/allocations", json=allocation_body(integer_packs=True), headers=planner
    )
    assert refused.status_code == 422
    problem = refused.json()["detail"][0]
    assert problem["loc"] == ["body", "integer_packs"]
    assert "integer_packs needs time_limit" in problem["msg"]
    plan = create_plan(seeded, keys, integer_packs=True, time_limit=30)
    solver = plan["solver"]
    assert solver["rounding"] == "milp" and solver["status"] in ("optimal", "time_limited")
    assert solver["objective"] <= solver["start_objective"] * (1 + 1e-9)


def test_without_a_key_every_request_makes_a_plan(seeded: TestClient, keys: Keys) -> None:
    first, second = create_plan(seeded, keys), create_plan(seeded, keys)
    assert first["id"] != second["id"]


def test_allocation_needs_a_network_and_names_it(client: TestClient, keys: Keys) -> None:
    response = client.post(
        "/v1/allocations", json=allocation_body(), headers=keys.headers("planner")
    )
    assert response.status_code == 422
    assert "PUT /v1/network" in response.json()["detail"][0]["msg"]


def test_demand_for_an_unknown_location_is_422_naming_it(seeded: TestClient, keys: Keys) -> None:
    rows = demand_rows(days=2)
    rows[0]["location"] = "D-XX"
    response = seeded.post(
        "/v1/allocations", json={"demand": rows}, headers=keys.headers("planner")
    )
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["item"] == "D-XX" and problem["field"] == "location"


def test_crossing_or_repeated_quantiles_are_422_naming_them(seeded: TestClient, keys: Keys) -> None:
    crossing = demand_rows(days=2)
    crossing[3]["quantiles"]["q0.95"] = 1.0  # below q0.9
    repeated = demand_rows(days=2)
    for row in repeated:
        row["quantiles"]["q.90"] = row["quantiles"]["q0.9"]
    lacking = demand_rows(days=2)
    del lacking[2]["quantiles"]["q0.9"]  # was "fails not_nullable at row(s) [2] (value nan)"
    for rows, fields, text in (
        (crossing, {"q0.95"}, "'q0.95' is below 'q0.9' at row(s) [3]"),
        (repeated, {"q.90", "q0.9"}, "are both level 0.9"),
        (lacking, {"quantiles"}, "row(s) [2] lack quantile(s) such as q0.9 that other rows"),
    ):
        response = seeded.post(
            "/v1/allocations", json={"demand": rows}, headers=keys.headers("planner")
        )
        assert response.status_code == 422
        problem = response.json()["detail"][0]
        assert problem["field"] in fields and text in problem["msg"], problem


def test_the_body_is_json_with_or_without_a_byte_order_mark(seeded: TestClient, keys: Keys) -> None:
    body = json.dumps(allocation_body()).encode()
    planner = keys.headers("planner")
    with_mark = {**planner, "Content-Type": "application/json; charset=utf-8"}
    response = seeded.post("/v1/allocations", content=codecs.BOM_UTF8 + body, headers=with_mark)
    assert response.status_code == 201, response.text
    as_text = {**planner, "Content-Type": "text/plain"}
    response = seeded.post("/v1/allocations", content=body, headers=as_text)
    assert response.status_code == 415 and "application/json" in response.json()["detail"]


def test_skus_are_none_or_some_that_the_demand_rows_have(seeded: TestClient, keys: Keys) -> None:
    planner = keys.headers("planner")
    response = seeded.post("/v1/allocations", json=allocation_body(skus=[]), headers=planner)
    assert response.status_code == 422  # planned every SKU
    response = seeded.post(
        "/v1/allocations",
        json={**allocation_body(skus=["SKU-001"]), "demand": demand_rows(days=2)[-2:]},
        headers=planner,
    )
    assert response.status_code == 422
    assert "match no `demand` row" in response.json()["detail"][0]["msg"]


def test_a_sku_the_network_lacks_is_422_naming_it(seeded: TestClient, keys: Keys) -> None:
    for body in ({"horizon": 7, "skus": ["NOPE"]}, allocation_body(skus=["SKU-001", "NOPE"])):
        response = seeded.post("/v1/allocations", json=body, headers=keys.headers("planner"))
        assert response.status_code == 422  # was "no stored sales with sku in ['NOPE']"
        problem = response.json()["detail"][0]
        assert problem["item"] == "NOPE" and "not in the network" in problem["msg"]
        assert problem["loc"] == ["body", "skus", "NOPE"]  # was [..., "NOPE", "skus"]


def test_champion_demand_without_a_model_is_503_saying_why(seeded: TestClient, keys: Keys) -> None:
    response = seeded.post("/v1/allocations", json={"horizon": 7}, headers=keys.headers("planner"))
    assert response.status_code == 503
    assert "no 'champion' version" in response.json()["detail"]


def test_champion_demand_without_sales_is_422_saying_what_to_do(
    seeded: TestClient, keys: Keys, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    registry_copy(tmp_path_factory, Path(settings.tracking_uri.removeprefix("sqlite:///")))
    response = seeded.post("/v1/allocations", json={"horizon": 7}, headers=keys.headers("planner"))
    assert response.status_code == 422
    assert "POST /v1/sales" in response.json()["detail"][0]["msg"]


def test_large_allocation_is_a_job_the_worker_runs(
    seeded: TestClient, keys: Keys, app: FastAPI, settings: Settings
) -> None:
    planner = keys.headers("planner")
    # 3 SKUs x 6 locations = 18 series; this app answers at most 50 at once: make it 0
    app.state.settings = settings.model_copy(update={"sync_allocation_limit": 10})
    response = seeded.post("/v1/allocations", json=allocation_body(), headers=planner)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and job["kind"] == "allocation"
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert run_worker(settings, app.state.db, stop=threading.Event(), max_jobs=1) == 1
    done = seeded.get(f"/v1/jobs/{job['id']}", headers=planner).json()
    assert done["status"] == "succeeded", done
    plan_id = done["result"]["plan_id"]
    plan = seeded.get(f"/v1/plans/{plan_id}", headers=planner).json()
    assert plan["status"] == "draft" and plan["lines"] > 0
    with app.state.db.session() as session:
        assert (
            session.scalar(select(func.count()).where(PlanLine.plan_id == plan_id)) == plan["lines"]
        )


def test_a_large_request_is_checked_before_it_is_queued(
    seeded: TestClient, keys: Keys, app: FastAPI, settings: Settings
) -> None:
    planner = keys.headers("planner")
    app.state.settings = settings.model_copy(update={"sync_allocation_limit": 0})
    bad_policy = allocation_body(policy={"service_target": {"strategic": 7}})
    response = seeded.post("/v1/allocations", json=bad_policy, headers=planner)
    assert response.status_code == 422  # was a job that failed later
    assert "service_target" in response.json()["detail"][0]["msg"]
    unknown = allocation_body()
    unknown["demand"][0]["location"] = "D-XX"
    response = seeded.post("/v1/allocations", json=unknown, headers=planner)
    assert response.status_code == 422 and response.json()["detail"][0]["item"] == "D-XX"
    late = allocation_body(today="2030-01-01")
    response = seeded.post("/v1/allocations", json=late, headers=planner)
    assert response.status_code == 422, response.text  # was a job failing in the queue
    assert "today 2030-01-01: no demand row falls inside" in response.json()["detail"][0]["msg"]
    # Daily rows end on 2026-01-14: a week later is refused too (each row was taken for a month).
    response = seeded.post(
        "/v1/allocations", json=allocation_body(today="2026-01-20"), headers=planner
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "today"]
    # Rows past D-N1's own cover (7 + 2 days) but inside the longest any node has (7 + 4)
    beyond = [
        {"sku": "SKU-001", "location": "D-N1", "date": day, "forecast": 10.0}
        for day in ("2026-01-11", "2026-01-12")
    ]
    response = seeded.post(
        "/v1/allocations", json={"demand": beyond, "today": "2026-01-01"}, headers=planner
    )
    assert response.status_code == 422, response.text  # was queued, and the job failed
    assert "at most 9 days" in response.json()["detail"][0]["msg"]
    assert seeded.get("/v1/jobs", headers=planner).json()["count"] == 0
    last_day = seeded.post(
        "/v1/allocations", json=allocation_body(today="2026-01-14"), headers=planner
    )
    assert last_day.status_code == 202, last_day.text


def test_failed_job_records_why(
    seeded: TestClient, keys: Keys, app: FastAPI, settings: Settings
) -> None:
    planner = keys.headers("planner")
    app.state.settings = settings.model_copy(update={"sync_allocation_limit": 0})
    job = seeded.post("/v1/allocations", json=allocation_body(), headers=planner).json()
    # What the request was checked against changes before the worker takes the job.
    with app.state.db.session() as session:
        session.execute(delete(StockPosition))
    run_worker(settings, app.state.db, stop=threading.Event(), max_jobs=1)
    failed = seeded.get(f"/v1/jobs/{job['id']}", headers=planner).json()
    assert failed["status"] == "failed"
    assert "MissingInputError" in failed["error"] and "PUT /v1/stock" in failed["error"]
    listed = seeded.get("/v1/jobs", params={"status": "failed"}, headers=planner).json()
    assert [j["id"] for j in listed["data"]] == [job["id"]]


def test_a_queued_job_is_cancelled_and_no_worker_runs_it(
    seeded: TestClient, keys: Keys, app: FastAPI, settings: Settings
) -> None:
    # A job queued behind a long one had no way out of the queue.
    planner = keys.headers("planner")
    app.state.settings = settings.model_copy(update={"sync_allocation_limit": 0})
    first = seeded.post("/v1/allocations", json=allocation_body(), headers=planner).json()
    second = seeded.post("/v1/allocations", json=allocation_body(), headers=planner).json()
    cancelled = seeded.post(f"/v1/jobs/{first['id']}/cancel", headers=planner)
    assert cancelled.status_code == 200, cancelled.text
    assert (
        cancelled.json()["status"] == "cancelled"
        and "cancelled by key" in cancelled.json()["error"]
    )
    assert run_worker(settings, app.state.db, stop=threading.Event(), max_jobs=1) == 1
    assert not run_next(settings, app.state.db, "test-worker")  # nothing left to claim
    assert seeded.get(f"/v1/jobs/{first['id']}", headers=planner).json()["status"] == "cancelled"
    done = seeded.get(f"/v1/jobs/{second['id']}", headers=planner).json()
    assert done["status"] == "succeeded", done
    # ended (or running) jobs stay as they are; an unknown one is a 404
    again = seeded.post(f"/v1/jobs/{second['id']}/cancel", headers=planner)
    assert again.status_code == 409 and "is succeeded" in again.json()["detail"]
    assert seeded.post("/v1/jobs/999/cancel", headers=planner).status_code == 404
    # a job a worker has claimed runs on: the cancel changes nothing
    third = seeded.post("/v1/allocations", json=allocation_body(), headers=planner).json()
    claimed = claim_next(app.state.db, "test-worker", settings)
    assert claimed is not None and claimed.id == third["id"]
    running = seeded.post(f"/v1/jobs/{third['id']}/cancel", headers=planner)
    assert running.status_code == 409 and "is running" in running.json()["detail"]
    assert seeded.get(f"/v1/jobs/{third['id']}", headers=planner).json()["status"] == "running"
    listed = seeded.get("/v1/jobs", params={"status": "cancelled"}, headers=planner).json()
    assert [j["id"] for j in listed["data"]] == [first["id"]]
    with app.state.db.session() as session:
        cancels = session.scalars(
            select(AuditEntry.resource_id).where(AuditEntry.action == "job.cancel")
        ).all()
    assert cancels == [str(first["id"])]
    # a retrain is an admin's to cancel, as to start
    with app.state.db.session(write=True) as session:
        retrain = enqueue(session, RETRAIN, {"horizon": 7}).id
    refused = seeded.post(f"/v1/jobs/{retrain}/cancel", headers=planner)
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    admin = seeded.post(f"/v1/jobs/{retrain}/cancel", headers=keys.headers("admin"))
    assert admin.status_code == 200 and admin.json()["status"] == "cancelled"


def test_concurrent_requests_with_one_idempotency_key_make_one_plan(
    seeded: TestClient, keys: Keys, live_url: str, app: FastAPI
) -> None:
    headers = {**keys.headers("planner"), "Idempotency-Key": "burst-1"}
    body = allocation_body()

    def post(_: int) -> tuple[int, int]:
        with httpx.Client(base_url=live_url, timeout=120) as http:
            response = http.post("/v1/allocations", json=body, headers=headers)
            return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(post, range(6)))
    assert {code for code, _ in answers} == {201}
    assert len({plan_id for _, plan_id in answers}) == 1
    with app.state.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Plan)) == 1


def test_champion_plan_names_the_model_version_and_ready_turns_200(
    seeded: TestClient, keys: Keys, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    registry = registry_copy(
        tmp_path_factory, Path(settings.tracking_uri.removeprefix("sqlite:///"))
    )
    planner = keys.headers("planner")
    ingest = seeded.post("/v1/sales", json={"rows": sales_rows(registry.sales)}, headers=planner)
    assert ingest.status_code == 201, ingest.text
    response = seeded.post(
        "/v1/allocations", json={"horizon": 14, "skus": ["SKU-001", "SKU-002"]}, headers=planner
    )
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["demand_source"] == "champion" and plan["model_version"] == "1"
    assert plan["horizon"] == 14
    # series without history (D-N2, FW-E1, D-E2 never sold in the slice) are named, not hidden
    assert "no sales history" in plan["solver"]["demand_note"]
    # stored series the network has no place for are named too: they were left out silently
    sales = registry.sales
    other = sales[(sales["sku"] == "SKU-001") & (sales["location"] == "FW-N1")]
    other = other.assign(sku="NEW-9")
    ingest = seeded.post("/v1/sales", json={"rows": sales_rows(other)}, headers=planner)
    assert ingest.status_code == 201, ingest.text
    again = seeded.post("/v1/allocations", json={"horizon": 14}, headers=planner).json()
    assert again["solver"]["demand_note"].endswith(
        "1 stored sales series are outside the network and get no plan: NEW-9@FW-N1 (SKU not "
        "in the network)"
    )
    lines = seeded.get(
        f"/v1/plans/{plan['id']}/lines", params={"limit": 500}, headers=planner
    ).json()
    assert {line["sku"] for line in lines["data"]} <= {"SKU-001", "SKU-002"}
    ready = seeded.get("/ready")
    assert ready.status_code == 200 and ready.json()["model"]["version"] == "1"
    # a plan day before every forecast day names `today`, not `demand` the body lacks
    early = seeded.post(
        "/v1/allocations", json={"horizon": 7, "today": "2020-01-01"}, headers=planner
    )
    assert early.status_code == 422
    assert early.json()["detail"][0]["loc"] == ["body", "today"]
    assert "the forecast covers" in early.json()["detail"][0]["msg"]
    # queued (large), a plan day after every forecast day is refused first, not in the queue
    seeded.app.state.settings = settings.model_copy(update={"sync_allocation_limit": 0})
    late = seeded.post(
        "/v1/allocations", json={"horizon": 7, "today": "2030-01-01"}, headers=planner
    )
    assert late.status_code == 422 and "no demand day" in late.json()["detail"][0]["msg"]
    # and so is one so far before them that every cover period ends first (it was queued, and
    # the job failed with the sync path's 422 as a flat string)
    early = seeded.post(
        "/v1/allocations", json={"horizon": 7, "today": "2020-01-01"}, headers=planner
    )
    assert early.status_code == 422 and "no demand day" in early.json()["detail"][0]["msg"]
    assert early.json()["detail"][0]["loc"] == ["body", "today"]
    assert seeded.get("/v1/jobs", headers=planner).json()["count"] == 0


def test_a_bad_allocation_body_is_422_in_fastapis_shape(client: TestClient, keys: Keys) -> None:
    planner = keys.headers("planner")
    rows = demand_rows(days=1)
    rows[1]["forecast"] = -1
    response = client.post("/v1/allocations", json={"demand": rows}, headers=planner)
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["loc"] == ["body", "demand", 1, "forecast"]
    assert problem["type"] == "greater_than_equal" and problem["input"] == -1
    broken = client.post(
        "/v1/allocations",
        content=b'{"demand": [{"sku": "SKU-001"',
        headers={**planner, "Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    problem = broken.json()["detail"][0]
    assert problem["loc"] == ["body"] and problem["type"] == "json_invalid"
    assert "input" not in problem  # the body is not echoed back
    unknown = client.post("/v1/allocations", json={"horizon": 7, "extra": 1}, headers=planner)
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "extra"]
    # the key is checked before the body is read (reading this one would be a 422)
    anonymous = client.post(
        "/v1/allocations", content=b"not json", headers={"Content-Type": "application/json"}
    )
    assert anonymous.status_code == 401


_ROW = '{"sku": "SKU-001", "location": "FW-E1", "date": "2026-01-01", "forecast": %s}'


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"demand": [%s]}' % (_ROW % "1e400"), "forecast"),
        ('{"demand": [%s]}' % (_ROW % "NaN"), "forecast"),
        ('{"demand": [%s], "policy": {"overstock_days": Infinity}}' % (_ROW % 1), "overstock_days"),
        (
            '{"demand": [%s], "policy": {"overstock_days": "Infinity"}}' % (_ROW % 1),
            "overstock_days",
        ),
    ],
)
def test_a_non_finite_number_is_422_not_500(
    seeded: TestClient, keys: Keys, body: str, where: str
) -> None:
    response = seeded.post(
        "/v1/allocations",
        content=body.encode(),
        headers={**keys.headers("planner"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    problem = response.json()["detail"][0]
    assert problem["loc"][-1] == where


@pytest.mark.parametrize(
    ("who", "path", "field"),
    [
        ("planner", "/v1/sales", "rows"),
        ("planner", "/v1/plans/1/approve", "note"),
        ("north", "/v1/distributors/D-N1/acknowledgements", "plan_id"),
    ],
)
def test_a_deeply_nested_body_is_422_with_a_bounded_echo(
    client: TestClient, keys: Keys, who: str, path: str, field: str
) -> None:
    deep = "[" * 600 + "]" * 600  # JSON parses it; echoing it whole took the 422 into a 500
    response = client.post(
        path,
        content=f'{{"{field}": {deep}}}'.encode(),
        headers={**keys.headers(who), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    problem = response.json()["detail"][0]
    assert problem["loc"][:2] == ["body", field]
    assert len(response.content) < 5_000


def test_a_422_lists_the_first_hundred_errors_and_counts_the_rest(
    client: TestClient, keys: Keys
) -> None:
    # 150,000 positions of on_hand "1" answered 17 MB: a 422 bigger than its request.
    rows = [{"sku": f"S{i}", "node": "CW", "on_hand": "1"} for i in range(2_500)]
    response = client.put("/v1/stock", json={"positions": rows}, headers=keys.headers("planner"))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert len(detail) == 101 and detail[0]["loc"] == ["body", "positions", 0, "on_hand"]
    assert detail[-1]["msg"].startswith("2400 more errors not listed")
    assert len(response.content) < 50_000


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/plans/1/approve", b'{"note": "\\ud800"}'),
        ("POST", "/v1/sales", b'{"rows": [{"sku": "\\ud800"}]}'),
        ("PATCH", "/v1/stock", b'{"positions": [], "\\ud800": 1}'),
        ("PUT", "/v1/network", b'{"\\ud800": 1}'),
    ],
)
def test_a_lone_surrogate_in_a_body_is_echoed_escaped_not_a_500(
    client: TestClient, keys: Keys, method: str, path: str, body: bytes
) -> None:
    headers = {**keys.headers("planner"), "Content-Type": "application/json"}
    response = client.request(method, path, content=body, headers=headers)
    assert response.status_code == 422, response.text  # was a 500: not writable as UTF-8
    assert response.content.isascii() and "\\ud800" in response.text


def test_a_plan_day_outside_the_forecast_is_422_naming_its_dates(
    seeded: TestClient, keys: Keys
) -> None:
    body = {**allocation_body(), "today": "2030-01-01"}
    response = seeded.post("/v1/allocations", json=body, headers=keys.headers("planner"))
    assert response.status_code == 422
    assert "no forecast date inside the cover periods" in response.json()["detail"][0]["msg"]
    assert response.json()["detail"][0]["loc"] == ["body", "today"]  # was demand.date


def test_a_horizon_beside_demand_rows_is_the_days_they_cover_or_422(
    seeded: TestClient, keys: Keys
) -> None:
    planner = keys.headers("planner")
    # 14 days of rows with "horizon": 7 was a 14-day plan, the horizon sent never read
    response = seeded.post("/v1/allocations", json=allocation_body(horizon=7), headers=planner)
    assert response.status_code == 422, response.text
    problem = response.json()["detail"][0]
    assert problem["loc"] == ["body", "horizon"]
    assert "the `demand` rows sent cover 14 days" in problem["msg"]
    for body in (allocation_body(horizon=14), allocation_body()):  # said or left out: 14 days
        response = seeded.post("/v1/allocations", json=body, headers=planner)
        assert response.status_code == 201, response.text
        assert response.json()["horizon"] == 14


def test_rows_lacking_a_quantile_are_named_and_only_they(seeded: TestClient, keys: Keys) -> None:
    other = demand_rows(days=2)
    other[1]["quantiles"] = {"q0.5": 3.0}  # gives q0.5 and lacks the others: row 1 alone
    spelled = demand_rows(days=2)
    for row in spelled[2:]:  # the level of q0.9 named "q0.90" in every row but the first two
        row["quantiles"]["q0.90"] = row["quantiles"].pop("q0.9")
    for rows, text in (
        # was "row(s) [0, 1, 2, 3, 4] lack quantile(s) such as q0.5, q0.9, q0.95" (every row)
        (other, "row(s) [1] lack quantile(s) such as q0.9 that other rows give;"),
        # was "row(s) [0, 1, 2, 3, 4] lack quantile(s) such as q0.90" (every row; its level
        # is there, named q0.9)
        (
            spelled,
            "row(s) [0, 1] lack quantile(s) such as q0.90 that other rows give "
            "(row 0 names level 0.9 'q0.9'",
        ),
    ):
        response = seeded.post(
            "/v1/allocations", json={"demand": rows}, headers=keys.headers("planner")
        )
        assert response.status_code == 422
        problem = response.json()["detail"][0]
        assert problem["field"] == "quantiles" and text in problem["msg"], problem
