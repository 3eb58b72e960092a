"""Stock positions: replace them all (PUT), update some (PATCH), read them (paged)."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from allocation.errors import AllocationInputError
from allocation.inputs import validate_stock
from serving import audit
from serving.crud import current_network
from serving.db import begin_write
from serving.deps import PlannerDep, SessionDep
from serving.errors import ErrorMessage
from serving.models import StockPosition, utcnow
from serving.schemas import (
    MAX_FILTER_VALUES,
    Id,
    LimitQuery,
    OffsetQuery,
    StockPositionIn,
    StockPositionPublic,
    StockPositionsPublic,
    StockUpload,
)

router = APIRouter(prefix="/v1/stock", tags=["stock"])


def _check_against_network(session: Session, positions: list[StockPositionIn]) -> None:
    """Positions must name SKUs and nodes of the current network: 409 while there is none
    (nothing to check them against; unchecked, they would fail every later plan)."""
    found = current_network(session)
    if found is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "no network yet: PUT /v1/network first (stock positions name its SKUs and nodes)",
        )
    frame = pd.DataFrame([p.model_dump() for p in positions])
    validate_stock(frame, found[1], source="stock")


def _stored(
    session: Session, positions: list[StockPositionIn]
) -> dict[tuple[str, str], StockPosition]:
    """The stored rows of the positions' SKUs, by (sku, node)."""
    return {
        (row.sku, row.node): row
        for row in session.scalars(
            select(StockPosition).where(StockPosition.sku.in_({p.sku for p in positions}))
        )
    }


def _upsert(session: Session, positions: list[StockPositionIn]) -> None:
    existing = _stored(session, positions)
    now = utcnow()
    for position in positions:
        row = existing.get((position.sku, position.node))
        if row is None:
            session.add(StockPosition(**position.model_dump(), updated_at=now))
        else:
            row.on_hand = position.on_hand
            row.in_transit = position.in_transit
            row.arrival_date = position.arrival_date
            row.updated_at = now


def _merged(session: Session, positions: list[StockPositionIn]) -> list[StockPositionIn]:
    """Each position sent, with the fields it leaves out taken from its stored row, if any."""
    stored = _stored(session, positions)
    merged = []
    for position in positions:
        row = stored.get((position.sku, position.node))
        kept = (
            {}
            if row is None
            else {
                field: getattr(row, field)
                for field in StockPositionIn.model_fields
                if field not in position.model_fields_set
            }
        )
        sent = position.model_fields_set
        if row is not None and "in_transit" in sent and position.in_transit != row.in_transit:
            # New in-transit units bring their own date: the stored one was another shipment's.
            kept.pop("arrival_date", None)
        merged.append(position.model_copy(update=kept))
    return merged


def _duplicates_error(positions: list[StockPositionIn]) -> None:
    seen: set[tuple[str, str]] = set()
    for index, position in enumerate(positions):
        key = (position.sku, position.node)
        if key in seen:
            raise AllocationInputError(
                f"stock: positions[{index}] repeats {position.sku} at {position.node}; "
                "send one position per SKU and node",
                source="stock",
                field=f"positions.{index}",
                item=f"{position.sku}@{position.node}",
            )
        seen.add(key)


@router.put(
    "",
    response_model=StockPositionsPublic,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorMessage}},
)
def replace_stock(
    upload: StockUpload, session: SessionDep, principal: PlannerDep
) -> StockPositionsPublic:
    """Replace every stock position with the ones sent."""
    _duplicates_error(upload.positions)
    _check_against_network(session, upload.positions)
    begin_write(session)
    session.execute(delete(StockPosition))
    _upsert(session, upload.positions)
    audit.record(session, principal, "stock.replace", "stock", positions=len(upload.positions))
    session.commit()
    return _page(session, 0, 0)


@router.patch("", response_model=StockPositionsPublic, responses={409: {"model": ErrorMessage}})
def update_stock(
    upload: StockUpload, session: SessionDep, principal: PlannerDep
) -> StockPositionsPublic:
    """Update (or add) the positions sent; the others stay as they are, and so do the fields a
    position leaves out (`on_hand` alone keeps its in-transit units and their arrival date)."""
    _duplicates_error(upload.positions)
    begin_write(session)
    positions = _merged(session, upload.positions)
    _check_against_network(session, positions)
    _upsert(session, positions)
    audit.record(session, principal, "stock.update", "stock", positions=len(upload.positions))
    session.commit()
    return _page(session, 0, 0)


def _page(
    session: Session,
    offset: int,
    limit: int,
    skus: list[str] | None = None,
    nodes: list[str] | None = None,
) -> StockPositionsPublic:
    query = select(StockPosition)
    if skus:
        query = query.where(StockPosition.sku.in_(skus))
    if nodes:
        query = query.where(StockPosition.node.in_(nodes))
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(StockPosition.sku, StockPosition.node).offset(offset).limit(limit)
    ).all()
    return StockPositionsPublic(
        data=[StockPositionPublic.model_validate(row) for row in rows], count=count
    )


@router.get("", response_model=StockPositionsPublic)
def read_stock(
    session: SessionDep,
    _principal: PlannerDep,
    sku: Annotated[
        list[Id] | None, Query(max_length=MAX_FILTER_VALUES, description="SKUs to include")
    ] = None,
    node: Annotated[
        list[Id] | None, Query(max_length=MAX_FILTER_VALUES, description="nodes to include")
    ] = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> StockPositionsPublic:
    """Stored positions, filtered by SKUs and nodes (each may be repeated: `sku=A&sku=B`),
    `count` = all that match."""
    return _page(session, offset, limit, sku, node)
