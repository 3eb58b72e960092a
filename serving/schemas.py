"""The API's request and response schemas, one family per resource (`XCreate`, `XPublic`).

Inputs are bounded at the edge (lengths, ranges, list sizes); what leaves the service is declared
by the route's `response_model`. Quantities are units, money is in the network's currency.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from allocation.inputs import FIRST_DAY, LAST_DAY
from allocation.network import ID_PATTERN, MAX_ID_LENGTH
from forecasting.data import MAX_NUMBER

__all__ = [
    "MAX_FILTER_VALUES",
    "MAX_PAGE",
    "QUANTILE_DECIMALS",
    "AcknowledgementCreate",
    "AcknowledgementPublic",
    "AlertPublic",
    "AlertsPublic",
    "AllocationCreate",
    "Day",
    "DbId",
    "DemandRow",
    "Digits",
    "HorizonQuery",
    "Id",
    "JobPublic",
    "JobsPublic",
    "LimitQuery",
    "NetworkPublic",
    "Note",
    "OffsetQuery",
    "PlanDecision",
    "PlanIdQuery",
    "PlanLinePublic",
    "PlanLinesPublic",
    "PlanPublic",
    "PlanSummary",
    "PlansPublic",
    "SalesIngestCreate",
    "SalesIngestPublic",
    "SalesIngestsPublic",
    "SalesRowIn",
    "StockPositionIn",
    "StockPositionPublic",
    "StockPositionsPublic",
    "StockUpload",
    "SuggestionPublic",
    "SuggestionsPublic",
]

MAX_PAGE = 500  # rows a list endpoint returns at most per page
MAX_ROWS = 200_000  # rows one request may carry (the body size limit applies as well)
# Decimals of a quantile level: columns are named by it (q0.975), in requests and models alike.
QUANTILE_DECIMALS = 4
MAX_FILTER_VALUES = 1000  # values one query filter (sku=..&sku=..) may list
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]


def _digits(value: Any) -> Any:
    """A whole number in a path or query as digits only: "1_0", "1.0", "+1" or " 1" were read
    as 10 or 1 (Python's int() rules), so /v1/plans/1_1/reject rejected plan 11."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("expected a whole number written in digits, e.g. 12")
    return value


Digits = BeforeValidator(_digits)
"""After a Path or Query (OpenAPI keeps its bounds): the number must be written in digits."""

# Path / Query first, the validator after: the other way round, OpenAPI published the bounds
# as "ge" / "le", which are no JSON Schema keywords, so clients never saw them.
DbId = Annotated[int, Path(ge=1, le=2**31 - 1, description="database id"), Digits]


# Days the data can name (allocation.inputs: plans add lead times to them).
def _compact_day(value: Any) -> Any:
    """A day written YYYYMMDD (text or number), as files may write it (`allocate` reads them
    so): pydantic took 20260301 for seconds since 1970 and refused it as a time of day."""
    text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    if isinstance(text, str) and len(text) == 8 and text.isascii() and text.isdigit():
        try:
            return dt.datetime.strptime(text, "%Y%m%d").date()
        except ValueError:
            raise ValueError(f"{text} is not a day; expected YYYY-MM-DD or YYYYMMDD") from None
    if isinstance(text, str) and text.strip().lstrip("+-").replace(".", "", 1).isdigit():
        # Any other number (0, 86400, 1767398400000): pydantic read it as seconds (or ms) since
        # 1970, and 0 was stored as 1970-01-01.
        raise ValueError(f"{text} is not a day; expected YYYY-MM-DD or YYYYMMDD")
    return value


Day = Annotated[
    dt.date, BeforeValidator(_compact_day), Field(ge=FIRST_DAY.date(), le=LAST_DAY.date())
]
# Units and shares as JSON numbers: strict, so that `true` or "5" is a 422, not 1.0 or 5.0.
Quantity = Annotated[float, Field(strict=True, ge=0, le=MAX_NUMBER, allow_inf_nan=False)]
Share = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
Note = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$")]
"""Free text: no control characters (PostgreSQL text cannot hold NUL)."""
OffsetQuery = Annotated[int, Query(ge=0, le=2**31 - 1, description="rows to skip"), Digits]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="rows to return at most"), Digits]
HorizonQuery = Annotated[int, Query(ge=1, le=366, description="days to forecast"), Digits]
PlanIdQuery = Annotated[
    int | None,
    Query(ge=1, le=2**31 - 1, description="plan to read (default: the newest not rejected)"),
    Digits,
]


