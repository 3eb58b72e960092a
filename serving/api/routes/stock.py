"""Stock positions: replace them all (PUT), update some (PATCH), read them (paged)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from allocation.errors import AllocationInputError
from allocation.inputs import validate_stock
from serving import audit
from serving.crud import current_network
from serving.db import IN_LIST_MAX, begin_write, lock_tables
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


Key = tuple[str, str]


def _stored(session: Session, positions: list[StockPositionIn]) -> dict[Key, list[StockPosition]]:
    """The stored rows of each (sku, node) the positions name, undated first."""
    keys = {(p.sku, p.node) for p in positions}
    skus = sorted({sku for sku, _ in keys})
    stored: dict[Key, list[StockPosition]] = {}
    # In batches (IN_LIST_MAX): a PATCH of 70,000 SKUs was a 500 on PostgreSQL; a SKU's rows
    # all come in its own batch.
    for first in range(0, len(skus), IN_LIST_MAX):
        batch = skus[first : first + IN_LIST_MAX]
        query = select(StockPosition).where(StockPosition.sku.in_(batch))
        for row in session.scalars(query.order_by(StockPosition.arrival_date.nulls_first())):
            if (row.sku, row.node) in keys:
                stored.setdefault((row.sku, row.node), []).append(row)
    return stored


def _target(
    rows: list[StockPosition], position: StockPositionIn, alone: bool
) -> StockPosition | None:
    """The stored row a PATCH position updates, None for a new one. alone: the only position
    of its SKU and node in the body. Alone, where the SKU and node has one row: that row (new
    in-transit units replace its shipment). Otherwise the row of the arrival date sent (none: a
    new shipment), or, with no date sent, the undated row, which holds the on hand (none: a new
    one); `_patch` then checks the SKU and node whole."""
    if alone and len(rows) == 1:
        return rows[0]
    due = position.arrival_date if "arrival_date" in position.model_fields_set else None
    return next((row for row in rows if row.arrival_date == due), None)


def _merged(position: StockPositionIn, row: StockPosition | None) -> StockPositionIn:
    """The position sent, with the fields it leaves out taken from its stored row, if any."""
    if row is None:
        return position
    sent = position.model_fields_set
    kept = {
        field: getattr(row, field) for field in StockPositionIn.model_fields if field not in sent
    }
    if "in_transit" in sent and position.in_transit != row.in_transit:
        # New in-transit units bring their own date: the stored one was another shipment's.
        kept.pop("arrival_date", None)
    return position.model_copy(update=kept)


def _as_sent(row: StockPosition) -> StockPositionIn:
    return StockPositionIn(**{field: getattr(row, field) for field in StockPositionIn.model_fields})


def _patch(session: Session, positions: list[StockPositionIn]) -> None:
    """Apply a PATCH: each position updates its stored row (`_target`) or adds one. Every SKU
    and node it touches is checked whole afterwards (a date moved onto another shipment's, the
    on hand set on a second row)."""
    stored = _stored(session, positions)
    named = Counter((p.sku, p.node) for p in positions)
    updates: list[tuple[StockPositionIn, StockPosition | None]] = []
    for position in positions:  # never two on one row: `_duplicates_error` came first
        key = (position.sku, position.node)
        row = _target(stored.get(key, []), position, alone=named[key] == 1)
        updates.append((_merged(position, row), row))
    taken = {row.id for _merged_position, row in updates if row is not None}
    untouched = [_as_sent(r) for rows in stored.values() for r in rows if r.id not in taken]
    # The positions sent first, so that a row number in an error is their index.
    _check_against_network(session, [merged for merged, _row in updates] + untouched)
    now = utcnow()
    for merged, row in updates:
        if row is None:
            session.add(StockPosition(**merged.model_dump(), updated_at=now))
            continue
        row.on_hand, row.in_transit = merged.on_hand, merged.in_transit
        row.arrival_date, row.updated_at = merged.arrival_date, now


def _duplicates_error(positions: list[StockPositionIn]) -> None:
    """A position repeated in one body (the same SKU, node and arrival date) is a 422 naming
    it."""
    seen: set[tuple[str, str, object]] = set()
    for index, position in enumerate(positions):
        key = (position.sku, position.node, position.arrival_date)
        if key in seen:
            raise AllocationInputError(
                f"stock: positions[{index}] repeats {position.sku} at {position.node} due "
                f"{position.arrival_date or 'with no date'}: send one position per SKU, node "
                "and arrival date (shipments due the same day summed)",
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
    _duplicates_error(upload.positions)
    begin_write(session)
    # Two PATCHes at once each read no stored row of a key and both added one (500); the
    # network is read after the lock, so an upload beside it is either seen or waits.
    lock_tables(session, "stock_positions")
    _check_against_network(session, upload.positions)
    session.execute(delete(StockPosition))
    now = utcnow()
    session.add_all(StockPosition(**p.model_dump(), updated_at=now) for p in upload.positions)
    audit.record(session, principal, "stock.replace", "stock", positions=len(upload.positions))
    session.commit()
    return _page(session, 0, 0)


@router.patch("", response_model=StockPositionsPublic, responses={409: {"model": ErrorMessage}})
def update_stock(
    upload: StockUpload, session: SessionDep, principal: PlannerDep
) -> StockPositionsPublic:
    """Update (or add) the positions sent; the others stay as they are, and so do the fields a
    position leaves out (`on_hand` alone keeps its in-transit units and their arrival date).
    Where a SKU at a node holds several shipments, or the body sends several of its positions,
    a position updates the one of its arrival_date (or adds it), and one with no date the
    undated position (`_target`)."""
    _duplicates_error(upload.positions)
    begin_write(session)
    lock_tables(session, "stock_positions")
    _patch(session, upload.positions)
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
