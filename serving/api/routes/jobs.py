"""Jobs (large allocations, retrains): their state, result or error."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import CursorResult, func, select, update

from serving import audit
from serving.api.routes.models import RETRAIN
from serving.auth import Role
from serving.db import begin_write
from serving.deps import PlannerDep, SessionDep
from serving.errors import ErrorMessage
from serving.models import Job, JobStatus, utcnow
from serving.schemas import DbId, JobPublic, JobsPublic, LimitQuery, OffsetQuery

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("", response_model=JobsPublic)
def list_jobs(
    session: SessionDep,
    _principal: PlannerDep,
    status_filter: Annotated[
        Literal["queued", "running", "succeeded", "failed", "cancelled"] | None,
        Query(alias="status"),
    ] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 50,
) -> JobsPublic:
    """Jobs, newest first."""
    query = select(Job)
    if status_filter:
        query = query.where(Job.status == status_filter)
    if kind:
        query = query.where(Job.kind == kind)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    jobs = session.scalars(query.order_by(Job.id.desc()).offset(offset).limit(limit)).all()
    return JobsPublic(data=[JobPublic.model_validate(job) for job in jobs], count=count)


@router.get("/{job_id}", response_model=JobPublic, responses={404: {"model": ErrorMessage}})
def read_job(job_id: DbId, session: SessionDep, _principal: PlannerDep) -> JobPublic:
    """One job: queued, running, succeeded (with its result, e.g. the plan id) or failed (why)."""
    job = session.get(Job, job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
    return JobPublic.model_validate(job)


@router.post(
    "/{job_id}/cancel",
    response_model=JobPublic,
    responses={code: {"model": ErrorMessage} for code in (403, 404, 409)},
)
def cancel_job(job_id: DbId, session: SessionDep, principal: PlannerDep) -> JobPublic:
    """Cancel a queued job: no worker runs it. A job queued behind a long one (a retrain of a
    year's horizon) held every later job back, with no way to take it out. A running job is
    not stopped (409: it finishes or fails), nor one that has ended; a retrain is cancelled by
    an admin key, as only one may start it. The conditional UPDATE (… WHERE status =
    'queued') and a worker's claim change the row for one of them only."""
    job = session.get(Job, job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
    if job.kind == RETRAIN and principal.role is not Role.admin:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"job {job_id} is a retrain: an admin key cancels it, as only one may start it",
        )
    begin_write(session)
    changed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.queued.value)
        .values(
            status=JobStatus.cancelled.value,
            finished_at=utcnow(),
            error=f"cancelled by key {principal.key_id} before any worker ran it",
        )
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], changed).rowcount != 1:
        session.rollback()
        session.refresh(job)
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"job {job_id} is {job.status}: only a queued job can be cancelled (a running one "
            "finishes or fails; see its status_url)",
        )
    audit.record(session, principal, "job.cancel", "job", job_id, kind=job.kind)
    session.commit()
    session.refresh(job)
    return JobPublic.model_validate(job)
