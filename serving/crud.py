"""Reading and writing the stored inputs as the frames the libraries take (one place for each).

`current_network` (allocation.Network), `stock_frame` (allocation stock frame), `stored_sales`
(the canonical sales frame forecasting takes) and `store_sales` (a validated ingest).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from allocation.errors import AllocationInputError
from allocation.network import Network, parse_network
from forecasting.columns import DATE, EVENT, LOCATION, PRICE, PROMO, REGION, SKU, UNITS
from forecasting.data import SalesNote, prepare_sales, rows_error
from forecasting.errors import SalesValidationError
from serving.errors import for_api
from serving.models import (
    NetworkVersion,
    Plan,
    PlanStatus,
    SalesIngest,
    SalesRow,
    StockPosition,
    utcnow,
)

__all__ = [
    "SALES_COLUMNS",
    "current_network",
    "ingest_rows",
    "newest_network_row",
    "parse_stored_network",
    "replace_stock",
    "stock_frame",
    "store_network",
    "store_sales",
    "stored_sales",
]

SALES_COLUMNS = (SKU, LOCATION, REGION, DATE, UNITS, PRICE, PROMO, EVENT)
STOCK_COLUMNS = ("sku", "node", "on_hand", "in_transit", "arrival_date")
# A daily history longer than this holds a mistyped date; zero-filling it would store millions of
# rows (two rows dated 1900 and 2200 made 110,000 a series).
MAX_HISTORY_DAYS = 20 * 366
MAX_FILLED_ROWS = 5_000_000  # rows one ingest may store once its missing days are zeros
# Days sent after the stored history may leave out at most this many days in a row (a closure,
# a late batch); more is a mistyped date or days missing from the upload.
MAX_GAP_DAYS = 31


def newest_network_row(session: Session) -> NetworkVersion | None:
    """The newest stored network version as stored, parsed or not; None when none was uploaded."""
    return session.scalars(
        select(NetworkVersion).order_by(NetworkVersion.id.desc()).limit(1)
    ).first()


def newest_approved_plan_id(session: Session) -> int | None:
    """The id of the newest approved plan (the one distributors read); None before any."""
    return session.scalar(select(func.max(Plan.id)).where(Plan.status == PlanStatus.approved.value))


def parse_stored_network(row: NetworkVersion) -> Network:
    """A stored network version parsed; a check added after it was stored names the fix."""
    source = f"the stored network (version {row.id})"
    try:
        return parse_network(row.document, source=source)
    except AllocationInputError as exc:
        raise AllocationInputError(
            f"{exc}; it was stored by a release without this check: PUT /v1/network a "
            "corrected network",
            source=source,
            field=exc.field,
            item=exc.item,
        ) from exc


def current_network(session: Session) -> tuple[NetworkVersion, Network] | None:
    """The newest stored network and its parsed form, or None when none was uploaded."""
    row = newest_network_row(session)
    return None if row is None else (row, parse_stored_network(row))


def store_network(
    session: Session, document: dict[str, Any], created_by: int | None
) -> tuple[NetworkVersion, bool]:
    """Validate and store a network document as the new current version (not committed).

    Returns the current version and whether it is new: a document that parses to the current
    version's is not stored again, so that sending the same network twice keeps the drafts
    planned on it approvable (approval refuses a plan made on an earlier version).
    """
    _reject_control_characters(document, "network")
    parsed = parse_network(document, source="network").model_dump(mode="json")
    newest = newest_network_row(session)
    if newest is not None and newest.document == parsed:
        return newest, False
    row = NetworkVersion(document=parsed, created_by=created_by)
    session.add(row)
    session.flush()
    return row, True


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


def stock_frame(session: Session, nodes: Collection[str] | None = None) -> pd.DataFrame:
    """Stored positions (at `nodes` only, when given) as the stock frame: sku, node, on_hand,
    in_transit, arrival_date."""
    query = select(
        StockPosition.sku,
        StockPosition.node,
        StockPosition.on_hand,
        StockPosition.in_transit,
        StockPosition.arrival_date,
    )
    if nodes is not None:
        query = query.where(StockPosition.node.in_(nodes))
    rows = session.execute(query).all()
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


def ingest_rows(
    session: Session, frame: pd.DataFrame, created_by: int | None, today: dt.date
) -> SalesIngest:
    """Validate and store the rows a client sent (`frame`, raw; errors name its rows from 1, as
    "rows"), zero-filled on the days they name (`prepare_sales`: a day sent for some series is
    one of no sales for a series sent without it; days no row names stay as stored) and with
    their location's stored region where they name none; refused whole, with nothing written,
    when they would leave the stored sales unreadable (`_check_days`, `_with_stored_regions`).
    Not committed.

    The stored sales keep two rules that every ingest checks against the rows it sends: a
    location has one region, and either every row names a region or none does. Kept by every
    ingest, they let one stored row stand for its location (and one for the whole store): each
    check is an index lookup, not a scan of the stored history.

    The ingest keeps the notes the rows raise (`SalesNote`: a series dated only whole weeks
    apart), for the client and later readers: in the server's log nobody who sent them reads
    them."""
    span = _check_days(session, frame, today)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SalesNote)
        sales = prepare_sales(
            _with_stored_regions(session, frame, "rows"),
            source="rows",
            only_days_sent=True,
            daily_span=span,
        )
    notes = [for_api(str(w.message)) for w in caught if issubclass(w.category, SalesNote)]
    for other in (w for w in caught if not issubclass(w.category, SalesNote)):
        warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    regions_arrive = REGION in sales.columns and _store_has_regions(session) is False
    stored = store_sales(session, sales, created_by)
    stored.notes = notes
    if regions_arrive:  # into a store without them: fine only where they replace every day
        session.flush()
        _check_every_row_has_a_region(session, frame, "rows")
    return stored


def _check_days(
    session: Session, frame: pd.DataFrame, today: dt.date, source: str = "rows"
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """Before an ingest is zero-filled: no day after `today` (sales are days that have passed),
    a history (stored and sent) of at most MAX_HISTORY_DAYS, days after the stored history that
    continue it and days before it that lead up to it (`_check_gaps`),
    and at most MAX_FILLED_ROWS rows once the missing days between a series' first and last are
    filled. Returns the stored history's first and last day (None when none is stored)."""
    dates = pd.to_datetime(frame[DATE])
    future = np.flatnonzero((dates > pd.Timestamp(today)).to_numpy())
    if len(future):
        raise rows_error(
            source, DATE, future, f"is after today ({today})", "sales are days that have passed"
        )
    stored_first, stored_last = session.execute(
        select(func.min(SalesRow.date), func.max(SalesRow.date))
    ).one()
    _check_span(dates, stored_first, stored_last, source)
    if stored_last is not None:
        _check_gaps(dates, pd.Timestamp(stored_first), pd.Timestamp(stored_last), source)
    spans = dates.groupby([frame[SKU], frame[LOCATION]]).agg(["min", "max"])
    filled = int(((spans["max"] - spans["min"]).dt.days + 1).sum())
    if filled > MAX_FILLED_ROWS:
        raise SalesValidationError(
            f"{source}: {len(frame):,} rows that make {filled:,} once the missing days of each "
            f"series are filled with zeros; at most {MAX_FILLED_ROWS:,} per request: send the "
            "history in parts (by date or by SKU)",
            source=source,
            column=DATE,
        )
    if stored_first is None or stored_last is None:
        return None
    return pd.Timestamp(stored_first), pd.Timestamp(stored_last)