class _Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- network and stock ---------------------------------------------------------------------


class NetworkPublic(_Public):
    """A stored network version; `document` is what was uploaded (see allocation.network).

    `problem` is null unless the version fails a check added after it was stored: then it says
    why plans on it are refused (422) and the document is here to be corrected and PUT again.
    """

    id: int
    created_at: dt.datetime
    warehouses: int
    distributors: int
    skus: int
    document: dict[str, Any]
    problem: str | None = None


class StockPositionIn(BaseModel):
    """Units of one SKU at one node; in-transit units arrive on arrival_date. A SKU at a node
    takes a position per shipment on its way (one per arrival date), its on hand on one of them."""

    model_config = ConfigDict(extra="forbid")

    sku: Id
    node: Id
    on_hand: Quantity
    in_transit: Quantity = 0.0
    arrival_date: Day | None = None


class StockUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a field we do not read ("mode") is a 422

    positions: list[StockPositionIn] = Field(min_length=1, max_length=MAX_ROWS)


class StockPositionPublic(_Public):
    sku: str
    node: str
    on_hand: float
    in_transit: float
    arrival_date: dt.date | None
    updated_at: dt.datetime


class StockPositionsPublic(BaseModel):
    data: list[StockPositionPublic]
    count: int


# -- sales ---------------------------------------------------------------------------------


class SalesRowIn(BaseModel):
    """Units sold of one SKU at one location on one day (canonical sales columns)."""

    model_config = ConfigDict(extra="forbid")

    sku: Id
    location: Id
    date: Day
    units: Quantity
    region: Id | None = None
    price: Quantity | None = None
    promo: Share | None = None
    event: Share | None = None


class SalesIngestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a field we do not read ("dry_run") is a 422

    rows: list[SalesRowIn] = Field(min_length=1, max_length=MAX_ROWS)


class SalesIngestPublic(_Public):
    id: int
    created_at: dt.datetime
    rows: int
    series: int
    first_date: dt.date
    last_date: dt.date
    # how the rows were read where their sender may have meant otherwise
    notes: list[str]


class SalesIngestsPublic(BaseModel):
    data: list[SalesIngestPublic]
    count: int


# -- allocations and plans -----------------------------------------------------------------


class DemandRow(BaseModel):
    """One row of the forecast contract: units expected of a SKU at a location on a day.

    Quantile columns (`q0.5`, `q0.9`, …) go in `quantiles` keyed by their column name.
    """

    model_config = ConfigDict(extra="forbid")

    sku: Id
    location: Id
    date: Day
    forecast: Quantity
    quantiles: dict[
        Annotated[str, Field(pattern=rf"^q0?\.\d{{1,{QUANTILE_DECIMALS}}}$")],
        Quantity,
    ] = Field(default_factory=dict, max_length=20)


