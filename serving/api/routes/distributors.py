"""Distributors: their latest approved replenishment suggestions, and acknowledging them.

A distributor key sees only its own distributor id (403 for any other); planners and admins
may read any distributor's suggestions (to see what was sent) but only the distributor itself
acknowledges.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from serving import audit
from serving.auth import Principal
from serving.db import begin_write
from serving.deps import CurrentKeyDep, SessionDep
from serving.errors import ErrorMessage
from serving.models import Acknowledgement, LineKind, Plan, PlanLine, PlanStatus, Role
from serving.schemas import (
    AcknowledgementCreate,
    AcknowledgementPublic,
    SuggestionPublic,
    SuggestionsPublic,
)

router = APIRouter(prefix="/v1/distributors", tags=["distributors"])

DistributorId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-|]+$")]
FORBIDDEN: dict[int | str, dict[str, Any]] = {status.HTTP_403_FORBIDDEN: {"model": ErrorMessage}}


def _check_scope(principal: Principal, distributor_id: str) -> None:
    if not principal.may_see_distributor(distributor_id):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this key belongs to distributor {principal.distributor_id}; it may not read "
            f"or acknowledge {distributor_id}'s data",
        )


@router.get("/{distributor_id}/suggestions", response_model=SuggestionsPublic, responses=FORBIDDEN)
def read_suggestions(
    distributor_id: DistributorId, session: SessionDep, principal: CurrentKeyDep
) -> SuggestionsPublic:
    """The distributor's suggestions from the most recently approved plan, each with its reason."""
    _check_scope(principal, distributor_id)
    plan = session.execute(
        select(Plan.id, Plan.model_version, Plan.decided_at)
        .where(Plan.status == PlanStatus.approved.value)
        .order_by(Plan.decided_at.desc(), Plan.id.desc())
        .limit(1)
    ).first()
    if plan is None:
        return SuggestionsPublic(
            distributor=distributor_id,
            plan_id=None,
            model_version=None,
            approved_at=None,
            acknowledged=False,
            data=[],
            count=0,
        )
    lines = session.execute(
        select(
            PlanLine.sku,
            PlanLine.quantity,
            PlanLine.origin,
            PlanLine.arrives,
            PlanLine.reason,
            PlanLine.details,
        )
        .where(
            PlanLine.plan_id == plan.id,
            PlanLine.kind == LineKind.replenishment.value,
            PlanLine.destination == distributor_id,
        )
        .order_by(PlanLine.sku, PlanLine.id)
    ).all()
    acknowledged = session.scalar(
        select(Acknowledgement.id).where(
            Acknowledgement.plan_id == plan.id, Acknowledgement.distributor_id == distributor_id
        )
    )
    data = [
        SuggestionPublic(
            sku=line.sku,
            quantity=line.quantity,
            source=line.origin,
            arrives=line.arrives,
            reason=line.reason,
            details=line.details,
        )
        for line in lines
    ]
    return SuggestionsPublic(
        distributor=distributor_id,
        plan_id=plan.id,
        model_version=plan.model_version,
        approved_at=plan.decided_at,
        acknowledged=acknowledged is not None,
        data=data,
        count=len(data),
    )


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
    """The distributor confirms it saw an approved plan's suggestions (once; a repeat is 200)."""
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
    existing = _existing(session, plan.id, distributor_id)
    if existing is not None:
        response.status_code = status.HTTP_200_OK
        return AcknowledgementPublic.model_validate(existing)
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
        return AcknowledgementPublic.model_validate(existing)
    return AcknowledgementPublic.model_validate(row)


def _existing(session: SessionDep, plan_id: int, distributor_id: str) -> Acknowledgement | None:
    return session.scalars(
        select(Acknowledgement).where(
            Acknowledgement.plan_id == plan_id, Acknowledgement.distributor_id == distributor_id
        )
    ).first()
