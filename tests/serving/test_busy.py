"""The service under concurrent writers: every request is answered, none is a 500.

SQLite has one write lock: a process's writers queue for it in process, solves wait for one of
ALLOCAST_MAX_CONCURRENT_SOLVES slots, and what waits too long is a 503 with Retry-After and a
JSON body. Every plan answered 201 is stored, with its audit entry; none is stored unanswered.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import serving.db
from serving.config import Settings
from serving.db import begin_write, connect
from serving.main import create_app
from serving.models import AuditEntry, Plan
from serving.planning import SolveSlots
from tests.serving.conftest import Keys, allocation_body, small_network

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _burst(url: str, keys: Keys, count: int) -> list[httpx.Response]:
    """`count` allocations at once over real HTTP, half of them with an Idempotency-Key."""
    body = allocation_body()

    async def post(index: int, http: httpx.AsyncClient) -> httpx.Response:
        headers = keys.headers("planner")
        if index % 2:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        return await http.post("/v1/allocations", json=body, headers=headers)

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=count)
        async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as http:
            return await asyncio.gather(*(post(index, http) for index in range(count)))

    return asyncio.run(run())


def _stored(app: FastAPI) -> tuple[int, int]:
    """(plans, allocation.create audit entries) in the app's database."""
    with app.state.db.session() as session:
        plans = session.scalar(select(func.count()).select_from(Plan)) or 0
        audited = session.scalar(
            select(func.count()).where(AuditEntry.action == "allocation.create")
        )
        return plans, audited or 0


def _assert_busy(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert "repeat the request later" in response.json()["detail"]


def test_many_concurrent_allocations_all_answered_and_all_stored(
    seeded: TestClient, keys: Keys, live_url: str, app: FastAPI
) -> None:
    app.state.solve_slots = SolveSlots(2, wait=300)  # two solves at once, the others queue
    responses = _burst(live_url, keys, 40)
    codes = Counter(response.status_code for response in responses)
    assert codes == {201: 40}, [r.text for r in responses if r.status_code != 201][:3]
    assert len({response.json()["id"] for response in responses}) == 40
    assert _stored(app) == (40, 40)  # no lost write, no write without its answer


def test_allocations_beyond_the_solve_queue_are_503_with_retry_after(
    seeded: TestClient, keys: Keys, live_url: str, app: FastAPI
) -> None:
    app.state.solve_slots = SolveSlots(1, wait=0.001)  # one solve; no waiting
    responses = _burst(live_url, keys, 6)
    codes = Counter(response.status_code for response in responses)
    assert set(codes) <= {201, 503} and codes[201] >= 1 and codes[503] >= 1, codes
    for response in responses:
        if response.status_code == 503:
            _assert_busy(response)
    assert _stored(app) == (codes[201], codes[201])


@SQLITE_ONLY
def test_a_writer_that_waits_too_long_in_process_is_503(
    seeded: TestClient, keys: Keys, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving.db, "WRITER_WAIT_SECONDS", 0.2)
    other = connect(settings.database_url)  # another engine on the file: the same queue
    with other.sessions() as holder:
        begin_write(holder)
        response = seeded.put("/v1/network", json=small_network(), headers=keys.headers("planner"))
        _assert_busy(response)
    other.dispose()
    changed = small_network()  # a new version to write (the same one again stores nothing)
    changed["warehouses"][0]["capacity"] += 1
    again = seeded.put("/v1/network", json=changed, headers=keys.headers("planner"))
    assert again.status_code == 201


@SQLITE_ONLY
def test_sqlite_locked_by_another_process_is_503(
    settings: Settings, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving.db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    app = create_app(settings)
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    with TestClient(app) as client:
        holder = sqlite3.connect(path, isolation_level=None)  # as another process would
        holder.execute("BEGIN IMMEDIATE")
        try:
            response = client.put(
                "/v1/network", json=small_network(), headers=keys.headers("planner")
            )
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == str(serving.db.BUSY_RETRY_AFTER_SECONDS)
        assert "locked by another writer" in response.json()["detail"]
        again = client.put("/v1/network", json=small_network(), headers=keys.headers("planner"))
        assert again.status_code == 201
