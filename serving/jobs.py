"""Jobs: work that runs outside a request (large allocations, retrains), kept in the database.

The API enqueues a row in `jobs` and answers 202 with its id; `allocast worker` (any number of
them, in other processes) claims queued jobs, runs the handler registered for the job's kind and
stores the result or the error. Because the queue is a table, a job survives restarts of the API
and of the worker, and its state is visible through `GET /v1/jobs/{id}`.

Claiming is a compare-and-set: `UPDATE jobs SET status='running' … WHERE id=:id AND status=
'queued'` changes one row for exactly one worker (PostgreSQL also skips rows another worker has
locked, `FOR UPDATE SKIP LOCKED`). A worker that dies mid-job leaves its job `running` with a
lease; once the lease runs out another worker takes it over, up to `job_max_attempts` claims.
A worker stopped mid-job (Ctrl-C, SIGTERM twice) puts its job back in the queue before it exits.

Handlers register at import time of the module that enqueues their kind
(`register_handler("allocation", fn)`); the worker imports `serving.api` so every kind an
endpoint can enqueue has its handler.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.orm import Session

from serving.config import Settings
from serving.db import Database
from serving.models import Job, JobStatus, utcnow

__all__ = [
    "Handler",
    "JobContext",
    "claim_next",
    "enqueue",
    "register_handler",
    "registered_kinds",
    "run_next",
    "run_worker",
]

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    """What a handler gets besides its payload: settings, the database and the model store."""

    settings: Settings
    database: Database
    job_id: int
    _model_store: Any = field(default=None, repr=False)

    @property
    def model_store(self) -> Any:
        """The worker's `serving.model_store.ModelStore` (one per process and registry)."""
        if self._model_store is None:
            self._model_store = _model_store(self.settings)
        return self._model_store

    @property
    def forecast_cache(self) -> Any:
        """The worker's `serving.forecast_service.ForecastCache` (one per process)."""
        global _FORECAST_CACHE
        with _MODEL_STORES_LOCK:
            if _FORECAST_CACHE is None:
                from serving.forecast_service import ForecastCache

                _FORECAST_CACHE = ForecastCache()
            return _FORECAST_CACHE


_FORECAST_CACHE: Any = None
_MODEL_STORES: dict[tuple[str, str], Any] = {}
_MODEL_STORES_LOCK = threading.RLock()


def _model_store(settings: Settings) -> Any:
    from serving.model_store import ModelStore

    key = (settings.tracking_uri, settings.model_name)
    with _MODEL_STORES_LOCK:
        if key not in _MODEL_STORES:
            _MODEL_STORES[key] = ModelStore(
                settings.tracking_uri,
                settings.model_name,
                check_interval=settings.model_check_interval,
            )
        return _MODEL_STORES[key]


Handler = Callable[[dict[str, Any], JobContext], dict[str, Any] | None]
_HANDLERS: dict[str, Handler] = {}


def register_handler(kind: str, fn: Handler) -> None:
    """Run `fn(payload, context) -> result` for jobs of `kind` (a later registration replaces)."""
    _HANDLERS[kind] = fn


def registered_kinds() -> list[str]:
    return sorted(_HANDLERS)


def enqueue(
    session: Session, kind: str, payload: dict[str, Any], created_by: int | None = None
) -> Job:
    """Add a queued job to the session's transaction; it is visible to workers once committed."""
    if kind not in _HANDLERS:
        raise ValueError(
            f"no handler registered for job kind {kind!r} (known: {registered_kinds()})"
        )
    job = Job(kind=kind, status=JobStatus.queued.value, payload=payload, created_by=created_by)
    session.add(job)
    session.flush()
    return job


def _claimable(now: dt.datetime) -> Any:
    lease_over = and_(Job.status == JobStatus.running.value, Job.lease_until < now)
    return or_(Job.status == JobStatus.queued.value, lease_over)


