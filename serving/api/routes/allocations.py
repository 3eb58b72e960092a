"""POST /v1/allocations: a plan answered at once (201) or, when large, a job (202).

The route is `async` so that a request waiting for a solve slot holds no thread: the database
work and the solve run in the thread pool, one step after another on the request's session.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving import audit, idempotency
from serving.api.routes.plans import plan_public
from serving.auth import Principal
from serving.db import begin_write
from serving.deps import PlannerDep, SessionDep, SettingsDep
from serving.errors import ErrorMessage, body_validation_error, unparsed_body
from serving.forecast_service import ForecastCacheDep
from serving.jobs import enqueue
from serving.metrics import Metrics
from serving.model_store import ModelStoreDep
from serving.planning import (
    ALLOCATION_JOB,
    PlanOutcome,
    SolveSlots,
    check_horizon,
    check_request,
    make_plan,
    planned_days,
    require_network,
    series_count,
    store_plan,
)
from serving.schemas import AllocationCreate, JobPublic, PlanPublic

router = APIRouter(prefix="/v1/allocations", tags=["allocations"])


async def _allocation_create(http_request: Request) -> AllocationCreate:
    """The body, validated by pydantic straight from its JSON bytes (in the thread pool).

    FastAPI's own body handling (`json.loads`, then validating the dicts) took twice as long for
    17k demand rows (0.16-0.21 s vs 0.09-0.14 s). The schema of the body is declared with the
    route (`openapi_extra`, which `deps.check_request_form` reads to refuse a body that is not
    JSON), and a bad body is the same 422 as FastAPI's. As FastAPI's routes do, it reads past a
    UTF-8 byte order mark (`json.loads` does; pydantic calls it invalid JSON).
    """
    body = (await http_request.body()).removeprefix(codecs.BOM_UTF8)
    try:
        return await run_in_threadpool(AllocationCreate.model_validate_json, body)
    except ValidationError as error:
        _refuse_unparsed(body, error)
        raise body_validation_error(error) from None


def _refuse_unparsed(body: bytes, error: ValidationError) -> None:
    """The 400 every other route gives (FastAPI's parse, `errors.unparsed_body`) for a body
    that is not UTF-8, nests too deep or holds a number too long to convert, where pydantic's
    parser answered 422 json_invalid."""
    first = error.errors()[0]
    if first["type"] != "json_invalid":
        return
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as cause:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, unparsed_body(cause)) from None
    if "recursion limit" in first["msg"]:
        detail = unparsed_body(RecursionError())
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail) from None
    if "number out of range" in first["msg"]:  # Python's json: too many digits to convert
        detail = unparsed_body(ValueError("integer string conversion"))
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail) from None


ALLOCATION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/AllocationCreate"}}
        },
    }
}


@dataclass(frozen=True)
class _Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool


@router.post(
    "",
    response_model=PlanPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        status.HTTP_202_ACCEPTED: {"model": JobPublic, "description": "large: queued as a job"},
        status.HTTP_503_SERVICE_UNAVAILABLE: {
            "model": ErrorMessage,
            "description": "no champion model; or busy (solves queued, database locked): "
            "repeat after Retry-After seconds",
        },
    },
    openapi_extra=ALLOCATION_BODY,
)
async def request_allocation(
    principal: PlannerDep,  # first: the key is checked before the body is read
    request: Annotated[AllocationCreate, Depends(_allocation_create)],
    session: SessionDep,
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
    the plan: GET /v1/jobs/{id}). At most ALLOCAST_MAX_CONCURRENT_SOLVES plans are solved at
    once; a request that finds no free slot within ALLOCAST_SOLVE_QUEUE_SECONDS is a 503 with
    Retry-After.
    """
    first = await run_in_threadpool(
        _look_up,
        session,
        request,
        principal.key_id,
        settings.sync_allocation_limit,
        idempotency_key,
    )
    if isinstance(first, _Answer):
        return _answer(first)
    outcome = None
    if not first.large:
        slots: SolveSlots = http_request.app.state.solve_slots
        async with slots.hold():
            outcome = await run_in_threadpool(make_plan, session, model_store, cache, request)
    answer = await run_in_threadpool(
        _store, session, request, principal, outcome, first.digest, idempotency_key
    )
    if not answer.replayed:
        metrics: Metrics = http_request.app.state.metrics
        metrics.plans.labels("job" if first.large else "sync").inc()
    return _answer(answer)


@dataclass(frozen=True)
class _Checked:
    digest: str | None  # of the request body, when it has an Idempotency-Key
    large: bool  # over the sync limit: a job


def _look_up(
    session: Session,
    request: AllocationCreate,
    key_id: int,
    sync_limit: int,
    idempotency_key: str | None,
) -> _Answer | _Checked:
    """The stored answer of a repeated request, or what this one needs (read only)."""
    check_horizon(request)  # here, not in make_plan: a queued job's payload always has horizon
    digest = None
    if idempotency_key:
        digest = idempotency.request_hash(request.model_dump(mode="json"))
        replay = idempotency.find(session, key_id, idempotency_key, digest)
        if replay is not None:
            return _Answer(replay.status_code, replay.body, replayed=True)
    _network_id, network = require_network(session)
    large = series_count(session, request, network) > sync_limit
    if large:
        check_request(session, request, network)
    session.rollback()  # hold no read snapshot while waiting for a solve slot
    return _Checked(digest, large)


def _store(
    session: Session,
    request: AllocationCreate,
    principal: Principal,
    outcome: PlanOutcome | None,
    digest: str | None,
    idempotency_key: str | None,
) -> _Answer:
    """Store the plan (or queue the job), its audit entry and idempotency record; commit."""
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
        stored = store_plan(
            session, outcome, horizon=planned_days(request), created_by=principal.key_id
        )
        audit.record(
            session,
            principal,
            "allocation.create",
            "plan",
            stored.row.id,
            model=outcome.model_version,
        )
        status_code = status.HTTP_201_CREATED
        public = plan_public(stored.row, stored.lines, stored.alerts)
        content = public.model_dump(mode="json")
    if idempotency_key and digest:
        idempotency.remember(
            session, principal.key_id, idempotency_key, digest, status_code, content
        )
    try:
        session.commit()
    except IntegrityError:
        # Another request with the same Idempotency-Key committed first: answer as it did.
        session.rollback()
        if not idempotency_key or not digest:
            raise
        replay = idempotency.find(session, principal.key_id, idempotency_key, digest)
        if replay is None:
            raise
        return _Answer(replay.status_code, replay.body, replayed=True)
    return _Answer(status_code, content, replayed=False)


def _answer(answer: _Answer) -> JSONResponse:
    headers = {idempotency.REPLAYED_HEADER: "true"} if answer.replayed else {}
    kind = "jobs" if answer.status_code == status.HTTP_202_ACCEPTED else "plans"
    headers["Location"] = f"/v1/{kind}/{answer.body['id']}"
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)
