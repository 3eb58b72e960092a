"""Sales ingests: planners send new sales rows (validated by forecasting), read past ingests."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from fastapi import APIRouter, status
from sqlalchemy import func, select

from serving import audit
from serving.crud import ingest_rows
from serving.db import begin_write, lock_tables
from serving.deps import PlannerDep, SessionDep
from serving.models import SalesIngest
from serving.schemas import (
    LimitQuery,
    OffsetQuery,
    SalesIngestCreate,
    SalesIngestPublic,
    SalesIngestsPublic,
)

router = APIRouter(prefix="/v1/sales", tags=["sales"])


@router.post("", response_model=SalesIngestPublic, status_code=status.HTTP_201_CREATED)
def ingest_sales(
    ingest: SalesIngestCreate, session: SessionDep, principal: PlannerDep
) -> SalesIngestPublic:
    """Validate and store sales rows; days already stored for a SKU and location are replaced.

    Missing days inside a series are zero sales (filled); a row without a region takes its
    location's stored one. A 422 names the rows (1-based positions in `rows`) and stores none:
    duplicate (sku, location, date) rows, a day after today (UTC), a history of more than 20
    years or 5 million rows once filled, a region other than the location's stored one, days
    after the stored history that leave more than 31 days without a day.
    """
    frame = pd.DataFrame([row.model_dump(exclude_none=True) for row in ingest.rows])
    begin_write(session)
    lock_tables(session, "sales")  # the checks read what the ingest then replaces
    stored = ingest_rows(session, frame, principal.key_id, dt.datetime.now(dt.UTC).date())
    audit.record(
        session,
        principal,
        "sales.ingest",
        "sales",
        stored.id,
        rows=stored.rows,
        series=stored.series,
    )
    session.commit()
    return SalesIngestPublic.model_validate(stored)


@router.get("/ingests", response_model=SalesIngestsPublic)
def list_ingests(
    session: SessionDep, _principal: PlannerDep, offset: OffsetQuery = 0, limit: LimitQuery = 50
) -> SalesIngestsPublic:
    """Past ingests, newest first."""
    count = session.scalar(select(func.count()).select_from(SalesIngest)) or 0
    rows = session.scalars(
        select(SalesIngest).order_by(SalesIngest.id.desc()).offset(offset).limit(limit)
    ).all()
    return SalesIngestsPublic(
        data=[SalesIngestPublic.model_validate(row) for row in rows], count=count
    )
