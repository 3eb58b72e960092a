"""The service's tables (SQLAlchemy 2); the Alembic migrations in serving/migrations mirror them.

Times are timezone-aware UTC. Quantities are units (float: forecasts and plans are fractional
until packs round them). JSON columns hold documents the service returns as they are (a network,
a plan's KPIs, a job's payload); anything that is filtered or joined on has its own column.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Acknowledgement",
    "ApiKey",
    "AuditEntry",
    "Base",
    "IdempotencyRecord",
    "Job",
    "JobStatus",
    "LineKind",
    "NetworkVersion",
    "Plan",
    "PlanAlert",
    "PlanLine",
    "PlanStatus",
    "Role",
    "SalesIngest",
    "SalesRow",
    "StockPosition",
    "utcnow",
]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Role(enum.StrEnum):
    planner = "planner"
    distributor = "distributor"
    admin = "admin"


class PlanStatus(enum.StrEnum):
    draft = "draft"
    approved = "approved"
    rejected = "rejected"


class LineKind(enum.StrEnum):
    transfer = "transfer"
    replenishment = "replenishment"
    unmet = "unmet"


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"  # while queued, by a key that may start it: no worker claims it


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every database (SQLite stores none: read back as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"naive datetime {value} given: timestamps must be timezone-aware")
        return None if value is None else value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _timestamp(*, nullable: bool = False, default: bool = False) -> Any:
    return mapped_column(UtcDateTime(), nullable=nullable, default=utcnow if default else None)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class ApiKey(Base):
    """A key's SHA-256 hash (keys are 256-bit random: a fast hash is safe), its role and scope."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to tell keys apart
    role: Mapped[str] = mapped_column(String(16))
    distributor_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))  # auth.MAX_KEY_NAME
    created_at: Mapped[dt.datetime] = _timestamp(default=True)
    revoked_at: Mapped[dt.datetime | None] = _timestamp(nullable=True)


