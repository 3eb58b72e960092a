"""Stock positions: replace them all (PUT), update some (PATCH), read them (paged)."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import delete, func, select, text
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


def _lock_positions(session: Session) -> None:
    """Take the stock positions for this request's write. SQLite queues writers already
    (`begin_write`); on PostgreSQL two PATCHes at once each read no stored row of a key and
    both added one (the unique index then failed one with a 500). Readers go on."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE stock_positions IN SHARE ROW EXCLUSIVE MODE"))


def _stored(
    session: Session, positions: list[StockPositionIn]
) -> dict[tuple[str, str], StockPosition]:
    """The stored row of each (sku, node) the positions name; a 409 where one holds several
    shipments (a PATCH cannot tell which of them a position updates)."""
    keys = {(p.sku, p.node) for p in positions}
    stored: dict[tuple[str, str], StockPosition] = {}
    query = select(StockPosition).where(StockPosition.sku.in_({sku for sku, _ in keys}))
    for row in session.scalars(query.order_by(StockPosition.arrival_date.nulls_first())):
        key = (row.sku, row.node)
        if key not in keys:
            continue
        if key in stored:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"{row.sku} at {row.node} has several positions stored (due "
                f"{stored[key].arrival_date or 'no date'} and {row.arrival_date or 'no date'}); "
                "a PATCH updates one position per SKU and node: PUT /v1/stock to change them",
            )
        stored[key] = row
    return stored


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


def _duplicates_error(positions: list[StockPositionIn], *, shipments: bool) -> None:
    """A repeated position is a 422 naming it. shipments: a SKU at a node may take one position
    per arrival date (a PUT); otherwise one in all (a PATCH, which updates a stored one)."""
    seen: set[tuple[str, str, object]] = set()
    for index, position in enumerate(positions):
        key = (position.sku, position.node, position.arrival_date if shipments else None)
        if key in seen:
            how = (
                f"due {position.arrival_date or 'with no date'}: send one position per SKU, node "
                "and arrival date (shipments due the same day summed)"
                if shipments
                else "; a PATCH updates one position per SKU and node: PUT /v1/stock to write "
                "several shipments"
            )
            raise AllocationInputError(
                f"stock: positions[{index}] repeats {position.sku} at {position.node} {how}",
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
    """Replace every stock position with the ones sent: one per SKU, node and arrival date (each
    shipment on its way a position of its own, the on hand given on one of them)."""
    _duplicates_error(upload.positions, shipments=True)
    _check_against_network(session, upload.positions)
    begin_write(session)
    _lock_positions(session)
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
    position leaves out (`on_hand` alone keeps its in-transit units and their arrival date). One
    position per SKU and node: a SKU at a node with several shipments stored is a 409 (PUT)."""
    _duplicates_error(upload.positions, shipments=False)
    begin_write(session)
    _lock_positions(session)
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
        query.order_by(
            StockPosition.sku, StockPosition.node, StockPosition.arrival_date.nulls_first()
        )
        .offset(offset)
        .limit(limit)
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
