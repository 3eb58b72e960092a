"""Reading and writing the stored inputs as the frames the libraries take (one place for each).

`current_network` (allocation.Network), `stock_frame` (allocation stock frame), `stored_sales`
(the canonical sales frame forecasting takes) and `store_sales` (a validated ingest).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from allocation.errors import AllocationInputError
from allocation.network import Network, parse_network
from forecasting.columns import DATE, EVENT, LOCATION, PRICE, PROMO, REGION, SKU, UNITS
from forecasting.data import prepare_sales
from serving.models import NetworkVersion, SalesIngest, SalesRow, StockPosition, utcnow

__all__ = [
    "SALES_COLUMNS",
    "current_network",
    "replace_stock",
    "stock_frame",
    "store_network",
    "store_sales",
    "stored_sales",
]

SALES_COLUMNS = (SKU, LOCATION, REGION, DATE, UNITS, PRICE, PROMO, EVENT)
STOCK_COLUMNS = ("sku", "node", "on_hand", "in_transit", "arrival_date")


def current_network(session: Session) -> tuple[NetworkVersion, Network] | None:
    """The newest stored network and its parsed form, or None when none was uploaded."""
    row = session.scalars(
        select(NetworkVersion).order_by(NetworkVersion.id.desc()).limit(1)
    ).first()
    if row is None:
        return None
    return row, Network.model_validate(row.document)


def store_network(
    session: Session, document: dict[str, Any], created_by: int | None
) -> NetworkVersion:
    """Validate and store a network document as the new current version (not committed)."""
    _reject_control_characters(document, "network")
    network = parse_network(document, source="network")
    row = NetworkVersion(document=network.model_dump(mode="json"), created_by=created_by)
    session.add(row)
    session.flush()
    return row


def _reject_control_characters(value: Any, where: str) -> None:
    """Ids and names are text: a NUL or other control character is a client error (PostgreSQL
    text cannot even store NUL), named by its path in the document."""
    if isinstance(value, str):
        if any(ord(char) < 32 and char not in "\t\n\r" for char in value):
            raise AllocationInputError(
                f"{where}: {value!r} contains a control character; ids and names are plain text",
                source="network",
                field=where,
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_control_characters(str(key), where)
            _reject_control_characters(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_control_characters(item, f"{where}.{index}")


def replace_stock(session: Session, stock: pd.DataFrame) -> int:
    """Replace every stored position with a validated stock frame's rows (not committed)."""
    session.execute(delete(StockPosition))
    now = utcnow()
    arrivals = pd.to_datetime(stock["arrival_date"])
    records = [
        {
            "sku": str(sku),
            "node": str(node),
            "on_hand": float(on_hand),
            "in_transit": float(in_transit),
            "arrival_date": None if pd.isna(arrival) else arrival.date(),
            "updated_at": now,
        }
        for sku, node, on_hand, in_transit, arrival in zip(
            stock["sku"],
            stock["node"],
            stock["on_hand"],
            stock["in_transit"],
            arrivals,
            strict=True,
        )
    ]
    if records:
        session.execute(insert(StockPosition), records)
    return len(records)


def stock_frame(session: Session) -> pd.DataFrame:
    """Stored positions as the stock frame: sku, node, on_hand, in_transit, arrival_date."""
    rows = session.execute(
        select(
            StockPosition.sku,
            StockPosition.node,
            StockPosition.on_hand,
            StockPosition.in_transit,
            StockPosition.arrival_date,
        )
    ).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=list(STOCK_COLUMNS))
    frame["arrival_date"] = pd.to_datetime(frame["arrival_date"])
    return frame


def stored_sales(
    session: Session, skus: list[str] | None = None, locations: list[str] | None = None
) -> pd.DataFrame:
    """The stored sales as the canonical frame (zero-filled across ingests); empty when none.

    Columns without any stored value (e.g. no price was ever sent) are left out.
    """
    query = select(*(getattr(SalesRow, column) for column in SALES_COLUMNS))
    if skus:
        query = query.where(SalesRow.sku.in_(skus))
    if locations:
        query = query.where(SalesRow.location.in_(locations))
    rows = session.execute(query.order_by(SalesRow.sku, SalesRow.location, SalesRow.date)).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=list(SALES_COLUMNS))
    if frame.empty:
        return frame
    frame = frame.dropna(axis="columns", how="all")
    return prepare_sales(frame, source="stored sales")


def store_sales(session: Session, sales: pd.DataFrame, created_by: int | None) -> SalesIngest:
    """Store a canonical sales frame; its days replace those already stored (not committed)."""
    dates = pd.to_datetime(sales[DATE])
    ingest = SalesIngest(
        created_by=created_by,
        rows=len(sales),
        series=int(sales[[SKU, LOCATION]].drop_duplicates().shape[0]),
        first_date=dates.min().date(),
        last_date=dates.max().date(),
    )
    session.add(ingest)
    session.flush()
    spans = (
        sales.assign(**{DATE: dates})
        .groupby([SKU, LOCATION], observed=True)[DATE]
        .agg(["min", "max"])
        .reset_index()
    )
    replaced = delete(SalesRow).where(
        SalesRow.sku == bindparam("s"),
        SalesRow.location == bindparam("l"),
        SalesRow.date >= bindparam("first"),
        SalesRow.date <= bindparam("last"),
    )
    session.connection().execute(
        replaced,
        [
            {"s": s, "l": loc, "first": lo.date(), "last": hi.date()}
            for s, loc, lo, hi in spans.itertuples(index=False)
        ],
    )
    records = []
    for record in sales.assign(**{DATE: dates.dt.date}).to_dict(orient="records"):
        row = {column: record.get(column) for column in SALES_COLUMNS}
        for column in (REGION, PRICE, PROMO, EVENT):
            if row[column] is not None and pd.isna(row[column]):
                row[column] = None
        row["ingest_id"] = ingest.id
        records.append(row)
    session.execute(insert(SalesRow), records)
    return ingest
