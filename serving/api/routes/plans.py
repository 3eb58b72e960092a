"""Plans: list and read (paged), read their lines, approve or reject a draft (once)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated, Any, Literal, cast

import pandas as pd
from fastapi import APIRouter, Body, HTTPException, Query, status
from sqlalchemy import CursorResult, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from allocation.errors import listed
from serving import audit
from serving.crud import newest_approved_plan_id, stock_frame
from serving.db import begin_write, lock_tables
from serving.deps import PlannerDep, SessionDep
from serving.errors import ErrorMessage
from serving.models import (
    LineKind,
    NetworkVersion,
    Plan,
    PlanAlert,
    PlanLine,
    PlanStatus,
    utcnow,
)
from serving.schemas import (
    DbId,
    Id,
    LimitQuery,
    OffsetQuery,
    PlanDecision,
    PlanLinePublic,
    PlanLinesPublic,
    PlanPublic,
    PlansPublic,
    PlanSummary,
)

router = APIRouter(prefix="/v1/plans", tags=["plans"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {status.HTTP_404_NOT_FOUND: {"model": ErrorMessage}}


def plan_public(plan: Plan, lines: int, alerts: int) -> PlanPublic:
    """A plan's summary with the number of its lines and alerts."""
    summary = PlanSummary.model_validate(plan)
    return PlanPublic(**summary.model_dump(), lines=lines, alerts=alerts)


def _get_plan(session: Session, plan_id: int) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plan {plan_id}")
    return plan


def _count(session: Session, model: Any, plan_id: int) -> int:
    return session.scalar(select(func.count()).where(model.plan_id == plan_id)) or 0


def _read(session: Session, plan_id: int) -> PlanPublic:
    plan = _get_plan(session, plan_id)
    return plan_public(
        plan, _count(session, PlanLine, plan_id), _count(session, PlanAlert, plan_id)
    )


@router.get("", response_model=PlansPublic)
def list_plans(
    session: SessionDep,
    _principal: PlannerDep,
    status_filter: Annotated[
        Literal["draft", "approved", "rejected"] | None,
        Query(alias="status", description="only plans in this state"),
    ] = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 50,
) -> PlansPublic:
    """Plans, newest first; `count` = all that match."""
    query = select(Plan)
    if status_filter:
        query = query.where(Plan.status == status_filter)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    plans = session.scalars(query.order_by(Plan.id.desc()).offset(offset).limit(limit)).all()
    return PlansPublic(data=[PlanSummary.model_validate(plan) for plan in plans], count=count)


@router.get("/{plan_id}", response_model=PlanPublic, responses=NOT_FOUND)
def read_plan(plan_id: DbId, session: SessionDep, _principal: PlannerDep) -> PlanPublic:
    """One plan: state, model version, KPIs, solver facts, how many lines and alerts."""
    return _read(session, plan_id)


@router.get("/{plan_id}/lines", response_model=PlanLinesPublic, responses=NOT_FOUND)
def read_plan_lines(
    plan_id: DbId,
    session: SessionDep,
    _principal: PlannerDep,
    kind: Annotated[
        Literal["transfer", "replenishment", "unmet"] | None, Query(description="one kind only")
    ] = None,
    sku: Annotated[Id | None, Query()] = None,
    destination: Annotated[Id | None, Query(description="node, distributor or location")] = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> PlanLinesPublic:
    """A plan's transfers, replenishment suggestions and unmet demand, with their reasons."""
    _get_plan(session, plan_id)
    query = select(PlanLine).where(PlanLine.plan_id == plan_id)
    if kind:
        query = query.where(PlanLine.kind == kind)
    if sku:
        query = query.where(PlanLine.sku == sku)
    if destination:
        query = query.where(PlanLine.destination == destination)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    lines = session.scalars(query.order_by(PlanLine.id).offset(offset).limit(limit)).all()
    return PlanLinesPublic(
        data=[PlanLinePublic.model_validate(line) for line in lines], count=count
    )


def _decide(
    session: Session, plan_id: int, decision: PlanStatus, principal: Any, note: str | None
) -> PlanPublic:
    """Move a draft to `decision`; a plan already decided is a 409 (the first decision stands),
    and so is approving a draft older than an approved plan (`_newer_approved`), one planned
    on a network that has changed since (`_current_network_id`) or one that ships more than
    the stock now holds (`_short_of_stock`).

    The conditional UPDATE (… WHERE status = 'draft') changes the row for one request only,
    however many arrive at once: the others see no row changed.
    """
    begin_write(session)
    if decision is PlanStatus.approved:
        # One approval at a time: two at once each checked `_withdrawn` against the approved
        # plan before the other's, and a plan of one SKU replaced one of every SKU.
        lock_tables(session, "plans")
    conditions = [Plan.id == plan_id, Plan.status == PlanStatus.draft.value]
    if decision is PlanStatus.approved:
        conditions += [
            ~_newer_approved(plan_id),
            Plan.network_id == _current_network_id().scalar_subquery(),
        ]
    changed = session.execute(
        update(Plan)
        .where(*conditions)
        .values(
            status=decision.value,
            decided_at=utcnow(),
            decided_by=principal.key_id,
            decision_note=note,
        )
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], changed).rowcount != 1:
        plan = _get_plan(session, plan_id)
        if plan.status != PlanStatus.draft.value:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"plan {plan_id} is already {plan.status} (decided at {plan.decided_at}); "
                "only a draft can be approved or rejected",
            )
        current = session.scalar(_current_network_id())
        if plan.network_id != current:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"plan {plan_id} was planned on network version {plan.network_id}, and the "
                f"network has changed since (version {current}): its lanes, credit or territories "
                "may no longer hold; ask for a new plan or reject this one",
            )
        newer = newest_approved_plan_id(session)
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"plan {plan_id} is older than plan {newer}, which is approved: distributors read "
            "the newest approved plan, so an older draft cannot replace it; ask for a new plan "
            "or reject this one",
        )
    if decision is PlanStatus.approved and (short := _short_of_stock(session, plan_id)):
        session.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"plan {plan_id} ships more than the stored stock now holds: {short}; the stock "
            "changed since it was planned: ask for a new plan or reject this one",
        )
    if decision is PlanStatus.approved and (withdrawn := _withdrawn(session, plan_id)):
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, withdrawn)
    if decision is PlanStatus.approved and (stale := _stale_at_distributors(session, plan_id)):
        session.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"plan {plan_id} suggests quantities from stock at distributors that has changed "
            f"since: {stale}; ask for a new plan or reject this one",
        )
    audit.record(session, principal, f"plan.{decision.value}", "plan", plan_id, note=note)
    session.commit()
    return _read(session, plan_id)