def claim_next(database: Database, worker: str, settings: Settings) -> Job | None:
    """Claim the oldest queued (or abandoned) job for `worker`; None when there is none."""
    now = utcnow()
    with database.session(write=True) as session:
        query = select(Job.id, Job.attempts).where(_claimable(now)).order_by(Job.id).limit(10)
        if not database.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        for job_id, attempts in session.execute(query).all():
            if attempts >= settings.job_max_attempts:
                _give_up(session, job_id, now, attempts)
                continue
            claimed = session.execute(  # an UPDATE answers with a CursorResult (rowcount)
                update(Job)
                .where(Job.id == job_id, _claimable(now))
                .values(
                    status=JobStatus.running.value,
                    worker=worker,
                    started_at=now,
                    lease_until=now + dt.timedelta(seconds=settings.job_lease_seconds),
                    attempts=Job.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult[Any], claimed).rowcount == 1:
                return session.get(Job, job_id)
    return None


def _give_up(session: Session, job_id: int, now: dt.datetime, attempts: int) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id, _claimable(now))
        .values(
            status=JobStatus.failed.value,
            finished_at=now,
            error=f"abandoned: its worker stopped {attempts} time(s) before finishing it",
        )
        .execution_options(synchronize_session=False)
    )


def _finish(
    database: Database,
    job_id: int,
    worker: str,
    *,
    result: dict[str, Any] | None,
    error: str | None,
) -> None:
    with database.session(write=True) as session:
        session.execute(
            update(Job)
            # Only the worker holding the job may finish it (a lapsed lease may have moved it).
            .where(Job.id == job_id, Job.worker == worker, Job.status == JobStatus.running.value)
            .values(
                status=JobStatus.failed.value if error else JobStatus.succeeded.value,
                result=result,
                error=error,
                finished_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )


def _release(database: Database, job_id: int, worker: str) -> None:
    """Put a job its worker stopped running back in the queue, for the next worker."""
    with database.session(write=True) as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.worker == worker, Job.status == JobStatus.running.value)
            .values(status=JobStatus.queued.value, started_at=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )


def run_next(
    settings: Settings,
    database: Database,
    worker: str,
    handling: threading.Event | None = None,
) -> bool:
    """Claim and run one job; False when the queue was empty. A job interrupted by anything
    but an Exception (KeyboardInterrupt, SystemExit) goes back to the queue, and that goes on.
    `handling` is set while the job's handler runs (not while it is claimed or recorded), for
    a signal handler that stops the worker at once only then (`commands.worker`)."""
    job = claim_next(database, worker, settings)
    if job is None:
        return False
    handler = _HANDLERS.get(job.kind)
    if handler is None:
        _finish(
            database,
            job.id,
            worker,
            result=None,
            error=f"no handler for job kind {job.kind!r} in this worker ({registered_kinds()})",
        )
        return True
    log.info("job %s (%s): started by %s", job.id, job.kind, worker)
    context = JobContext(settings=settings, database=database, job_id=job.id)
    try:
        if handling is not None:
            handling.set()
        try:
            result = handler(dict(job.payload), context)
        finally:
            if handling is not None:
                handling.clear()
    except Exception as error:  # a failed job records why; the worker goes on with the next
        log.exception("job %s (%s) failed", job.id, job.kind)
        _finish(database, job.id, worker, result=None, error=f"{type(error).__name__}: {error}")
    except BaseException:
        _release(database, job.id, worker)
        log.warning("job %s (%s): interrupted, back in the queue", job.id, job.kind)
        raise
    else:
        _finish(database, job.id, worker, result=result or {}, error=None)
        log.info("job %s (%s): done", job.id, job.kind)
    return True


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run_worker(
    settings: Settings,
    database: Database,
    *,
    stop: threading.Event | None = None,
    max_jobs: int | None = None,
    once: bool = False,
    handling: threading.Event | None = None,
) -> int:
    """Run jobs until `stop` is set (or `max_jobs` ran, or, with `once`, the queue is empty);
    returns how many ran. handling: see `run_next`."""
    import serving.api  # noqa: F401  (registers the handlers of every kind an endpoint enqueues)

    stop = stop or threading.Event()
    worker = worker_name()
    done = 0
    while not stop.is_set() and (max_jobs is None or done < max_jobs):
        if run_next(settings, database, worker, handling):
            done += 1
        elif once:
            break
        else:
            stop.wait(settings.worker_poll_seconds)
    return done
