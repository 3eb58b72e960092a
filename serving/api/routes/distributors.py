"""Distributors: their latest approved replenishment suggestions, and acknowledging them.

A distributor key sees only its own distributor id (403 for any other); planners and admins
may read any distributor's suggestions (to see what was sent) but only the distributor itself
acknowledges.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from allocation.network import ID_PATTERN, MAX_ID_LENGTH
from serving import audit
from serving.auth import Principal
from serving.crud import newest_approved_plan_id
from serving.db import Database, begin_write
from serving.deps import CurrentKeyDep, DatabaseDep, SessionDep
from serving.errors import ErrorMessage
from serving.models import Acknowledgement, Plan, PlanStatus, Role
from serving.schemas import AcknowledgementCreate, AcknowledgementPublic, SuggestionsPublic
from serving.suggestions import SuggestionCache, check_known_distributor, suggestions_json

router = APIRouter(prefix="/v1/distributors", tags=["distributors"])

DistributorId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]
FORBIDDEN: dict[int | str, dict[str, Any]] = {status.HTTP_403_FORBIDDEN: {"model": ErrorMessage}}


def _check_scope(principal: Principal, distributor_id: str) -> None:
    if not principal.may_see_distributor(distributor_id):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this key belongs to distributor {principal.distributor_id}; it may not read "
            f"or acknowledge {distributor_id}'s data",
        )


@router.get(
    "/{distributor_id}/suggestions",
    response_model=SuggestionsPublic,
    responses={**FORBIDDEN, status.HTTP_404_NOT_FOUND: {"model": ErrorMessage}},
)
async def read_suggestions(
    distributor_id: DistributorId, database: DatabaseDep, principal: CurrentKeyDep, request: Request
) -> Response:
    """The distributor's suggestions from the most recently approved plan, each with its reason;
    404 for a distributor neither that plan's network nor the stored one has (one added since
    reads none yet)."""
    _check_scope(principal, distributor_id)
    cache: SuggestionCache = request.app.state.suggestions
    body = await run_in_threadpool(_read, database, cache, distributor_id)
    # Serialized once, in the shape of `SuggestionsPublic` (response_model is the documentation).
    return Response(body, media_type="application/json")


def _read(database: Database, cache: SuggestionCache, distributor_id: str) -> bytes:
    with database.sessions() as session:
        return suggestions_json(session, cache, distributor_id)


@router.post(
    "/{distributor_id}/acknowledgements",
    response_model=AcknowledgementPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        **FORBIDDEN,
        status.HTTP_200_OK: {"model": AcknowledgementPublic, "description": "already acknowledged"},
        status.HTTP_404_NOT_FOUND: {"model": ErrorMessage},
        status.HTTP_409_CONFLICT: {"model": ErrorMessage},
    },
)
def acknowledge(
    distributor_id: DistributorId,
    acknowledgement: AcknowledgementCreate,
    session: SessionDep,
    principal: CurrentKeyDep,
    response: Response,
) -> AcknowledgementPublic:
    """The distributor confirms it saw an approved plan's suggestions (once; a repeat is 200).
    An older approved plan is taken too (the distributor may have acted on it), and the answer
    names the newest one in `superseded_by`."""
    if principal.role is not Role.distributor:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "only the distributor's own key acknowledges suggestions"
        )
    _check_scope(principal, distributor_id)
    plan = session.get(Plan, acknowledgement.plan_id)
    if plan is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plan {acknowledgement.plan_id}")
    if plan.status != PlanStatus.approved.value:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"plan {plan.id} is {plan.status}: only approved plans' suggestions are acknowledged",
        )
    # a distributor the plan's network lacks has no suggestions in it to acknowledge: 404
    check_known_distributor(session, plan.id, distributor_id)
    existing = _existing(session, plan.id, distributor_id)
    if existing is not None:
        response.status_code = status.HTTP_200_OK
        return _public(session, existing)
    begin_write(session)
    row = Acknowledgement(
        plan_id=plan.id,
        distributor_id=distributor_id,
        api_key_id=principal.key_id,
        note=acknowledgement.note,
    )
    session.add(row)
    audit.record(session, principal, "suggestions.acknowledge", "plan", plan.id, note=row.note)
    try:
        session.commit()
    except IntegrityError:  # acknowledged at the same moment by another request: same answer
        session.rollback()
        existing = _existing(session, plan.id, distributor_id)
        if existing is None:
            raise
        response.status_code = status.HTTP_200_OK
        return _public(session, existing)
    return _public(session, row)


def _public(session: SessionDep, row: Acknowledgement) -> AcknowledgementPublic:
    """The acknowledgement, with the newest approved plan where it is newer than row's."""
    newest = newest_approved_plan_id(session)
    public = AcknowledgementPublic.model_validate(row)
    if newest is not None and newest > row.plan_id:
        public.superseded_by = newest
    return public


def _existing(session: SessionDep, plan_id: int, distributor_id: str) -> Acknowledgement | None:
    return session.scalars(
        select(Acknowledgement).where(
            Acknowledgement.plan_id == plan_id, Acknowledgement.distributor_id == distributor_id
        )
    ).first()