SHOWN_SHORTFALLS = 3


def _short_of_stock(session: Session, plan_id: int) -> str | None:
    """Where a plan's lines take more out of a warehouse than it holds by the day they leave
    (on hand, in transit arriving by then, and what the plan's own transfers land there by
    then): None when nowhere.

    The plan kept every balance against the stock it was planned on, and its schedule sends a
    line only once its stock is there, so unchanged stock always passes. The stock may have
    been replaced or patched since (a WMS sync, an earlier plan shipped, a shipment delayed),
    and an approved plan whose shipments the warehouse no longer holds on the day tells
    distributors to expect units nobody can send. Counted in full whatever its arrival date,
    a shipment delayed by two months left a plan approvable that shipped it on day 2.
    """
    departs = PlanLine.details["departs"].as_string()
    lines = session.execute(
        select(
            PlanLine.kind,
            PlanLine.sku,
            PlanLine.origin,
            PlanLine.destination,
            PlanLine.quantity,
            PlanLine.arrives,
            departs,
        ).where(PlanLine.plan_id == plan_id, PlanLine.kind != LineKind.unmet.value)
    )
    # (day, units) in and out of each (sku, warehouse); a line stored without its day (a plan
    # from before the schedule) leaves last, so only the whole stock is held against it.
    moves: dict[tuple[str, str], list[tuple[dt.date, float]]] = defaultdict(list)
    for kind, sku, origin, destination, quantity, arrives, leaves in lines:
        if origin is None:  # a line with no warehouse to take it from (none is stored so)
            continue
        moves[(sku, origin)].append(
            (dt.date.fromisoformat(leaves[:10]) if leaves else dt.date.max, -quantity)
        )
        if kind == LineKind.transfer.value:
            moves[(sku, destination)].append((arrives or dt.date.max, quantity))
    if not moves:
        return None
    stock = stock_frame(session, nodes={node for _sku, node in moves})
    held: dict[tuple[str, str], list[tuple[dt.date, float, float]]] = defaultdict(list)
    for sku, node, on_hand, in_transit, arrival in stock.itertuples(index=False, name=None):
        day = dt.date.min if pd.isna(arrival) else arrival.date()
        held[(sku, node)].append((day, float(on_hand), float(in_transit)))
    short = []
    for key, flows in sorted(moves.items()):
        shortfall = _first_shortfall(flows, held.get(key, []))
        if shortfall:
            short.append(f"{shortfall[0]:g} of {key[0]} out of {key[1]}{shortfall[1]}")
    if not short:
        return None
    return listed(short, SHOWN_SHORTFALLS, separator="; ")


def _first_shortfall(
    flows: list[tuple[dt.date, float]], held: list[tuple[dt.date, float, float]]
) -> tuple[float, str] | None:
    """The units taken out by the first day a warehouse's lines (`flows`: day, units in or out)
    take more than its stock rows (`held`: arrival day, on hand, in transit) hold by then, and
    what it holds then; None where they never do. Stock and transfers landing on a day serve
    the lines leaving that day."""
    on_hand = sum(units for _day, units, _transit in held)
    taken = in_transit = 0.0
    stock = sorted((day, transit) for day, _units, transit in held if transit)
    arrived = 0
    for day in sorted({day for day, units in flows if units < 0}):
        taken = -sum(units for when, units in flows if when <= day)
        while arrived < len(stock) and stock[arrived][0] <= day:
            in_transit += stock[arrived][1]
            arrived += 1
        if taken > on_hand + in_transit + 1e-6 * max(1.0, taken):
            by = "" if day == dt.date.max else f" by {day.isoformat()}"
            return taken, (
                f"{by} (net of what it receives by then), which holds {on_hand:g} on hand and "
                f"{in_transit:g} in transit arriving by then"
            )
    return None


