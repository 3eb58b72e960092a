"""Allocation plans in the service: demand (the champion's forecast or the request's rows) +
stored network and stock -> `allocation.plan` -> plan rows in the database.

The same functions answer a small request at once and run a large one as an `allocation` job in
`allocast worker`. Every stored plan records the model version behind its demand.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import allocation
from allocation.errors import AllocationInputError
from allocation.network import Network
from forecasting.columns import REGION
from serving import audit
from serving.auth import Principal
from serving.crud import current_network, stock_frame
from serving.forecast_service import (
    ForecastCache,
    ForecastQuery,
    NoSalesError,
    forecast_stored_sales,
)
from serving.jobs import JobContext, register_handler
from serving.model_store import ModelStore
from serving.models import LineKind, Plan, PlanAlert, PlanLine, Role, SalesRow
from serving.schemas import AllocationCreate

__all__ = [
    "ALLOCATION_JOB",
    "DemandSource",
    "PlanOutcome",
    "demand_locations",
    "make_plan",
    "planned_days",
    "series_count",
    "store_plan",
]

log = logging.getLogger(__name__)

ALLOCATION_JOB = "allocation"
DemandSource = str  # "champion" (the served model's forecast) or "request" (rows sent)


class MissingInputError(AllocationInputError):
    """A stored input (network, stock, sales) the plan needs is not there yet."""


@dataclass(frozen=True)
class PlanOutcome:
    """A solved plan and where its demand came from."""

    plan: allocation.Plan
    network_id: int
    model_version: str | None
    demand_source: DemandSource
    note: str | None  # what was left out of the demand, if anything


def demand_locations(network: Network) -> set[str]:
    """Where demand is planned: forward warehouses (their catchment) and distributors."""
    forward = {w.id for w in network.warehouses if w.kind == "forward"}
    return forward | {d.id for d in network.distributors}


def require_network(session: Session) -> tuple[int, Network]:
    found = current_network(session)
    if found is None:
        raise MissingInputError(
            "no network stored yet: PUT /v1/network first", source="network", field=None
        )
    return found[0].id, found[1]


def series_count(session: Session, request: AllocationCreate, network: Network) -> int:
    """(SKU, location) demand series the request plans for: what decides sync or job."""
    if request.demand is not None:
        return len({(row.sku, row.location) for row in request.demand})
    pairs = select(SalesRow.sku, SalesRow.location).where(
        SalesRow.location.in_(demand_locations(network)),
        SalesRow.sku.in_(request.skus or network.sku_ids),
    )
    return session.scalar(select(func.count()).select_from(pairs.distinct().subquery())) or 0


def _request_demand(request: AllocationCreate) -> pd.DataFrame:
    assert request.demand is not None
    records = [
        {
            "sku": row.sku,
            "location": row.location,
            "date": pd.Timestamp(row.date),
            "forecast": row.forecast,
            **row.quantiles,
        }
        for row in request.demand
    ]
    frame = pd.DataFrame.from_records(records)
    if request.skus:
        frame = frame[frame["sku"].isin(request.skus)]
    return frame


def _forecast_demand(
    session: Session,
    model_store: ModelStore,
    cache: ForecastCache,
    request: AllocationCreate,
    network: Network,
) -> tuple[pd.DataFrame, str, str | None]:
    """The champion's forecast of the stored sales for the network's SKUs and demand locations.

    Goes through `serving.forecast_service` (the one place that forecasts stored sales), so a
    plan and `GET /v1/forecasts` share its cache and always agree.
    """
    locations = demand_locations(network)
    skus = request.skus or network.sku_ids
    query = ForecastQuery(
        horizon=request.horizon, skus=tuple(sorted(skus)), locations=tuple(sorted(locations))
    )
    try:
        result = forecast_stored_sales(session, model_store, cache, query)
    except NoSalesError as error:
        raise MissingInputError(
            f"{error}; or send `demand` rows", source="demand", field="sales"
        ) from None
    forecast = result.frame.drop(columns=[REGION], errors="ignore")
    missing = sorted({f"{s}@{loc}" for s in skus for loc in locations} - _pairs(forecast))
    note = None
    if missing:
        note = f"{len(missing)} SKU-location pairs have no sales history and get no demand: " + (
            ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        )
    return forecast, result.model_version, note


def _pairs(frame: pd.DataFrame) -> set[str]:
    return {
        f"{s}@{loc}"
        for s, loc in frame[["sku", "location"]].drop_duplicates().itertuples(index=False)
    }


def make_plan(
    session: Session, model_store: ModelStore, cache: ForecastCache, request: AllocationCreate
) -> PlanOutcome:
    """Solve a plan for the request over the stored network and stock (nothing is written)."""
    network_id, network = require_network(session)
    stock = stock_frame(session)
    if stock.empty:
        raise MissingInputError(
            "no stock positions stored yet: PUT /v1/stock first", source="stock", field=None
        )
    version: str | None = None
    note: str | None = None
    if request.demand is not None:
        demand, source = _request_demand(request), "request"
    else:
        demand, version, note = _forecast_demand(session, model_store, cache, request, network)
        source = "champion"
    policy = allocation.parse_policy(request.policy or {}, source="policy")
    solved = allocation.plan(
        network,
        stock,
        demand,
        policy,
        today=None if request.today is None else pd.Timestamp(request.today),
        solver=request.solver,
        time_limit=request.time_limit,
        integer_packs=request.integer_packs,
    )
    return PlanOutcome(solved, network_id, version, source, note)


def planned_days(request: AllocationCreate) -> int:
    """Days of demand the plan covers: the forecast horizon, or the days of the rows sent."""
    if request.demand is None:
        return request.horizon
    return len({row.date for row in request.demand})


def _date(value: Any) -> dt.date | None:
    if isinstance(value, str) and value:
        return dt.date.fromisoformat(value[:10])
    return None


def _details(record: dict[str, Any], shown: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in shown}


def _lines(document: dict[str, Any]) -> list[PlanLine]:
    lines = []
    for record in document["transfers"]:
        shown: tuple[str, ...] = ("sku", "origin", "destination", "quantity", "arrives", "reason")
        lines.append(
            PlanLine(
                kind=LineKind.transfer.value,
                sku=record["sku"],
                origin=record["origin"],
                destination=record["destination"],
                quantity=float(record["quantity"]),
                arrives=_date(record.get("arrives")),
                reason=record.get("reason"),
                details=_details(record, shown),
            )
        )
    for record in document["replenishment"]:
        shown = ("sku", "source", "distributor", "quantity", "arrives", "reason")
        lines.append(
            PlanLine(
                kind=LineKind.replenishment.value,
                sku=record["sku"],
                origin=record.get("source"),
                destination=record["distributor"],
                quantity=float(record["quantity"]),
                arrives=_date(record.get("arrives")),
                reason=record.get("reason"),
                details=_details(record, shown),
            )
        )
    for record in document["unmet"]:
        shown = ("sku", "location", "quantity", "cause")
        lines.append(
            PlanLine(
                kind=LineKind.unmet.value,
                sku=record["sku"],
                origin=None,
                destination=record["location"],
                quantity=float(record["quantity"]),
                arrives=None,
                reason=record.get("cause"),
                details=_details(record, shown),
            )
        )
    return lines


def _alerts(document: dict[str, Any]) -> list[PlanAlert]:
    shown = ("kind", "sku", "node", "message")
    return [
        PlanAlert(
            kind=record["kind"],
            sku=record.get("sku"),
            node=record.get("node"),
            message=record.get("message") or "",
            numbers=_details(record, shown),
        )
        for record in document["alerts"]
    ]


def store_plan(
    session: Session,
    outcome: PlanOutcome,
    *,
    horizon: int | None,
    created_by: int | None,
) -> Plan:
    """Add the plan, its lines and alerts to the session as a draft (flushed, not committed)."""
    document = outcome.plan.to_dict()
    solver = dict(document["solver"])
    if outcome.note:
        solver["demand_note"] = outcome.note
    row = Plan(
        created_by=created_by,
        status="draft",
        model_version=outcome.model_version,
        demand_source=outcome.demand_source,
        network_id=outcome.network_id,
        horizon=horizon,
        starts=_date(document.get("today")),
        kpis=document["kpis"],
        solver=solver,
    )
    row.lines = _lines(document)
    row.alerts = _alerts(document)
    session.add(row)
    session.flush()
    return row


def run_allocation_job(payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """Job handler: solve and store the plan a large `POST /v1/allocations` asked for."""
    request = AllocationCreate.model_validate(payload["request"])
    with context.database.session() as session:
        outcome = make_plan(session, context.model_store, context.forecast_cache, request)
    with context.database.session(write=True) as session:
        row = store_plan(
            session, outcome, horizon=planned_days(request), created_by=payload.get("created_by")
        )
        principal = None
        if payload.get("created_by") is not None and payload.get("role"):
            principal = Principal(payload["created_by"], Role(payload["role"]), None)
        audit.record(session, principal, "allocation.create", "plan", row.id, job=context.job_id)
        plan_id = row.id
    return {"plan_id": plan_id, "model_version": outcome.model_version}


register_handler(ALLOCATION_JOB, run_allocation_job)