class AuditEntry(Base):
    """One write: who (key id and role), what (action, resource, id, detail), when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_resource", "resource", "resource_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = _timestamp(default=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class NetworkVersion(Base):
    """An uploaded network (warehouses, lanes, distributors, SKUs); the newest is current."""

    __tablename__ = "networks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = _timestamp(default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)


class StockPosition(Base):
    """Units on hand and in transit of one SKU at one node (in transit arrives on arrival_date).
    Each shipment on its way takes a row of its own: unique by SKU, node and arrival date."""

    __tablename__ = "stock_positions"
    __table_args__ = (
        UniqueConstraint("sku", "node", "arrival_date", name="uq_stock_positions_sku_node_arrival"),
        # NULLs are distinct in a unique key: without this, two PATCHes at once could each add
        # an undated position of one SKU and node (on PostgreSQL).
        Index(
            "uq_stock_positions_sku_node_undated",
            "sku",
            "node",
            unique=True,
            postgresql_where=text("arrival_date IS NULL"),
            sqlite_where=text("arrival_date IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64))
    on_hand: Mapped[float] = mapped_column(Float)
    in_transit: Mapped[float] = mapped_column(Float, default=0.0)
    arrival_date: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = _timestamp(default=True)


class SalesIngest(Base):
    """One accepted batch of sales (its rows are in `sales`)."""

    __tablename__ = "sales_ingests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = _timestamp(default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    rows: Mapped[int] = mapped_column(Integer)
    series: Mapped[int] = mapped_column(Integer)
    first_date: Mapped[dt.date] = mapped_column(Date)
    last_date: Mapped[dt.date] = mapped_column(Date)
    # how the rows were read where their sender may have meant otherwise (crud.ingest_rows)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))


class SalesRow(Base):
    """Units sold of one SKU at one location on one day (a newer ingest replaces the same day)."""

    __tablename__ = "sales"
    __table_args__ = (
        UniqueConstraint("sku", "location", "date", name="uq_sales_sku_location_date"),
        # An ingest reads a location's stored region and the first and last stored day: one
        # index lookup each, not a scan of every stored day (crud.ingest_rows).
        Index("ix_sales_location_region", "location", "region"),
        Index("ix_sales_date", "date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ingest_id: Mapped[int] = mapped_column(ForeignKey("sales_ingests.id"))
    sku: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(64))
    date: Mapped[dt.date] = mapped_column(Date)
    units: Mapped[float] = mapped_column(Float)
    price: Mapped[float | None] = mapped_column(Float)
    promo: Mapped[float | None] = mapped_column(Float)
    event: Mapped[float | None] = mapped_column(Float)  # 1 on a holiday / event day, else 0


class Plan(Base):
    """An allocation plan, the model version behind its demand, and its approval state."""

    __tablename__ = "plans"
    __table_args__ = (Index("ix_plans_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = _timestamp(default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    status: Mapped[str] = mapped_column(String(16), default=PlanStatus.draft.value)
    model_version: Mapped[str | None] = mapped_column(String(64))
    demand_source: Mapped[str] = mapped_column(String(32))  # "champion" | "request" | "file"
    network_id: Mapped[int | None] = mapped_column(ForeignKey("networks.id"))
    horizon: Mapped[int | None] = mapped_column(Integer)  # days of demand planned for
    starts: Mapped[dt.date | None] = mapped_column(Date)  # the plan's first day ("today")
    kpis: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    solver: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The SKUs and demand locations it plans for (sorted); None for a plan stored before they
    # were kept.
    skus: Mapped[list[str] | None] = mapped_column(JSON)
    locations: Mapped[list[str] | None] = mapped_column(JSON)
    decided_at: Mapped[dt.datetime | None] = _timestamp(nullable=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    decision_note: Mapped[str | None] = mapped_column(Text)

    lines: Mapped[list[PlanLine]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="PlanLine.id"
    )
    alerts: Mapped[list[PlanAlert]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="PlanAlert.id"
    )


class PlanLine(Base):
    """One transfer, replenishment suggestion (destination = distributor) or unmet quantity."""

    __tablename__ = "plan_lines"
    __table_args__ = (Index("ix_plan_lines_plan_kind_dest", "plan_id", "kind", "destination"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    sku: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str | None] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(64))  # node, distributor or demand location
    quantity: Mapped[float] = mapped_column(Float)  # units
    arrives: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # numbers behind the reason

    plan: Mapped[Plan] = relationship(back_populates="lines")


class PlanAlert(Base):
    """A stockout risk, overstock or slow-mover warning raised by a plan, with its numbers."""

    __tablename__ = "plan_alerts"
    __table_args__ = (Index("ix_plan_alerts_plan_kind", "plan_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    sku: Mapped[str | None] = mapped_column(String(64))
    node: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    numbers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    plan: Mapped[Plan] = relationship(back_populates="alerts")


class Acknowledgement(Base):
    """A distributor saw a plan's suggestions for it (one per plan and distributor)."""

    __tablename__ = "acknowledgements"
    __table_args__ = (
        UniqueConstraint("plan_id", "distributor_id", name="uq_acknowledgements_plan_distributor"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    distributor_id: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _timestamp(default=True)


class Job(Base):
    """Work done outside a request by `allocast worker`: queued → running → succeeded | failed,
    or queued → cancelled."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.queued.value)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(128))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[dt.datetime] = _timestamp(default=True)
    started_at: Mapped[dt.datetime | None] = _timestamp(nullable=True)
    lease_until: Mapped[dt.datetime | None] = _timestamp(nullable=True)
    finished_at: Mapped[dt.datetime | None] = _timestamp(nullable=True)


class IdempotencyRecord(Base):
    """The answer first given to (api key, Idempotency-Key), replayed when the request repeats."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("api_key_id", "key", name="uq_idempotency_keys_api_key_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)  # None while the first is in flight
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = _timestamp(default=True)