def _check_span(
    dates: pd.Series, stored_first: dt.date | None, stored_last: dt.date | None, source: str
) -> None:
    """The history, stored and sent, spans at most MAX_HISTORY_DAYS; else an error naming the
    rows at the end farther from the bulk of it (the stored days, else the median day sent):
    that is the mistyped date."""
    first = min(dates.min(), pd.Timestamp(stored_first or dates.min()))
    last = max(dates.max(), pd.Timestamp(stored_last or dates.max()))
    if (last - first).days + 1 <= MAX_HISTORY_DAYS:
        return
    stored = f" with the stored sales ({stored_first}..{stored_last})" if stored_first else ""
    middle = (
        pd.Timestamp(stored_first) + (pd.Timestamp(stored_last) - pd.Timestamp(stored_first)) / 2
        if stored_first is not None and stored_last is not None
        else dates.median()
    )
    odd = first if middle - first > last - middle else last
    raise rows_error(
        source,
        DATE,
        np.flatnonzero((dates == odd).to_numpy()),
        f"spans{stored} {first.date()}..{last.date()}, more than {MAX_HISTORY_DAYS:,} days",
        "check the dates of these rows (a mistyped year?)",
    )


def _check_gaps(
    dates: pd.Series, stored_first: pd.Timestamp, stored_last: pd.Timestamp, source: str
) -> None:
    """Days sent after the stored history continue it, days sent before it lead up to it: no
    stretch of more than MAX_GAP_DAYS without a day. One row a year after the rest (a mistyped
    date) zero-filled its series back to the history, moved the forecasts' start past every
    other series and skewed the next retrain's backtest onto that one series; one dated 2006
    for 2016 zero-filled its series over ten years."""
    later = np.unique(dates[dates > stored_last].to_numpy())
    jump = _long_step(np.concatenate([[stored_last.to_datetime64()], later]), first=True)
    if jump is not None:
        before, after, days = jump
        raise rows_error(
            source,
            DATE,
            np.flatnonzero((dates >= after).to_numpy()),
            f"starts {days} days after the day before it ({before.date()}; the stored history "
            f"ends {stored_last.date()}), more than {MAX_GAP_DAYS}",
            _GAP_FIX,
        )
    earlier = np.unique(dates[dates < stored_first].to_numpy())
    jump = _long_step(np.concatenate([earlier, [stored_first.to_datetime64()]]), first=False)
    if jump is not None:
        before, after, days = jump
        raise rows_error(
            source,
            DATE,
            np.flatnonzero((dates <= before).to_numpy()),
            f"leaves {days} days without a day up to {after.date()} (the stored history "
            f"starts {stored_first.date()}), more than {MAX_GAP_DAYS}",
            _GAP_FIX,
        )


