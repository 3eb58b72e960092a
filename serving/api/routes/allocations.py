"""POST /v1/allocations: a plan answered at once (201) or, when large, a job (202)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from serving import audit, idempotency
from serving.api.routes.plans import plan_public
from serving.db import begin_write
from serving.deps import PlannerDep, SessionDep, SettingsDep
from serving.errors import ErrorMessage
from serving.forecast_service import ForecastCacheDep
from serving.jobs import enqueue
from serving.model_store import ModelStoreDep
from serving.planning import (
    ALLOCATION_JOB,
    make_plan,
    planned_days,
    require_network,
    series_count,
    store_plan,
)
from serving.schemas import AllocationCreate, JobPublic, PlanPublic

router = APIRouter(prefix="/v1/allocations", tags=["allocations"])


@router.post(
    "",
    response_model=PlanPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        status.HTTP_202_ACCEPTED: {"model": JobPublic, "description": "large: queued as a job"},
        status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ErrorMessage},
    },
)
def request_allocation(
    request: AllocationCreate,
    session: SessionDep,
    principal: PlannerDep,
    settings: SettingsDep,
    model_store: ModelStoreDep,
    cache: ForecastCacheDep,
    http_request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=idempotency.HEADER,
            min_length=1,
            max_length=200,
            description="repeat a request with the same key to get the first answer again",
        ),
    ] = None,
) -> JSONResponse:
    """Plan over the stored network and stock; demand is the champion's forecast unless sent.

    Plans over at most ALLOCAST_SYNC_ALLOCATION_LIMIT (SKU, location) series are answered at
    once (201, the stored draft plan); larger ones are queued (202, a job whose result names
    the plan: GET /v1/jobs/{id}).
    """
    digest = idempotency.request_hash(request.model_dump(mode="json"))
    if idempotency_key:
        replay = idempotency.find(session, principal.key_id, idempotency_key, digest)
        if replay is not None:
            return _answer(replay.status_code, replay.body, replayed=True)
    _network_id, network = require_network(session)
    large = series_count(session, request, network) > settings.sync_allocation_limit
    outcome = None if large else make_plan(session, model_store, cache, request)
    begin_write(session)  # the slow part is done: take the write lock only to store
    if outcome is None:
        payload = {
            "request": request.model_dump(mode="json"),
            "created_by": principal.key_id,
            "role": principal.role.value,
        }
        job = enqueue(session, ALLOCATION_JOB, payload, principal.key_id)
        audit.record(session, principal, "allocation.enqueue", "job", job.id)
        status_code = status.HTTP_202_ACCEPTED
        content = JobPublic.model_validate(job).model_dump(mode="json")
    else:
        plan = store_plan(
            session, outcome, horizon=planned_days(request), created_by=principal.key_id
        )
        audit.record(
            session, principal, "allocation.create", "plan", plan.id, model=outcome.model_version
        )
        status_code = status.HTTP_201_CREATED
        public = plan_public(plan, len(plan.lines), len(plan.alerts))
        content = public.model_dump(mode="json")
    if idempotency_key:
        idempotency.remember(
            session, principal.key_id, idempotency_key, digest, status_code, content
        )
    try:
        session.commit()
    except IntegrityError:
        # Another request with the same Idempotency-Key committed first: answer as it did.
        session.rollback()
        if not idempotency_key:
            raise
        replay = idempotency.find(session, principal.key_id, idempotency_key, digest)
        if replay is None:
            raise
        return _answer(replay.status_code, replay.body, replayed=True)
    http_request.app.state.metrics.plans.labels("job" if large else "sync").inc()
    return _answer(status_code, content, replayed=False)


def _answer(status_code: int, body: dict[str, Any], *, replayed: bool) -> JSONResponse:
    headers = {idempotency.REPLAYED_HEADER: "true"} if replayed else {}
    if status_code == status.HTTP_202_ACCEPTED:
        headers["Location"] = f"/v1/jobs/{body['id']}"
    else:
        headers["Location"] = f"/v1/plans/{body['id']}"
    return JSONResponse(body, status_code=status_code, headers=headers)
