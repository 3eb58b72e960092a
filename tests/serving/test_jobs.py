"""The job queue: each job runs once however many workers poll; abandoned jobs are taken over."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from serving import audit
from serving.config import Settings
from serving.db import Database, connect, upgrade
from serving.jobs import JobContext, claim_next, enqueue, register_handler, run_next, run_worker
from serving.models import AuditEntry, Job, utcnow

KIND = "test.record"


def _record(payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """A real side effect per run: one audit row naming the job."""
    with context.database.session(write=True) as session:
        audit.record(session, None, KIND, "job", context.job_id, n=payload["n"])
    return {"n": payload["n"]}


register_handler(KIND, _record)


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    database = connect(settings.database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


def _enqueue(database: Database, count: int) -> list[int]:
    with database.session(write=True) as session:
        return [enqueue(session, KIND, {"n": n}).id for n in range(count)]


def test_concurrent_workers_run_every_job_exactly_once(
    database: Database, settings: Settings
) -> None:
    ids = _enqueue(database, 24)
    fast = settings.model_copy(update={"worker_poll_seconds": 0.05})
    stop = threading.Event()
    workers = [
        threading.Thread(target=run_worker, args=(fast, database), kwargs={"stop": stop})
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    deadline = dt.datetime.now() + dt.timedelta(seconds=60)
    while dt.datetime.now() < deadline:
        with database.session() as session:
            done = session.scalar(select(func.count()).where(Job.status == "succeeded"))
        if done == len(ids):
            break
        stop.wait(0.1)
    stop.set()
    for worker in workers:
        worker.join(timeout=30)
    with database.session() as session:
        runs = session.execute(
            select(AuditEntry.resource_id, func.count())
            .where(AuditEntry.action == KIND)
            .group_by(AuditEntry.resource_id)
        ).all()
        jobs = session.scalars(select(Job).order_by(Job.id)).all()
    assert sorted(int(job_id) for job_id, _ in runs) == ids
    assert all(count == 1 for _, count in runs)
    assert [(job.status, job.attempts, job.result) for job in jobs] == [
        ("succeeded", 1, {"n": n}) for n in range(len(ids))
    ]


def test_a_job_whose_worker_died_is_taken_over_then_given_up(
    database: Database, settings: Settings
) -> None:
    (job_id,) = _enqueue(database, 1)
    one_try = settings.model_copy(update={"job_max_attempts": 2})
    claimed = claim_next(database, "worker-that-dies", one_try)
    assert claimed is not None and claimed.id == job_id
    assert claim_next(database, "another", one_try) is None  # leased: not claimable

    def expire() -> None:
        with database.session(write=True) as session:
            session.execute(update(Job).values(lease_until=utcnow() - dt.timedelta(seconds=1)))

    expire()
    assert run_next(one_try, database, "survivor")  # second attempt runs it
    with database.session() as session:
        job = session.get(Job, job_id)
        assert job is not None and (job.status, job.attempts) == ("succeeded", 2)

    (lost,) = _enqueue(database, 1)
    for attempt in range(2):
        assert claim_next(database, f"dies-{attempt}", one_try) is not None
        expire()
    assert claim_next(database, "late", one_try) is None
    with database.session() as session:
        job = session.get(Job, lost)
        assert job is not None and job.status == "failed"
        assert job.error is not None and "abandoned" in job.error


def test_enqueue_refuses_a_kind_without_handler(database: Database) -> None:
    with database.session() as session, pytest.raises(ValueError, match="no handler"):
        enqueue(session, "nobody.handles.this", {})
