"""Jobs (large allocations, retrains): their state, result or error."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import func, select

from serving.deps import PlannerDep, SessionDep
from serving.errors import ErrorMessage
from serving.models import Job
from serving.schemas import DbId, JobPublic, JobsPublic, LimitQuery, OffsetQuery

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("", response_model=JobsPublic)
def list_jobs(
    session: SessionDep,
    _principal: PlannerDep,
    status_filter: Annotated[
        Literal["queued", "running", "succeeded", "failed"] | None, Query(alias="status")
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