class AllocationCreate(BaseModel):
    """Ask for a plan over the current network and stock.

    Demand is the champion model's forecast of the stored sales for `horizon` days, unless
    `demand` rows are given (then those are planned for, and no model is involved).
    """

    model_config = ConfigDict(extra="forbid")

    horizon: int = Field(
        default=28, strict=True, ge=1, le=366, description="days of demand to plan for"
    )
    skus: list[Id] | None = Field(
        default=None, min_length=1, max_length=10_000, description="plan only these SKUs"
    )
    demand: list[DemandRow] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ROWS,
        description="forecast rows to plan for, daily or per period: rows a week or more apart "
        "stand for the days to the next date; one series with two dates at least (a single "
        "date per series says nothing of its period)",
    )
    policy: dict[str, Any] | None = Field(
        default=None, description="policy fields to override (see allocation.policy.Policy)"
    )
    solver: Literal["highs", "cbc"] = "highs"
    time_limit: float | None = Field(
        default=None, strict=True, gt=0, le=600, description="solver limit, seconds"
    )
    integer_packs: bool = Field(
        default=False,
        strict=True,
        description="exact packs and MOQs by a MILP; needs time_limit (a MILP has no bound on "
        "its run time), and is never worse than the default mode's plan within it",
    )
    today: Day | None = Field(
        default=None, description="first day of the plan (default: the first day of the demand)"
    )

    @field_validator("integer_packs")
    @classmethod
    def _exact_packs_have_a_time_limit(cls, exact: bool, info: ValidationInfo) -> bool:
        # The exact MILP may search for hours (minutes at 30 SKUs with CBC) while it holds one of
        # the process's solve slots; under a limit it stops at a plan at least as good as the
        # default mode's (it starts from that plan). time_limit is declared first, so it is in
        # info.data when it was valid.
        if exact and info.data.get("time_limit") is None:
            raise ValueError(
                "integer_packs needs time_limit (seconds, up to 600): the exact MILP has no "
                "bound on its run time; within the limit its plan is never worse than the "
                "default mode's"
            )
        return exact


class PlanSummary(_Public):
    """A plan without its lines: state, the model behind it, KPIs and solver facts."""

    id: int
    created_at: dt.datetime
    status: Literal["draft", "approved", "rejected"]
    model_version: str | None
    demand_source: str
    network_id: int | None
    horizon: int | None
    starts: dt.date | None
    kpis: dict[str, Any]
    solver: dict[str, Any]
    decided_at: dt.datetime | None
    decision_note: str | None


class PlanLinePublic(_Public):
    """A transfer, a replenishment suggestion or unmet demand; `details` holds the numbers."""

    id: int
    kind: Literal["transfer", "replenishment", "unmet"]
    sku: str
    origin: str | None
    destination: str
    quantity: float
    arrives: dt.date | None
    reason: str | None
    details: dict[str, Any]


class PlanPublic(PlanSummary):
    lines: int  # lines in the plan; read them with GET /v1/plans/{id}/lines
    alerts: int


class PlansPublic(BaseModel):
    data: list[PlanSummary]
    count: int


class PlanLinesPublic(BaseModel):
    data: list[PlanLinePublic]
    count: int


class PlanDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note | None = None


class AlertPublic(_Public):
    id: int
    plan_id: int
    kind: str
    sku: str | None
    node: str | None
    message: str
    numbers: dict[str, Any]


class AlertsPublic(BaseModel):
    data: list[AlertPublic]
    count: int
    plan_id: int | None  # the plan the alerts come from (None: no plan yet)


# -- distributors --------------------------------------------------------------------------


class SuggestionPublic(BaseModel):
    """A replenishment suggestion: send `quantity` units of `sku` from `source`, and why."""

    sku: str
    quantity: float
    source: str | None
    arrives: dt.date | None
    reason: str | None
    details: dict[str, Any]


class SuggestionsPublic(BaseModel):
    distributor: str
    plan_id: int | None  # the latest approved plan (None: none approved yet)
    model_version: str | None
    approved_at: dt.datetime | None
    acknowledged: bool
    data: list[SuggestionPublic]
    count: int


class AcknowledgementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: int = Field(strict=True, ge=1, le=2**31 - 1)
    note: Note | None = None


class AcknowledgementPublic(_Public):
    id: int
    plan_id: int
    distributor_id: str
    note: str | None
    created_at: dt.datetime
    superseded_by: int | None = Field(
        default=None,
        description="the newest approved plan where a newer one than `plan_id` is approved: "
        "its suggestions replace these (GET the distributor's suggestions again)",
    )


# -- jobs ----------------------------------------------------------------------------------


class JobPublic(_Public):
    id: int
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    attempts: int
    worker: str | None  # host:pid:thread of the worker that claimed it last
    lease_until: dt.datetime | None  # a running job not finished by then is taken over
    result: dict[str, Any] | None
    error: str | None


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int
