"""Alerts (stockout risk, early stockout risk, overstock, slow movers, series without forecast,
overdue in-transit stock) of a plan: the newest plan not rejected unless one is named."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import func, select

from allocation.plan import AlertKind
from serving.deps import PlannerDep, SessionDep
from serving.errors import ErrorMessage
from serving.models import Plan, PlanAlert, PlanStatus
from serving.schemas import AlertPublic, AlertsPublic, Id, LimitQuery, OffsetQuery, PlanIdQuery

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


@router.get("", response_model=AlertsPublic, responses={404: {"model": ErrorMessage}})
def read_alerts(
    session: SessionDep,
    _principal: PlannerDep,
    plan_id: PlanIdQuery = None,
    kind: Annotated[
        AlertKind | None,
        Query(description="kind"),
    ] = None,
    sku: Annotated[Id | None, Query()] = None,
    node: Annotated[Id | None, Query()] = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> AlertsPublic:
    """Alerts with the numbers behind them (stock, daily demand, days of supply, threshold);
    404 for a plan that does not exist."""
    if plan_id is not None and session.get(Plan, plan_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plan {plan_id}")
    if plan_id is None:
        # a rejected plan (a what-if, say) is no one's plan: its alerts are read by plan_id only
        plan_id = session.scalar(
            select(func.max(Plan.id)).where(Plan.status != PlanStatus.rejected.value)
        )
    if plan_id is None:
        return AlertsPublic(data=[], count=0, plan_id=None)
    query = select(PlanAlert).where(PlanAlert.plan_id == plan_id)
    if kind:
        query = query.where(PlanAlert.kind == kind)
    if sku:
        query = query.where(PlanAlert.sku == sku)
    if node:
        query = query.where(PlanAlert.node == node)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    alerts = session.scalars(query.order_by(PlanAlert.id).offset(offset).limit(limit)).all()
    return AlertsPublic(
        data=[AlertPublic.model_validate(alert) for alert in alerts], count=count, plan_id=plan_id
    )
