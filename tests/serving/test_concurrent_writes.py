"""Writes at once over real HTTP, on SQLite and on PostgreSQL: each answered as if alone.

On PostgreSQL nothing queued them: two sales ingests of the same days failed one on the unique
index (500) or gave a location two regions, the same network sent twice at once stored two
versions, and a network upload beside a stock PATCH let the stock name a SKU the network had
dropped (helper-52). `serving.db.lock_tables` takes the tables a write reads first.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import create_engine, func, inspect, select, text

from serving.config import Settings
from serving.crud import stored_sales
from serving.db import connect, upgrade
from serving.models import NetworkVersion, SalesRow
from tests.serving.conftest import Keys, demand_rows, small_network, small_stock

Request = tuple[str, str, dict[str, Any]]  # method, path, JSON body


def _at_once(live_url: str, headers: dict[str, str], requests: list[Request]) -> list[int]:
    """Send the requests from threads released together; their status codes, in order."""
    start = threading.Barrier(len(requests))

    def send(request: Request) -> int:
        method, path, body = request
        with httpx.Client(base_url=live_url, timeout=120) as http:
            start.wait()
            return http.request(method, path, json=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


def _sales(location: str, region: str, skus: range, units: float) -> Request:
    days = [f"2025-12-{day:02d}" for day in range(1, 32)]
    rows = [
        {"sku": f"SKU-{k:03d}", "location": location, "region": region, "date": d, "units": units}
        for k in skus
        for d in days
    ]
    return ("POST", "/v1/sales", {"rows": rows})


def test_sales_ingests_of_the_same_days_at_once_all_land_whole(
    live_url: str, keys: Keys, app: FastAPI
) -> None:
    requests = [_sales("FW-N1", "north", range(1, 16), float(units)) for units in range(1, 5)]
    codes = _at_once(live_url, keys.headers("planner"), requests)
    assert codes == [201] * 4  # a 500 on PostgreSQL (the unique index)
    with app.state.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SalesRow)) == 15 * 31
        sales = stored_sales(session)
    assert sales["units"].nunique() == 1  # one ingest's days, whole: the last to commit


def test_a_new_location_sent_in_two_regions_at_once_keeps_one(
    live_url: str, keys: Keys, app: FastAPI
) -> None:
    requests = [
        _sales("LOC-R1", "north", range(1, 8), 1.0),
        _sales("LOC-R1", "south", range(8, 15), 1.0),
    ]
    codes = _at_once(live_url, keys.headers("planner"), requests)
    assert sorted(codes) == [201, 422]  # both 201 on PostgreSQL
    with app.state.db.session() as session:
        regions = session.scalars(select(SalesRow.region).distinct()).all()
    assert len(regions) == 1


def test_the_same_new_network_sent_at_once_is_stored_once(
    live_url: str, keys: Keys, app: FastAPI
) -> None:
    requests: list[Request] = [("PUT", "/v1/network", small_network())] * 4
    codes = _at_once(live_url, keys.headers("planner"), requests)
    assert sorted(codes) == [200, 200, 200, 201]  # four 201s on PostgreSQL
    with app.state.db.session() as session:
        assert session.scalar(select(func.count()).select_from(NetworkVersion)) == 1


def test_a_network_upload_beside_a_stock_patch_never_leaves_stock_it_lacks(
    live_url: str, keys: Keys, app: FastAPI
) -> None:
    planner = keys.headers("planner")
    network = small_network()
    dropped = network["skus"][-1]["id"]
    stock = {"positions": [p for p in small_stock() if p["sku"] != dropped]}
    with httpx.Client(base_url=live_url, timeout=120) as http:
        assert http.put("/v1/network", json=network, headers=planner).status_code == 201
        assert http.put("/v1/stock", json=stock, headers=planner).status_code == 201
    without = {**network, "skus": network["skus"][:-1]}
    position = {"positions": [{"sku": dropped, "node": "CW", "on_hand": 7}]}
    requests: list[Request] = [("PUT", "/v1/network", without), ("PATCH", "/v1/stock", position)]
    codes = _at_once(live_url, planner, requests)
    assert codes in ([201, 422], [409, 200])  # never both: the stock would name a dropped SKU
    with httpx.Client(base_url=live_url, timeout=120) as http:
        stock = http.get("/v1/stock", params={"limit": 500}, headers=planner).json()["data"]
        current = http.get("/v1/network", headers=planner).json()["document"]
    assert {p["sku"] for p in stock} <= {s["id"] for s in current["skus"]}


def _upgrade(url: str, start: Any) -> None:
    engine = connect(url).engine
    start.wait()  # imports and connections done: the migrations themselves race
    upgrade(engine)


def test_migrations_started_by_two_processes_at_once_both_succeed(database_url: str) -> None:
    # Two service processes starting on an empty PostgreSQL database both created the tables;
    # the second failed on "pg_type_typname_nsp_index" and stopped the server.
    context = mp.get_context("spawn")
    start = context.Barrier(2)
    processes = [context.Process(target=_upgrade, args=(database_url, start)) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0]
    assert "sales" in inspect(connect(database_url).engine).get_table_names()


def test_two_approvals_at_once_are_decided_one_after_the_other(
    live_url: str, keys: Keys, app: FastAPI, settings: Settings
) -> None:
    # Approved plan 1 plans SKU-001; draft 2 plans every SKU, draft 3 SKU-001 alone. One after
    # the other, the second approval is a 409 either way (3 after 2 withdraws SKU-002/3, 2 after
    # 3 is older than an approved plan). At once on PostgreSQL both checks ran before either
    # write, both passed, and plan 3 replaced plan 2 (helper-61). Here the window is held open
    # by locking audit_log, an approval's last write, from another connection.
    planner = keys.headers("planner")
    one = [row for row in demand_rows() if row["sku"] == "SKU-001"]
    with httpx.Client(base_url=live_url, timeout=120) as http:
        assert http.put("/v1/network", json=small_network(), headers=planner).status_code == 201
        stock = {"positions": small_stock()}
        assert http.put("/v1/stock", json=stock, headers=planner).status_code == 201
        ids = []
        for demand in (one, demand_rows(), one):
            body = {"demand": demand, "today": "2026-01-01"}
            ids.append(http.post("/v1/allocations", json=body, headers=planner).json()["id"])
        assert http.post(f"/v1/plans/{ids[0]}/approve", headers=planner).status_code == 200
    holder = create_engine(settings.database_url).connect()
    held = holder.begin()
    if holder.dialect.name == "postgresql":
        holder.execute(text("LOCK TABLE audit_log IN EXCLUSIVE MODE"))
    timer = threading.Timer(2.0, held.rollback)
    timer.start()
    requests: list[Request] = [("POST", f"/v1/plans/{i}/approve", {}) for i in ids[1:]]
    codes = _at_once(live_url, planner, requests)
    timer.join()
    holder.close()
    assert sorted(codes) == [200, 409]