_GAP_FIX = (
    "send the days in between (zeros where nothing sold), or check the dates (a mistyped year?)"
)


def _long_step(days: np.ndarray, first: bool) -> tuple[pd.Timestamp, pd.Timestamp, int] | None:
    """The first (or last) step of more than MAX_GAP_DAYS between sorted days: the days on
    either side and its length; None where there is none."""
    steps = np.diff(days) // np.timedelta64(1, "D")
    jumps = np.flatnonzero(steps > MAX_GAP_DAYS)
    if not len(jumps):
        return None
    at = int(jumps[0] if first else jumps[-1])
    return pd.Timestamp(days[at]), pd.Timestamp(days[at + 1]), int(steps[at])


def _with_stored_regions(session: Session, frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """The rows with each one's region taken from its location's stored rows where it names
    none; an error naming the rows that give a location a region other than its stored one, or
    that would store rows without a region beside stored rows with one."""
    given = frame[REGION] if REGION in frame.columns else pd.Series(None, index=frame.index)
    stored = _stored_regions(session, sorted(set(frame[LOCATION])))
    known = frame[LOCATION].map(stored)
    other = np.flatnonzero((given.notna() & known.notna() & (given != known)).to_numpy())
    if len(other):
        location = frame[LOCATION].iloc[other[0]]
        raise rows_error(
            source,
            REGION,
            other,
            f"gives location {location!r} a region other than its stored one "
            f"({stored[location]!r})",
            "a location has one region: send its stored one, or none",
        )
    regions = given.where(given.notna(), known)
    bare = np.flatnonzero(regions.isna().to_numpy())
    if len(bare) and _store_has_regions(session):
        raise rows_error(
            source,
            REGION,
            bare,
            f"leaves location {frame[LOCATION].iloc[bare[0]]!r} without a region where the "
            "stored sales have one",
            "send a region on every row of a location the stored sales do not have",
        )
    if regions.isna().all():  # no region anywhere: the store keeps none
        return frame.drop(columns=REGION, errors="ignore")
    return frame.assign(**{REGION: regions})


def _stored_regions(session: Session, locations: list[str]) -> dict[str, str]:
    """The stored region of each location that has one (a location has one region: any of
    its rows tells it; an indexed lookup each)."""
    one = (
        select(SalesRow.region)
        .where(SalesRow.location == bindparam("location"), SalesRow.region.is_not(None))
        .limit(1)
    )
    found = {location: session.scalar(one, {"location": location}) for location in locations}
    return {location: region for location, region in found.items() if region is not None}


def _store_has_regions(session: Session) -> bool | None:
    """Whether the stored sales name regions (None: nothing stored). Every stored row does or
    none does, so any one tells."""
    first = session.execute(select(SalesRow.region).limit(1)).first()
    return None if first is None else first[0] is not None


def _check_every_row_has_a_region(session: Session, frame: pd.DataFrame, source: str) -> None:
    """After rows with regions are written (not committed) into a store that had none: an
    error naming the rows unless they replaced every stored row without one."""
    without = session.execute(
        select(SalesRow.location).where(SalesRow.region.is_(None)).limit(1)
    ).first()
    if without is not None:
        raise rows_error(
            source,
            REGION,
            np.arange(len(frame)),
            f"name regions where the stored sales have none (location {without[0]!r})",
            "send no region, or re-send every stored day with its region",
        )


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
    # Each series' runs of consecutive days: the stored days between two runs were not sent
    # and stay (a correction of 06-01 and 06-30 zeroed the 28 days between).
    ordered = sales[[SKU, LOCATION]].assign(**{DATE: dates}).sort_values([SKU, LOCATION, DATE])
    step = ordered.groupby([SKU, LOCATION], observed=True)[DATE].diff()
    ordered["run"] = (step != pd.Timedelta(days=1)).cumsum()
    spans = (
        ordered.groupby([SKU, LOCATION, "run"], observed=True)[DATE]
        .agg(["min", "max"])
        .reset_index()
        .drop(columns="run")
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