def _stale_at_distributors(session: Session, plan_id: int) -> str | None:
    """Where a suggestion's distributor holds another quantity on hand of its SKU than the plan
    counted (the reason quotes it): None where none does. A distributor that reported 900 on
    hand after a plan counted 23 was still told to expect 148 more, "on hand 23.0"."""
    counted = PlanLine.details["on_hand"].as_float()
    lines = session.execute(
        select(PlanLine.sku, PlanLine.destination, counted).where(
            PlanLine.plan_id == plan_id, PlanLine.kind == LineKind.replenishment.value
        )
    ).all()
    if not lines:
        return None
    stock = stock_frame(session, nodes={destination for _sku, destination, _units in lines})
    held = stock.groupby(["sku", "node"])["on_hand"].sum().to_dict()
    changed = sorted(
        f"{sku} at {distributor}: {units:g} on hand then, {held.get((sku, distributor), 0.0):g} now"
        for sku, distributor, units in lines
        if units is not None and abs(held.get((sku, distributor), 0.0) - units) >= 0.5
    )
    return listed(changed, SHOWN_SHORTFALLS, separator="; ") if changed else None


def _withdrawn(session: Session, plan_id: int) -> str | None:
    """Why approving `plan_id` would withdraw suggestions: the (SKU, distributor) pairs the
    approved plan it replaces suggests that it does not plan (a SKU or a location it leaves
    out) and the network still holds; None where it plans them all. Distributors read the
    newest approved plan alone, so a plan of SKU-001 (or of the north's demand), approved, left
    the others without their suggestions, with no word."""
    plan = session.get(Plan, plan_id)
    before = session.scalar(
        select(func.max(Plan.id)).where(Plan.status == PlanStatus.approved.value, Plan.id < plan_id)
    )
    if plan is None or plan.skus is None or plan.locations is None or before is None:
        return None
    network = session.get(NetworkVersion, plan.network_id)
    document = network.document if network else {}
    held = {str(s["id"]) for s in document.get("skus", [])}
    served = {str(d["id"]) for d in document.get("distributors", [])}
    skus, locations = set(plan.skus), set(plan.locations)
    suggested = session.execute(
        select(PlanLine.sku, PlanLine.destination)
        .where(PlanLine.plan_id == before, PlanLine.kind == LineKind.replenishment.value)
        .distinct()
    )
    left_out = sorted(
        f"{sku} for {distributor}"
        for sku, distributor in suggested
        if (sku not in skus or distributor not in locations)
        and sku in held
        and distributor in served
    )
    if not left_out:
        return None
    return (
        f"plan {plan_id} does not plan {listed(left_out, SHOWN_SHORTFALLS)}, which approved "
        f"plan {before} suggests: distributors read the newest approved plan alone, so "
        "approving it would withdraw those suggestions; ask for a plan of every SKU and "
        "location, or reject this one"
    )


def _current_network_id() -> Any:
    """SELECT the id of the newest network version. A draft planned on an older one may serve a
    distributor whose credit turned red, or over a lane that is gone."""
    return select(func.max(NetworkVersion.id))


def _newer_approved(plan_id: int) -> Any:
    """EXISTS an approved plan made after `plan_id`. A draft was planned on the stock and
    forecast of its day; once a newer plan is approved, approving the older one would send
    distributors quantities from a stale position."""
    other = aliased(Plan)  # not the UPDATE's own row: its alias would correlate with it
    return exists().where(other.status == PlanStatus.approved.value, other.id > plan_id)


DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    status.HTTP_409_CONFLICT: {"model": ErrorMessage},
}


@router.post("/{plan_id}/approve", response_model=PlanPublic, responses=DECISION_RESPONSES)
def approve_plan(
    plan_id: DbId,
    session: SessionDep,
    principal: PlannerDep,
    decision: Annotated[PlanDecision | None, Body()] = None,
) -> PlanPublic:
    """Approve a draft: its replenishment suggestions become what distributors read."""
    return _decide(
        session, plan_id, PlanStatus.approved, principal, decision.note if decision else None
    )


@router.post("/{plan_id}/reject", response_model=PlanPublic, responses=DECISION_RESPONSES)
def reject_plan(
    plan_id: DbId,
    session: SessionDep,
    principal: PlannerDep,
    decision: Annotated[PlanDecision | None, Body()] = None,
) -> PlanPublic:
    """Reject a draft (it stays readable, and is never shown to distributors)."""
    return _decide(
        session, plan_id, PlanStatus.rejected, principal, decision.note if decision else None
    )
