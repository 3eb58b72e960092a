"""Allocation plans in the service: demand (the champion's forecast or the request's rows) +
stored network and stock -> `allocation.plan` -> plan rows in the database.

The same functions answer a small request at once and run a large one as an `allocation` job in
`allocast worker`. Every stored plan records the model version behind its demand. Solving is
CPU-bound: a service process solves at most ALLOCAST_MAX_CONCURRENT_SOLVES plans at once
(`SolveSlots`); more at once would only make each slower and hold the write lock longer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

import allocation
from allocation.errors import AllocationInputError, listed
from allocation.inputs import DATE, LOCATION, demand_locations
from allocation.model import cover_windows
from allocation.network import Network
from allocation.safety import cover_demand, no_spread_note, row_days
from forecasting.columns import REGION, SKU
from serving import audit
from serving.auth import Principal
from serving.crud import current_network, stock_frame
from serving.db import IN_LIST_MAX
from serving.errors import ServiceBusyError
from serving.forecast_service import (
    ForecastCache,
    ForecastQuery,
    NoSalesError,
    forecast_stored_sales,
    horizon_note,
    stored_series_outside,
)
from serving.jobs import JobContext, register_handler
from serving.model_store import ModelStore
from serving.models import LineKind, Plan, PlanAlert, PlanLine, Role, SalesRow
from serving.schemas import AllocationCreate, DemandRow

__all__ = [
    "ALLOCATION_JOB",
    "DemandSource",
    "PlanOutcome",
    "SolveSlots",
    "StoredPlan",
    "check_horizon",
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
    skus: list[str]  # what it plans for: the request's `skus`, else its demand's (or the network's)
    locations: list[str]  # the demand locations it plans for: its demand rows', else the network's


def require_network(session: Session) -> tuple[int, Network]:
    found = current_network(session)
    if found is None:
        raise MissingInputError(
            "no network stored yet: PUT /v1/network first", source="network", field=None
        )
    return found[0].id, found[1]


def requested_skus(request: AllocationCreate, network: Network) -> list[str]:
    """The SKUs the request plans for (`skus`, else the network's); a 422 naming any `skus`
    entry the network lacks."""
    if not request.skus:
        return list(network.sku_ids)
    unknown = sorted(set(request.skus) - set(network.sku_ids))
    if unknown:
        raise AllocationInputError(
            f"skus: {unknown[:5]} not in the network (PUT /v1/network to add them)",
            source="skus",
            field="skus",
            item=unknown[0],
        )
    return list(request.skus)


def series_count(session: Session, request: AllocationCreate, network: Network) -> int:
    """(SKU, location) demand series the request plans for: what decides sync or job."""
    skus = requested_skus(request, network)
    if request.demand is not None:
        return len({(row.sku, row.location) for row in request.demand})
    locations = demand_locations(network)
    total = 0
    for first in range(0, len(skus), IN_LIST_MAX):  # SKUs in batches
        pairs = select(SalesRow.sku, SalesRow.location).where(
            SalesRow.location.in_(locations), SalesRow.sku.in_(skus[first : first + IN_LIST_MAX])
        )
        total += session.scalar(select(func.count()).select_from(pairs.distinct().subquery())) or 0
    return total


class SolveSlots:
    """At most `size` solves at once in this process; the others queue, for `wait` seconds at
    most, then get `ServiceBusyError` (503 with Retry-After).

    The semaphore belongs to the event loop that first waits on it (a new loop, as in a second
    test client, gets a new one).
    """

    def __init__(self, size: int, wait: float) -> None:
        self.size = size
        self.wait = wait
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _current(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._semaphore, self._loop = asyncio.Semaphore(self.size), loop
        return self._semaphore

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Wait for a slot (no thread is held while waiting), solve inside the block."""
        semaphore = self._current()
        try:
            async with asyncio.timeout(self.wait):
                await semaphore.acquire()
        except TimeoutError:
            raise ServiceBusyError(
                f"{self.size} plans are being solved and more wait; none was free within "
                f"{self.wait:g} s (ALLOCAST_SOLVE_QUEUE_SECONDS): repeat the request later"
            ) from None
        try:
            yield
        finally:
            semaphore.release()


def _request_demand(request: AllocationCreate) -> pd.DataFrame:
    assert request.demand is not None
    rows = request.demand
    # Column by column: a frame from 17k dicts (one per row) took 5x longer.
    columns: dict[str, Any] = {
        "sku": [row.sku for row in rows],
        "location": [row.location for row in rows],
        "date": pd.to_datetime([row.date for row in rows]),
        "forecast": [row.forecast for row in rows],
    }
    names = sorted({name for row in rows for name in row.quantiles})
    _check_same_quantiles(rows, names)
    for name in names:
        columns[name] = [row.quantiles[name] for row in rows]
    frame = pd.DataFrame(columns)
    if request.skus:
        frame = frame[frame["sku"].isin(request.skus)]
        if frame.empty:  # else "demand is empty", of rows the client did send
            raise AllocationInputError(
                f"skus: {request.skus[:5]} match no `demand` row (its SKUs: "
                f"{sorted({row.sku for row in rows})[:5]})",
                source="skus",
                field="skus",
            )
    # on the rows planned: a series of two dates left out by `skus` told nothing of the others
    allocation.require_readable_periods(frame, "demand")
    return frame


def _check_same_quantiles(rows: list[DemandRow], names: list[str]) -> None:
    """Every row names the quantiles `names` (all the rows name), else a 422 naming one that
    some rows lack and exactly those rows (else a NaN in a column the row never named: "fails
    not_nullable"). Rows were listed by how many names they gave, not which: with q0.9 in one
    row and q0.5 in the other, both were said to lack q0.5."""
    first = next((row for row in rows if len(row.quantiles) < len(names)), None)
    if first is None:
        return
    name = next(name for name in names if name not in first.quantiles)
    lacking = [i for i, row in enumerate(rows) if name not in row.quantiles]
    # the same level named another way (q0.90 beside q0.9) is a column of its own
    other = next((given for given in first.quantiles if _level(given) == _level(name)), None)
    spelled = (
        f" (row {lacking[0]} names level {_level(name):g} {other!r}: name each level the "
        "same way in every row)"
        if other
        else ""
    )
    raise AllocationInputError(
        f"demand: row(s) {lacking[:5]} lack quantile(s) such as {name} that other rows "
        f"give{spelled}; give every row the same quantile levels",
        source="demand",
        field="quantiles",
        item=name,
    )


def _level(name: str) -> float:
    """The level of a `DemandRow` quantile name (q0.9, q.90: 0.9; its pattern holds a number)."""
    return float(name[1:])


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
    skus = requested_skus(request, network)
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
    notes = []
    if missing:
        notes.append(
            f"{len(missing)} SKU-location pairs have no sales history and get no demand: "
            + listed(missing, _NOTE_SHOWN)
        )
    # stored series the network has no place for (of the cached forecast of the call above)
    outside = stored_series_outside(session, model_store, cache, request.horizon, network)
    if request.skus:  # a plan of some SKUs names only theirs
        outside = outside[outside[SKU].isin(request.skus)]
    if len(outside):
        shown = [
            f"{sku}@{location} ({why})"
            for sku, location, why in outside[[SKU, LOCATION, "why"]]
            .head(_NOTE_SHOWN)
            .itertuples(index=False, name=None)
        ]
        notes.append(
            f"{len(outside)} stored sales series are outside the network and get no plan: "
            + listed(shown, _NOTE_SHOWN, total=len(outside))
        )
    past = horizon_note(request.horizon, result.trained_horizon)
    if past:
        notes.append(past)
    return forecast, result.model_version, "; ".join(notes) or None


_NOTE_SHOWN = 10  # series a plan's demand note names, then how many more


def _pairs(frame: pd.DataFrame) -> set[str]:
    return {
        f"{s}@{loc}"
        for s, loc in frame[["sku", "location"]].drop_duplicates().itertuples(index=False)
    }


def _stored_stock(session: Session) -> pd.DataFrame:
    stock = stock_frame(session)
    if stock.empty:
        raise MissingInputError(
            "no stock positions stored yet: PUT /v1/stock first", source="stock", field=None
        )
    return stock


def check_request(session: Session, request: AllocationCreate, network: Network) -> None:
    """What `make_plan` would refuse in the request, checked before it is queued as a job (a
    client's mistake is a 422 now, not a failed job later): stored stock, the policy, the demand
    rows sent (against the network) and `today` against them."""
    _stored_stock(session)
    policy = allocation.parse_policy(request.policy or {}, source="policy")
    if request.demand is None:
        _check_today_for_champion(session, request, network, policy)
        return
    demand = allocation.validate_demand(_request_demand(request), network, source="demand")
    if request.today is not None:
        _check_today_for_rows(demand, pd.Timestamp(request.today), network, policy)


def _check_today_for_rows(
    demand: pd.DataFrame, today: pd.Timestamp, network: Network, policy: allocation.Policy
) -> None:
    """The 422 the plan gives when no row sent falls inside its location's cover period from
    `today` (`allocation.planner._check_horizon`), from the same cover periods and rows: a
    looser check (the longest cover of any node) queued plans that then failed as jobs."""
    windows = cover_windows(network, policy)
    needs = cover_demand(demand, today, windows)
    if (needs["forecast_days"] > 0).any():
        return
    longest = int(windows.reindex(needs[LOCATION].unique()).max())
    raise AllocationInputError(
        f"today {today.date()}: no demand row falls inside its location's cover period from it "
        f"(at most {longest} days); the rows sent are dated {demand[DATE].min().date()} to "
        f"{demand[DATE].max().date()}",
        source="today",
        field="today",
    )


def _check_today_for_champion(
    session: Session, request: AllocationCreate, network: Network, policy: allocation.Policy
) -> None:
    """A `today` from which no day the champion forecasts (the horizon after the last stored
    day) can fall inside any cover period: after the last, or so far before the first that the
    longest cover period ends first (that one was queued and failed as a job). Loose on
    purpose (the forecast is not made yet: only the last stored day is known, and the longest
    cover period any node has), so it refuses only what cannot be planned."""
    end = session.scalar(select(func.max(SalesRow.date)))
    if request.today is None or end is None:
        return  # the forecast says what is missing
    today = pd.Timestamp(request.today)
    first = pd.Timestamp(end) + pd.Timedelta(days=1)
    last = pd.Timestamp(end) + pd.Timedelta(days=request.horizon)
    longest = int(cover_windows(network, policy).max())
    if today > last or today + pd.Timedelta(days=longest - 1) < first:
        raise AllocationInputError(
            f"today {today.date()}: no demand day (the champion forecasts {first.date()} to "
            f"{last.date()}, the days after the stored sales) falls inside a cover period from "
            f"it (at most {longest} days)",
            source="today",
            field="today",
        )


def make_plan(
    session: Session, model_store: ModelStore, cache: ForecastCache, request: AllocationCreate
) -> PlanOutcome:
    """Solve a plan for the request over the stored network and stock (nothing is written)."""
    network_id, network = require_network(session)
    stock = _stored_stock(session)
    version: str | None = None
    note: str | None = None
    policy = allocation.parse_policy(request.policy or {}, source="policy")  # as check_request
    if request.demand is not None:
        demand, source = _request_demand(request), "request"
        skus, locations = sorted(set(demand[SKU])), set(demand[LOCATION])
        # a point forecast sent in the quantile columns, said as `allocate` says it
        note = no_spread_note(demand)
    else:
        demand, version, note = _forecast_demand(session, model_store, cache, request, network)
        source = "champion"
        skus, locations = requested_skus(request, network), demand_locations(network)
    solved = allocation.plan(
        network,
        stock,
        demand,
        policy,
        today=None if request.today is None else pd.Timestamp(request.today),
        solver=request.solver,
        time_limit=request.time_limit,
        integer_packs=request.integer_packs,
        # what a 422 about the demand names: the rows sent, or the champion's forecast
        demand_source="demand" if source == "request" else "forecast of the stored sales",
    )
    if note:  # solver.demand_note, as `allocate` writes what it left out into plan.json
        solved.solver = dataclasses.replace(solved.solver, demand_note=note)
    return PlanOutcome(solved, network_id, version, source, note, sorted(skus), sorted(locations))


def planned_days(request: AllocationCreate) -> int:
    """Days of demand the plan covers: the forecast horizon, or the days from the plan's first
    day (`today`, else the first row's) to the end of the last row sent, each series' last row's
    period included, as `allocate` reads them (`allocation.safety.row_days`): counting dates
    made four weekly rows a 4-day plan, and rows before `today`, which the plan leaves out, made
    a 5-day plan 17 days long."""
    if request.demand is None:
        return request.horizon
    rows = pd.DataFrame(
        [(row.sku, row.location, row.date) for row in request.demand],
        columns=["sku", "location", "date"],
    )
    rows["date"] = pd.to_datetime(rows["date"])
    ends = rows["date"] + pd.to_timedelta(row_days(rows), unit="D")
    first = rows["date"].min() if request.today is None else pd.Timestamp(request.today)
    return int((ends.max() - first).days)


def check_horizon(request: AllocationCreate) -> None:
    """A `horizon` sent beside `demand` rows is the days those rows cover (`planned_days`), or
    a 422 naming it. The plan covers the rows sent whatever the horizon says: 28 days of rows
    with "horizon": 7 made a 28-day plan without a word, the field sent never read. Left out,
    horizon only means the champion's forecast days, which rows replace."""
    if request.demand is None or "horizon" not in request.model_fields_set:
        return
    days = planned_days(request)
    if request.horizon != days:
        raise AllocationInputError(
            f"horizon {request.horizon}: the `demand` rows sent cover {days} days from the "
            "plan's first day, and a plan of `demand` rows covers the days they give (horizon "
            "is the days of the champion's forecast): leave horizon out, or send the rows of "
            f"the {request.horizon} days to plan",
            source="horizon",
            field="horizon",
        )


def _date(value: Any) -> dt.date | None:
    if isinstance(value, str) and value:
        return dt.date.fromisoformat(value[:10])
    return None


def _details(record: dict[str, Any], shown: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in shown}


def _line(
    kind: LineKind,
    record: dict[str, Any],
    shown: tuple[str, ...],
    *,
    origin: str | None,
    destination: str,
    reason: str | None,
    arrives: dt.date | None,
) -> dict[str, Any]:
    return {
        "kind": kind.value,
        "sku": record["sku"],
        "origin": origin,
        "destination": destination,
        "quantity": float(record["quantity"]),
        "arrives": arrives,
        "reason": reason,
        "details": _details(record, shown),
    }


def _lines(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan document's transfers, suggestions and unmet demand as `plan_lines` values."""
    lines = []
    shown: tuple[str, ...] = ("sku", "origin", "destination", "quantity", "arrives", "reason")
    for record in document["transfers"]:
        lines.append(
            _line(
                LineKind.transfer,
                record,
                shown,
                origin=record["origin"],
                destination=record["destination"],
                reason=record.get("reason"),
                arrives=_date(record.get("arrives")),
            )
        )
    shown = ("sku", "source", "distributor", "quantity", "arrives", "reason")
    for record in document["replenishment"]:
        lines.append(
            _line(
                LineKind.replenishment,
                record,
                shown,
                origin=record.get("source"),
                destination=record["distributor"],
                reason=record.get("reason"),
                arrives=_date(record.get("arrives")),
            )
        )
    shown = ("sku", "location", "quantity", "cause")
    for record in document["unmet"]:
        lines.append(
            _line(
                LineKind.unmet,
                record,
                shown,
                origin=None,
                destination=record["location"],
                reason=record.get("cause"),
                arrives=None,
            )
        )
    return lines


def _alerts(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan document's alerts as `plan_alerts` values."""
    shown = ("kind", "sku", "node", "message")
    return [
        {
            "kind": record["kind"],
            "sku": record.get("sku"),
            "node": record.get("node"),
            "message": record.get("message") or "",
            "numbers": _details(record, shown),
        }
        for record in document["alerts"]
    ]


@dataclass(frozen=True)
class StoredPlan:
    """A plan row just added (flushed: it has its id) and how many lines and alerts it has."""

    row: Plan
    lines: int
    alerts: int


def store_plan(
    session: Session,
    outcome: PlanOutcome,
    *,
    horizon: int | None,
    created_by: int | None,
) -> StoredPlan:
    """Add the plan, its lines and alerts to the session as a draft (flushed, not committed).

    Lines and alerts go in as one multi-row INSERT each (hundreds of rows: ORM objects one by
    one cost more than the rest of storing).
    """
    document = outcome.plan.to_dict()
    solver = dict(document["solver"])  # its demand_note: `make_plan`'s note
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
        skus=outcome.skus,
        locations=outcome.locations,
    )
    session.add(row)
    session.flush()
    lines = [{**line, "plan_id": row.id} for line in _lines(document)]
    alerts = [{**alert, "plan_id": row.id} for alert in _alerts(document)]
    if lines:
        session.execute(insert(PlanLine), lines)
    if alerts:
        session.execute(insert(PlanAlert), alerts)
    return StoredPlan(row, len(lines), len(alerts))


def run_allocation_job(payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """Job handler: solve and store the plan a large `POST /v1/allocations` asked for."""
    request = AllocationCreate.model_validate(payload["request"])
    with context.database.session() as session:
        outcome = make_plan(session, context.model_store, context.forecast_cache, request)
    with context.database.session(write=True) as session:
        stored = store_plan(
            session, outcome, horizon=planned_days(request), created_by=payload.get("created_by")
        )
        principal = None
        if payload.get("created_by") is not None and payload.get("role"):
            principal = Principal(payload["created_by"], Role(payload["role"]), None)
        plan_id = stored.row.id
        audit.record(session, principal, "allocation.create", "plan", plan_id, job=context.job_id)
    return {"plan_id": plan_id, "model_version": outcome.model_version}


register_handler(ALLOCATION_JOB, run_allocation_job)
