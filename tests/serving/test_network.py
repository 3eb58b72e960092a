"""PUT/GET /v1/network and /v1/stock: validation naming the item, roles, audit."""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from serving.models import AuditEntry, NetworkVersion
from tests.serving.conftest import Keys, allocation_body


def test_planner_uploads_and_reads_the_network(
    client: TestClient, keys: Keys, network_document: dict[str, Any], app: FastAPI
) -> None:
    response = client.put("/v1/network", json=network_document, headers=keys.headers("planner"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["warehouses"], body["distributors"], body["skus"]) == (5, 4, 3)
    read = client.get("/v1/network", headers=keys.headers("planner"))
    assert read.status_code == 200
    assert read.json()["id"] == body["id"]
    with app.state.db.session() as session:
        entries = session.scalars(select(AuditEntry)).all()
        assert [(e.action, e.role, e.resource_id) for e in entries] == [
            ("network.upload", "planner", str(body["id"]))
        ]


def test_bad_network_is_422_naming_the_item(
    client: TestClient, keys: Keys, network_document: dict[str, Any]
) -> None:
    network_document["distributors"][0]["served_by"] = ["RW-E"]  # crosses its territory
    response = client.put("/v1/network", json=network_document, headers=keys.headers("planner"))
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["item"] == "D-N1"
    assert problem["field"] == "distributors.served_by"
    assert "region protection" in problem["msg"]


def test_network_needs_a_planner_key(
    client: TestClient, keys: Keys, network_document: dict[str, Any]
) -> None:
    assert client.put("/v1/network", json=network_document).status_code == 401
    bad = {"X-API-Key": "ak_not-a-key"}
    assert client.get("/v1/network", headers=bad).status_code == 401
    for who in ("north", "east"):
        assert (
            client.put("/v1/network", json=network_document, headers=keys.headers(who)).status_code
            == 403
        )
        assert client.get("/v1/network", headers=keys.headers(who)).status_code == 403
    assert client.get("/v1/network", headers=keys.headers("admin")).status_code == 404


@pytest.fixture
def planner(client: TestClient, keys: Keys, network_document: dict[str, Any]) -> dict[str, str]:
    """A planner's headers, once the small network is stored."""
    headers = keys.headers("planner")
    assert client.put("/v1/network", json=network_document, headers=headers).status_code == 201
    return headers


def test_stock_replace_update_and_read(
    client: TestClient,
    keys: Keys,
    planner: dict[str, str],
    stock_rows: list[dict[str, Any]],
) -> None:
    response = client.put("/v1/stock", json={"positions": stock_rows}, headers=planner)
    assert response.status_code == 201, response.text
    assert response.json()["count"] == len(stock_rows)
    # YYYYMMDD as files write it (pydantic took it for seconds since 1970)
    transit = {"on_hand": 5.0, "in_transit": 492.0, "arrival_date": "20260103"}
    patch = {"positions": [{"sku": "SKU-001", "node": "CW", **transit}]}
    assert client.patch("/v1/stock", json=patch, headers=planner).status_code == 200
    patch = {"positions": [{"sku": "SKU-001", "node": "CW", "on_hand": 7.0}]}
    assert client.patch("/v1/stock", json=patch, headers=planner).status_code == 200
    page = client.get("/v1/stock", params={"sku": "SKU-001", "node": "CW"}, headers=planner).json()
    # on_hand alone: the 492 in transit stay (they were set to 0 with their arrival date)
    row = page["data"][0]
    assert page["count"] == 1 and (row["on_hand"], row["in_transit"]) == (7.0, 492.0)
    assert row["arrival_date"] == "2026-01-03"
    # Other numbers are no day: 0 was stored as 1970-01-01 (seconds since 1970).
    for number in (0, 86400, 1767398400000, "1767398400", 20260103.0):
        patch = {"positions": [{"sku": "SKU-001", "node": "CW", **transit, "arrival_date": number}]}
        refused = client.patch("/v1/stock", json=patch, headers=planner)
        assert refused.status_code == 422 and "expected YYYY-MM-DD or YYYYMMDD" in refused.text
    patch = {"positions": [{"sku": "SKU-001", "node": "CW", "on_hand": 7.0, "in_transit": 0}]}
    client.patch("/v1/stock", json=patch, headers=planner)
    page = client.get("/v1/stock", params={"sku": "SKU-001", "node": "CW"}, headers=planner).json()
    assert page["data"][0]["in_transit"] == 0.0 and page["data"][0]["arrival_date"] is None
    # new units in transit bring their own date: the old shipment's is not theirs
    patch["positions"][0]["in_transit"] = 5.0
    refused = client.patch("/v1/stock", json=patch, headers=planner)
    assert refused.status_code == 422 and "no arrival_date" in refused.text
    # a repeated filter lists values (it took the last one alone)
    both = client.get("/v1/stock?sku=SKU-001&sku=SKU-002&node=CW", headers=planner).json()
    assert [(row["sku"], row["node"]) for row in both["data"]] == [
        ("SKU-001", "CW"),
        ("SKU-002", "CW"),
    ]
    assert client.get("/v1/stock?sku=bad%20sku", headers=planner).status_code == 422
    assert client.get("/v1/stock", headers=keys.headers("north")).status_code == 403


def test_stock_takes_a_position_per_shipment(
    client: TestClient,
    planner: dict[str, str],
    stock_rows: list[dict[str, Any]],
) -> None:
    key = {"sku": "SKU-001", "node": "FW-N1"}
    shipments = [
        {**key, "on_hand": 0.0, "in_transit": 30.0, "arrival_date": "2026-02-20"},
        {**key, "on_hand": 0.0, "in_transit": 20.0, "arrival_date": "2026-01-03"},
    ]
    at_cw = {"sku": "SKU-001", "node": "CW", "on_hand": 0.0, "in_transit": 7.0}
    positions = [*stock_rows, *shipments, {**at_cw, "arrival_date": "2026-03-03"}]
    response = client.put("/v1/stock", json={"positions": positions}, headers=planner)
    assert response.status_code == 201, response.text
    page = client.get("/v1/stock", params=key, headers=planner).json()
    assert [(row["arrival_date"], row["on_hand"], row["in_transit"]) for row in page["data"]] == [
        (None, 10.0, 0.0),
        ("2026-01-03", 0.0, 20.0),
        ("2026-02-20", 0.0, 30.0),
    ]
    # The plan counts the 20 due in time; the 30 due after the cover period are late.
    plan = client.post("/v1/allocations", json=allocation_body(), headers=planner)
    assert plan.status_code == 201, plan.text
    lines = client.get(
        f"/v1/plans/{plan.json()['id']}/lines", params={"limit": 500}, headers=planner
    ).json()["data"]
    into = [line for line in lines if (line["sku"], line["destination"]) == tuple(key.values())]
    assert into and all("in transit 20.0" in line["reason"] for line in into)
    # Approval checks the plan against what each warehouse holds: all its rows, summed (CW's
    # last row alone, 7 in transit, read as all it held: a 409).
    approved = client.post(f"/v1/plans/{plan.json()['id']}/approve", headers=planner)
    assert approved.status_code == 200, approved.text
    # A PATCH of the on hand alone updates the undated position; one with a date, its
    # shipment (or adds it).
    changes = [
        {**key, "on_hand": 12.0},
        {**key, "on_hand": 0.0, "in_transit": 25.0, "arrival_date": "2026-01-03"},
        {**key, "on_hand": 0.0, "in_transit": 4.0, "arrival_date": "2026-01-10"},
    ]
    patched = client.patch("/v1/stock", json={"positions": changes}, headers=planner)
    assert patched.status_code == 200, patched.text
    page = client.get("/v1/stock", params=key, headers=planner).json()
    assert [(row["arrival_date"], row["on_hand"], row["in_transit"]) for row in page["data"]] == [
        (None, 12.0, 0.0),
        ("2026-01-03", 0.0, 25.0),
        ("2026-01-10", 0.0, 4.0),
        ("2026-02-20", 0.0, 30.0),
    ]
    # ... and is checked whole: the on hand is given once.
    twice = {"positions": [{**key, "on_hand": 3.0, "arrival_date": "2026-01-10"}]}
    refused = client.patch("/v1/stock", json=twice, headers=planner)
    assert refused.status_code == 422 and "SKU-001 at FW-N1 has on_hand on rows" in refused.text
    # Shipments with no undated position: the on hand alone is a new one.
    only_shipments = [{**shipment, "node": "FW-E1"} for shipment in shipments]
    client.put("/v1/stock", json={"positions": [*stock_rows, *only_shipments]}, headers=planner)
    at_fw_e1 = {**key, "node": "FW-E1"}
    patched = client.patch(
        "/v1/stock", json={"positions": [{**at_fw_e1, "on_hand": 5.0}]}, headers=planner
    )
    assert patched.status_code == 200, patched.text
    page = client.get("/v1/stock", params=at_fw_e1, headers=planner).json()
    assert [(row["arrival_date"], row["on_hand"]) for row in page["data"]] == [
        (None, 5.0),
        ("2026-01-03", 0.0),
        ("2026-02-20", 0.0),
    ]
    # A SKU and node with one stored row: its on hand and a new shipment in one PATCH.
    one_row = {"sku": "SKU-003", "node": "CW"}
    both = [
        {**one_row, "on_hand": 590.0},
        {**one_row, "on_hand": 0.0, "in_transit": 50.0, "arrival_date": "2026-01-09"},
    ]
    patched = client.patch("/v1/stock", json={"positions": both}, headers=planner)
    assert patched.status_code == 200, patched.text
    page = client.get("/v1/stock", params=one_row, headers=planner).json()
    assert [(row["arrival_date"], row["on_hand"], row["in_transit"]) for row in page["data"]] == [
        (None, 590.0, 0.0),
        ("2026-01-09", 0.0, 50.0),
    ]
    client.put("/v1/stock", json={"positions": positions}, headers=planner)
    # Two shipments due the same day are one position; the on hand is given once.
    twice = [*stock_rows, shipments[0], {**shipments[0], "in_transit": 5.0}]
    refused = client.put("/v1/stock", json={"positions": twice}, headers=planner)
    assert refused.status_code == 422 and "due 2026-02-20: send one position per" in refused.text
    joined = [*stock_rows, {**shipments[0], "on_hand": 10.0}]
    refused = client.put("/v1/stock", json={"positions": joined}, headers=planner)
    assert refused.status_code == 422 and "SKU-001 at FW-N1 has on_hand on rows" in refused.text
    assert client.get("/v1/stock", params=key, headers=planner).json()["count"] == 3
    # A repeat with no date says so.
    undated = [*stock_rows, stock_rows[0]]
    refused = client.put("/v1/stock", json={"positions": undated}, headers=planner)
    assert refused.status_code == 422 and "due with no date: send one" in refused.text


def test_patches_at_once_for_a_new_position_leave_one(
    client: TestClient,
    planner: dict[str, str],
    live_url: str,
    stock_rows: list[dict[str, Any]],
) -> None:
    # A PATCH reads the stored row of its key, then adds one where there is none: on PostgreSQL
    # three at once each added an undated row (NULLs are distinct in the unique key), and every
    # plan after was refused for the repeated key.
    key = {"sku": "SKU-003", "node": "FW-E1"}
    for _round in range(15):
        client.put("/v1/stock", json={"positions": stock_rows}, headers=planner)
        bodies = [{"positions": [{**key, "on_hand": float(v)}]} for v in (5, 6, 7)]
        assert _patched_at_once(live_url, planner, bodies) == [200, 200, 200]
        assert client.get("/v1/stock", params=key, headers=planner).json()["count"] == 1


def _patched_at_once(url: str, headers: dict[str, str], bodies: list[Any]) -> list[int]:
    """PATCH /v1/stock with each body from its own thread, all let go at once; the codes."""
    start = threading.Barrier(len(bodies))
    codes: list[int] = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:

        def patch(body: Any) -> None:
            start.wait()
            codes.append(http.patch("/v1/stock", json=body).status_code)

        threads = [threading.Thread(target=patch, args=(body,)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return codes


def test_a_stored_network_a_newer_check_refuses_is_read_back_and_refused_for_plans(
    client: TestClient, keys: Keys, app: FastAPI, network_document: dict[str, Any]
) -> None:
    # Stored by a release before the rule that yellow credit names its guaranteed amount.
    old = copy.deepcopy(network_document)
    old["distributors"][1]["credit"] = "yellow"  # and no guaranteed_amount
    with app.state.db.session() as session:
        session.add(NetworkVersion(document=old))
        session.commit()
    planner = keys.headers("planner")
    # The planner reads it back to correct it, told what is wrong with it.
    response = client.get("/v1/network", headers=planner)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["document"] == old
    assert (body["warehouses"], body["distributors"], body["skus"]) == (
        len(old["warehouses"]),
        len(old["distributors"]),
        len(old["skus"]),
    )
    problem = body["problem"]
    assert "the stored network (version 1)" in problem and "no guaranteed_amount" in problem
    assert "PUT /v1/network a corrected network" in problem
    # Plans on it are a 422 naming the same, never a 500.
    response = client.post("/v1/allocations", json=allocation_body(), headers=planner)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["msg"] == problem
    # Corrected and stored again, it reads back clean.
    old["distributors"][1]["guaranteed_amount"] = 500.0
    assert client.put("/v1/network", json=old, headers=planner).status_code == 201
    assert client.get("/v1/network", headers=planner).json()["problem"] is None


def test_stock_for_an_unknown_node_is_422(
    client: TestClient, keys: Keys, network_document: dict[str, Any]
) -> None:
    planner = keys.headers("planner")
    client.put("/v1/network", json=network_document, headers=planner)
    bad = {"positions": [{"sku": "SKU-001", "node": "NOWHERE", "on_hand": 1.0}]}
    response = client.put("/v1/stock", json=bad, headers=planner)
    assert response.status_code == 422
    assert "NOWHERE" in response.json()["detail"][0]["msg"]
    negative = {"positions": [{"sku": "SKU-001", "node": "CW", "on_hand": -1.0}]}
    response = client.put("/v1/stock", json=negative, headers=planner)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "on_hand"


@pytest.mark.parametrize("on_hand", [True, "5"])
def test_a_quantity_that_is_not_a_json_number_is_422(
    client: TestClient, keys: Keys, network_document: dict[str, Any], on_hand: object
) -> None:
    planner = keys.headers("planner")
    client.put("/v1/network", json=network_document, headers=planner)
    bad = {"positions": [{"sku": "SKU-001", "node": "CW", "on_hand": on_hand}]}
    response = client.put("/v1/stock", json=bad, headers=planner)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "positions", 0, "on_hand"]


def test_oversized_body_is_413(client: TestClient, keys: Keys) -> None:
    big = {"positions": [{"sku": "S" * 60, "node": "CW", "on_hand": 1.0}] * 40_000}
    response = client.put("/v1/stock", json=big, headers=keys.headers("planner"))
    assert response.status_code == 413
    assert "ALLOCAST_MAX_BODY_BYTES" in response.json()["detail"]


def test_streamed_body_over_the_limit_is_413(client: TestClient, keys: Keys) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"positions": ['
        for _ in range(60_000):
            yield b'{"sku": "SKU-001", "node": "CW", "on_hand": 1.0},'
        yield b"{}]}"

    headers = {**keys.headers("planner"), "Content-Type": "application/json"}
    response = client.put("/v1/stock", content=chunks(), headers=headers)
    assert response.status_code == 413


def test_malformed_json_is_422_not_500(client: TestClient, keys: Keys) -> None:
    headers = {**keys.headers("planner"), "Content-Type": "application/json"}
    response = client.put("/v1/network", content=b"{not json", headers=headers)
    assert response.status_code == 422


def test_control_characters_in_the_network_are_422(
    client: TestClient, keys: Keys, network_document: dict[str, Any]
) -> None:
    network_document["skus"][0]["id"] = "SKU\x00001"
    response = client.put("/v1/network", json=network_document, headers=keys.headers("planner"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "network.skus.0.id"


def test_dates_beyond_what_pandas_holds_are_422(client: TestClient, keys: Keys) -> None:
    rows = [{"sku": "SKU-001", "location": "FW-N1", "date": "9999-12-31", "units": 1}]
    response = client.post("/v1/sales", json={"rows": rows}, headers=keys.headers("planner"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "rows", 0, "date"]


def test_stock_needs_a_network_and_a_network_must_hold_the_stored_stock(
    client: TestClient,
    keys: Keys,
    network_document: dict[str, Any],
    stock_rows: list[dict[str, Any]],
) -> None:
    planner = keys.headers("planner")
    anything = {"positions": [{"sku": "ANY", "node": "WHATEVER", "on_hand": 1.0}]}
    for method in ("PUT", "PATCH"):  # unchecked, it broke every later plan
        response = client.request(method, "/v1/stock", json=anything, headers=planner)
        assert response.status_code == 409 and "PUT /v1/network first" in response.json()["detail"]
    assert client.put("/v1/network", json=network_document, headers=planner).status_code == 201
    assert (
        client.put("/v1/stock", json={"positions": stock_rows}, headers=planner).status_code == 201
    )
    without = {
        **network_document,
        "skus": [s for s in network_document["skus"] if s["id"] != "SKU-001"],
    }
    response = client.put("/v1/network", json=without, headers=planner)
    assert response.status_code == 409
    assert "SKU-001" in response.json()["detail"] and "PUT /v1/stock" in response.json()["detail"]
    assert client.get("/v1/network", headers=planner).json()["skus"] == len(
        network_document["skus"]
    )
    kept = [row for row in stock_rows if row["sku"] != "SKU-001"]
    assert client.put("/v1/stock", json={"positions": kept}, headers=planner).status_code == 201
    assert client.put("/v1/network", json=without, headers=planner).status_code == 201


@pytest.mark.parametrize("content_type", ["text/plain", None])
def test_a_body_not_sent_as_json_is_415_on_every_route_that_reads_one(
    client: TestClient, app: FastAPI, keys: Keys, content_type: str | None
) -> None:
    operations = [
        (method.upper(), re.sub(r"\{[a-z_]+\}", "1", path), operation)
        for path, methods in app.openapi()["paths"].items()
        for method, operation in methods.items()
        if "requestBody" in operation
    ]
    assert len(operations) >= 8  # network, stock x2, sales, allocations, plans x2, ack, retrain
    headers = keys.headers("admin")
    if content_type is not None:
        headers["Content-Type"] = content_type
    shown = "no content type" if content_type is None else f"content type '{content_type}'"
    for method, path, operation in operations:
        response = client.request(method, path, content=b'{"rows": []}', headers=headers)
        assert response.status_code == 415, (method, path, response.text)
        assert response.json()["detail"] == f"{shown}: send the body as application/json"
        assert {"415", "400", "503"} <= set(operation["responses"]), (method, path)


def test_a_query_parameter_that_takes_one_value_given_twice_is_422(
    client: TestClient, keys: Keys
) -> None:
    planner = keys.headers("planner")
    twice = client.get("/v1/plans?status=draft&status=approved&limit=5", headers=planner)
    assert twice.status_code == 422
    problem = twice.json()["detail"][0]
    assert problem["loc"] == ["query", "status"] and problem["input"] == ["draft", "approved"]
    assert "given 2 times" in problem["msg"]
    assert client.get("/v1/plans?status=draft", headers=planner).status_code == 200
    # a filter that takes a list takes it repeated
    assert client.get("/v1/stock?sku=A&sku=B", headers=planner).status_code != 422


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b'{"note": "caf\xe9"}', "byte(s) e9 at position 13"),
        (b'{"note": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deep"),
        (b'{"note": ' + b"9" * 5_000 + b"}", "has more than 4300 digits"),
    ],
)
def test_a_body_that_cannot_be_parsed_is_400_saying_why(
    client: TestClient, keys: Keys, body: bytes, text: str
) -> None:
    headers = {**keys.headers("planner"), "Content-Type": "application/json"}
    # the allocation route parses its own body (pydantic): it said 422 json_invalid
    for path in ("/v1/plans/1/approve", "/v1/allocations"):
        response = client.post(path, content=body, headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert text in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        # the last one won: the warehouse's capacity stored as 1
        ("put", "/v1/network", '{"warehouses": [{"id": "CW", "capacity": 100000, "capacity": 1}]}'),
        (
            "patch",
            "/v1/stock",
            '{"positions": [{"sku": "S", "node": "CW", "on_hand": 5, "on_hand": 7}]}',
        ),
        ("post", "/v1/allocations", '{"today": "2026-01-01", "today": "2026-02-01", "demand": []}'),
    ],
)
def test_a_key_given_twice_in_a_body_is_422_naming_it(
    client: TestClient, keys: Keys, method: str, path: str, body: str
) -> None:
    headers = {**keys.headers("planner"), "Content-Type": "application/json"}
    response = client.request(method.upper(), path, content=body, headers=headers)
    assert response.status_code == 422, response.text
    problem = response.json()["detail"][0]
    assert problem["type"] == "repeated_key" and "is given twice" in problem["msg"]
