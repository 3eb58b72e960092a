"""Stock positions and demand (the forecast contract): loading and validation against a network.

Stock: `sku, node, on_hand, in_transit, arrival_date` (units; the arrival date is required
where `in_transit > 0`), one row per SKU, node and arrival date: each shipment on its way takes a
row of its own, and the on-hand units are given on one row of the SKU and node (0 on the others).
Nodes are warehouses or distributors (a distributor's own stock counts toward its position).

Demand: the forecast contract `sku, location, date, forecast, q<level>...` (units per period, one
row per SKU, demand location and future day). Demand locations are forward warehouses (their own
catchment) and distributors. A forecast may cover more than the network carries (the whole
catalogue, every store): `demand_in_network` plans the series the network knows and says which
others it left out (`series_outside_network`, the rule the service's demand note follows too).
"""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandas.api.types import (
    infer_dtype,
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_float_dtype,
    is_numeric_dtype,
)

from allocation.errors import AllocationInputError, listed
from allocation.network import MAX_AMOUNT, Network

__all__ = [
    "ARRIVAL_DATE",
    "DATE",
    "FIRST_DAY",
    "FORECAST",
    "IN_TRANSIT",
    "LAST_DAY",
    "LOCATION",
    "NODE",
    "ON_HAND",
    "SKU",
    "demand_in_network",
    "demand_locations",
    "load_demand",
    "load_stock",
    "quantile_levels",
    "require_readable_periods",
    "series_outside_network",
    "validate_demand",
    "validate_stock",
]

SKU = "sku"
NODE = "node"
ON_HAND = "on_hand"
IN_TRANSIT = "in_transit"
ARRIVAL_DATE = "arrival_date"
LOCATION = "location"
DATE = "date"
FORECAST = "forecast"
_QUANTILE = re.compile(r"^q(0?\.\d+)$")
# Named like a quantile, but not as q<level in (0, 1)>: q95, q1.0, q50%, Q0.9, "q0.9 ", q_0.9,
# q0,9, p90, quantile_0.9, a bare 0.9 or 90%. Read as any other column, it was left out and the
# spread taken as Poisson without a word. (A bare whole number, a year such as 2024, is not.)
_QUANTILE_LIKE = re.compile(
    r"^\s*((q|p|quantile)[\s_]?\d*[.,]?\d+%?|0?[.,]\d+|\d+([.,]\d+)?%)\s*$", re.IGNORECASE
)
# Days a plan can name: pandas' nanosecond timestamps end in 2262, and a plan adds lead times of
# up to MAX_DAYS (ten years) to its inputs' days.
FIRST_DAY, LAST_DAY = pd.Timestamp("1900-01-01"), pd.Timestamp("2200-12-31")


def quantile_levels(frame: pd.DataFrame, source: str = "demand") -> dict[float, str]:
    """Quantile columns of a forecast frame by level: {0.9: "q0.9", ...}; an error for a level
    outside (0, 1) or two columns of one level ("q.9" and "q0.90"), which would leave one of
    them unread."""
    levels: dict[float, str] = {}
    for column in frame.columns:
        match = _QUANTILE.match(str(column))
        if not match:
            if _QUANTILE_LIKE.match(str(column)):
                raise AllocationInputError(
                    f"{source}: column {column!r} looks like a quantile but is not named by a "
                    "level between 0 and 1; name quantile columns q<level>, e.g. q0.95 for the "
                    "95th percentile",
                    source=source,
                    field=str(column),
                )
            continue
        level = float(match.group(1))
        if level <= 0.0:
            raise AllocationInputError(
                f"{source}: quantile column {column!r} is level 0; expected levels between 0 "
                "and 1, e.g. q0.1, q0.9",
                source=source,
                field=str(column),
            )
        if level in levels:
            raise AllocationInputError(
                f"{source}: quantile columns {levels[level]!r} and {column!r} are both level "
                f"{level:g}; send one",
                source=source,
                field=str(column),
            )
        levels[level] = str(column)
    return dict(sorted(levels.items()))


def _check_quantiles_ordered(frame: pd.DataFrame, levels: dict[float, str], source: str) -> None:
    """Each row's quantiles rise with their level: a crossing (q0.9 below q0.5) is a broken
    forecast, and the safety stock read from it would be wrong without a word."""
    columns = list(levels.values())
    for lower, upper in itertools.pairwise(columns):
        low = frame[lower].to_numpy(dtype=float)
        high = frame[upper].to_numpy(dtype=float)
        # a relative tolerance for rounding in the file (written with a few decimals)
        crossed = np.flatnonzero(low - high > 1e-6 * np.maximum(np.abs(low), 1.0))
        if len(crossed):
            row = int(crossed[0])
            raise AllocationInputError(
                f"{source}: {upper!r} is below {lower!r} at row(s) {crossed[:5].tolist()} "
                f"(row {row}: {high[row]:g} < {low[row]:g}); quantiles must rise with their "
                "level",
                source=source,
                field=upper,
                item=f"{frame[SKU].iloc[row]}/{frame[LOCATION].iloc[row]}",
            )


_KEYS_AS_TEXT = {SKU: str, NODE: str, LOCATION: str}


def _one_column_check(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """A CSV read as one column whose name holds another separator is a file written with ';'
    or tabs: say so, rather than that every expected column is missing."""
    if len(frame.columns) == 1:
        header = str(frame.columns[0])
        for separator, name in ((";", "semicolons"), ("\t", "tabs")):
            if separator in header:
                raise AllocationInputError(
                    f"{path}: the header {header!r} is one column separated by {name}; "
                    "expected comma-separated values",
                    source=str(path),
                )
    return frame


def _read_frame(path: str | Path, source: str) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise AllocationInputError(f"{path}: {source} file not found", source=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            # One pass for the types: chunked inference gives a mostly empty column (a stock
            # file's arrival_date) mixed types and a DtypeWarning on large files. Keys as text:
            # SKU "001" is not the number 1.
            return _one_column_check(pd.read_csv(path, low_memory=False, dtype=_KEYS_AS_TEXT), path)
        if suffix == ".json":
            # Dates as written, read by `_as_dates` as in CSV: pandas' own conversion read
            # "02/03/2026" month first, and day first from the 13th on.
            return pd.read_json(path, orient="records", dtype=_KEYS_AS_TEXT, convert_dates=False)
    except (ValueError, OSError) as exc:
        raise AllocationInputError(
            f"{path}: cannot read {source} ({exc}){_parquet_hint(path, suffix)}", source=str(path)
        ) from exc
    raise AllocationInputError(
        f"{path}: unknown {source} file type {suffix!r}; expected .csv, .parquet or .json",
        source=str(path),
    )


def _parquet_hint(path: Path, suffix: str) -> str:
    """A hint when a file that cannot be read as text is Parquet under another name."""
    if suffix == ".parquet" or not path.is_file():
        return ""
    with path.open("rb") as handle:
        magic = handle.read(4)
    return "; it is a Parquet file: name it .parquet" if magic == b"PAR1" else ""


def _validate(
    frame: pd.DataFrame, schema: pa.DataFrameSchema, source: str, one_row_per_key: str = ""
) -> pd.DataFrame:
    """Run a pandera schema; the first failure becomes one error naming column and rows.
    one_row_per_key: how to write what a repeated key meant as one row."""
    missing = [
        name for name, column in schema.columns.items() if column.required and name not in frame
    ]
    if missing:
        raise AllocationInputError(
            f"{source}: missing column(s) {missing}; expected {list(schema.columns)}",
            source=source,
            field=missing[0],
        )
    try:
        return schema.validate(frame, lazy=True, inplace=True)  # callers hand in their own copy
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        first = cases.iloc[0]
        column = None if pd.isna(first["column"]) else str(first["column"])
        rows = sorted(
            {int(r) for r in cases.loc[cases["column"] == first["column"], "index"].dropna()}
        )
        row_text = f" at row(s) {rows[:5]}" if rows else ""
        if first["check"] == "multiple_fields_uniqueness" and schema.unique and rows:
            keys = [str(key) for key in schema.unique]
            repeated = [_key_text(value) for value in frame.loc[rows[0], keys]]
            raise AllocationInputError(
                f"{source}: rows {rows[:5]} repeat a ({', '.join(keys)}) key, e.g. "
                f"{tuple(repeated)}: send one row per key{one_row_per_key}",
                source=source,
                field=keys[0],
                item="/".join(repeated),
            ) from errors
        value = first["failure_case"]
        value = value.item() if hasattr(value, "item") else value  # inf, not np.float64(inf)
        raise AllocationInputError(
            f"{source}: column {column!r} fails {first['check']}{row_text} (value {value!r})",
            source=source,
            field=column,
        ) from errors


def _own_copy(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with rows numbered 0..n-1 (errors name rows by that number); one copy, where
    reset_index and copy would make two, seconds for a forecast of millions of rows."""
    frame = frame.copy()
    frame.index = pd.RangeIndex(len(frame))
    return frame


def _keys_as_text(frame: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    """Key columns (SKU, node, location) as Python strings, in place; an empty key is an error
    naming its rows. Here rather than as pandera's `str` dtype with coercion, which tests each
    value with isinstance: validating the 17 million forecast rows of 10,000 SKUs x 100
    locations took 13-17 s with it and 6-7 s without (BENCHMARKS.md, Planning time); a column
    that is already text, nearly always, needs no pass at all."""
    for key in columns:
        if key not in frame:
            continue  # the schema names the missing column
        column = frame[key]
        if column.isna().any():
            rows = frame.index[column.isna()][:5].tolist()
            raise AllocationInputError(
                f"{source}: empty {key!r} at row(s) {rows}", source=source, field=key
            )
        if is_float_dtype(column) and np.all((np.mod(column, 1) == 0) & (np.abs(column) < 2**53)):
            # a Parquet file's 7.0 is the id "7" a network file writes, not "7.0"
            frame[key] = column.astype(np.int64).astype(str).astype(object)
        elif column.dtype != object or infer_dtype(column, skipna=False) != "string":
            frame[key] = column.astype(str).astype(object)


def _as_dates(frame: pd.DataFrame, column: str, source: str) -> None:
    """A date column as datetimes, in place: ISO dates (2026-01-05, 2026/01/05, with a time or
    an offset) or YYYYMMDD as text or as a number. A number is never read as nanoseconds since
    1970, and a day-first text (05.01.2026) is never guessed at: either is an error naming the
    rows. A time-zone offset is dropped, keeping the local date and time as written."""
    if column not in frame:
        return
    values = frame[column]
    if is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is not None:
            frame[column] = values.dt.tz_localize(None)
        return
    if infer_dtype(values, skipna=True) in ("date", "datetime", "datetime64", "empty"):
        return  # date objects: the schema's coercion reads them
    present = values.notna()
    text = values.astype(object)
    if is_numeric_dtype(values) and not is_bool_dtype(values):
        numbers = values[present].to_numpy(dtype=float)
        whole = np.isfinite(numbers) & (numbers == np.round(numbers))
        text[present] = np.where(whole, np.round(numbers).astype(np.int64).astype(str), "?")
    text = text.astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # mixed offsets: handled below
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    if not is_datetime64_any_dtype(parsed) or getattr(parsed.dt, "tz", None) is not None:
        # With offsets: the local date and time as written (+08:00 midnight stays that day).
        local = text.str.replace(r"(?:Z|[+-]\d\d(?::?\d\d)?)$", "", regex=True)
        parsed = pd.to_datetime(local, errors="coerce", format="ISO8601")
    bad = present & parsed.isna()
    if bad.any():
        rows = frame.index[bad][:5].tolist()
        raise AllocationInputError(
            f"{source}: column {column!r} holds {str(values[bad].iloc[0])!r} at row(s) {rows}, "
            f"not a date; expected YYYY-MM-DD (or YYYYMMDD) from {FIRST_DAY.date()} to "
            f"{LAST_DAY.date()}",
            source=source,
            field=column,
        )
    frame[column] = parsed


def _check_day_range(frame: pd.DataFrame, column: str, source: str) -> None:
    """Every day of a (datetime) column between FIRST_DAY and LAST_DAY; else an error naming
    the rows (a plan from 2262 would overflow pandas' dates at its first lead time)."""
    if column not in frame:
        return
    days = frame[column]
    outside = days.notna() & ((days < FIRST_DAY) | (days > LAST_DAY))
    if outside.any():
        rows = frame.index[outside][:5].tolist()
        raise AllocationInputError(
            f"{source}: column {column!r} holds {days[outside].iloc[0].date()} at row(s) "
            f"{rows}; expected days from {FIRST_DAY.date()} to {LAST_DAY.date()}",
            source=source,
            field=column,
        )


def _check_known(frame: pd.DataFrame, column: str, known: set[str], source: str, what: str) -> None:
    unknown = frame.loc[~frame[column].isin(known), column]
    if len(unknown):
        item = str(unknown.iloc[0])
        rows = unknown.index[:5].tolist()
        raise AllocationInputError(
            f"{source}: unknown {what} {item!r} in column {column!r} at row(s) {rows}; "
            f"it is not in the network",
            source=source,
            field=column,
            item=item,
        )


# Units: a number, never negative, never infinite (inf would reach the solver as a bound), and
# at most MAX_AMOUNT (1e18 units left HiGHS with status 'Empty', naming no row).
_QUANTITY = pa.Check(
    lambda values: np.isfinite(values) & (values >= 0) & (values <= MAX_AMOUNT),
    name=f"finite, >= 0 and <= {MAX_AMOUNT:g}",
)

_STOCK_SCHEMA = pa.DataFrameSchema(
    {
        SKU: pa.Column(object, nullable=True),  # text, never empty: `_keys_as_text`
        NODE: pa.Column(object, nullable=True),
        ON_HAND: pa.Column("float64", _QUANTITY, nullable=False, coerce=True),
        IN_TRANSIT: pa.Column("float64", _QUANTITY, nullable=False, coerce=True, required=False),
        ARRIVAL_DATE: pa.Column("datetime64[ns]", nullable=True, coerce=True, required=False),
    },
    unique=[SKU, NODE, ARRIVAL_DATE],  # one row per shipment; no date at most once
    strict=False,
)


def _stock_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """A stock frame's own checks, before any network: keys as text, in transit 0 and no
    arrival date where not given, arrival dates read as dates (YYYYMMDD is a day, never
    nanoseconds since 1970), quantities and days in range."""
    frame = _own_copy(frame)
    _refuse_near_names(frame, (SKU, NODE, ON_HAND, IN_TRANSIT, ARRIVAL_DATE), source)
    _keys_as_text(frame, (SKU, NODE), source)
    if IN_TRANSIT not in frame:
        frame[IN_TRANSIT] = 0.0
    if ARRIVAL_DATE not in frame:
        frame[ARRIVAL_DATE] = pd.NaT
    frame[IN_TRANSIT] = frame[IN_TRANSIT].fillna(0.0)
    _as_dates(frame, ARRIVAL_DATE, source)
    if is_datetime64_any_dtype(frame[ARRIVAL_DATE]):  # a shipment is due on a day (the key's)
        frame[ARRIVAL_DATE] = frame[ARRIVAL_DATE].dt.normalize()
    frame = _validate(
        frame,
        _STOCK_SCHEMA,
        source,
        " (shipments due the same day: one row, their in_transit summed; without a date: one row, "
        "the on hand)",
    )
    _check_day_range(frame, ARRIVAL_DATE, source)
    _check_on_hand_once(frame, source)
    return frame


def _key_text(value: object) -> str:
    """A key's value as its file writes it: a day as YYYY-MM-DD, a missing date as 'no date'."""
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return "no date" if value is pd.NaT else str(value)


def _check_on_hand_once(frame: pd.DataFrame, source: str) -> None:
    """On-hand units on one row of a SKU and node at most: the rows are its shipments, and an
    export that joins positions to shipments repeats the on hand on each, which summed would
    count it twice."""
    holding = frame[frame[ON_HAND] > 0]
    repeated = holding[holding.duplicated([SKU, NODE], keep=False)]
    if len(repeated):
        first = repeated.iloc[0]
        rows = repeated.index[(repeated[SKU] == first[SKU]) & (repeated[NODE] == first[NODE])]
        raise AllocationInputError(
            f"{source}: {first[SKU]} at {first[NODE]} has on_hand on rows {rows[:5].tolist()}; "
            "its rows are its shipments and its on hand is counted once: give it on one row "
            "and 0 on the others",
            source=source,
            field=ON_HAND,
            item=f"{first[SKU]}@{first[NODE]}",
        )


def _refuse_near_names(frame: pd.DataFrame, names: tuple[str, ...], source: str) -> None:
    """Refuse a column named like one of ours that is absent (`In_Transit`, `InTransit`,
    `Qty In Transit`, ` node`): an optional one was left out without a word (360 units in
    transit counted as none), a required one reported missing beside a column of nearly its
    name. Where ours is present too, the other is an extra column of the file, kept out."""
    present = {str(column) for column in frame.columns}
    for name in names:
        if name in present:
            continue
        wanted = _letters(name)
        for column in frame.columns:
            if wanted in _letters(str(column)):
                raise AllocationInputError(
                    f"{source}: column {str(column)!r} is read as no column of ours; name it "
                    f"{name!r}",
                    source=source,
                    field=str(column),
                )


def _letters(name: str) -> str:
    """A column name without case, spaces or punctuation: 'Qty In-Transit' -> 'qtyintransit'."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def validate_stock(frame: pd.DataFrame, network: Network, source: str = "stock") -> pd.DataFrame:
    """Check a stock frame against the network; returns it with every column present."""
    frame = _stock_columns(frame, source)
    _check_known(frame, SKU, set(network.sku_ids), source, "SKU")
    _check_known(frame, NODE, network.node_ids, source, "node")
    no_date = frame[(frame[IN_TRANSIT] > 0) & frame[ARRIVAL_DATE].isna()]
    if len(no_date):
        row = no_date.iloc[0]
        raise AllocationInputError(
            f"{source}: {row[SKU]} at {row[NODE]} has in_transit {row[IN_TRANSIT]:g} but no "
            f"arrival_date (row {int(no_date.index[0])}); give the date it arrives",
            source=source,
            field=ARRIVAL_DATE,
            item=f"{row[SKU]}@{row[NODE]}",
        )
    return frame[[SKU, NODE, ON_HAND, IN_TRANSIT, ARRIVAL_DATE]]


def validate_demand(frame: pd.DataFrame, network: Network, source: str = "demand") -> pd.DataFrame:
    """Check a forecast-contract frame against the network (SKUs, demand locations, quantiles)."""
    frame = _demand_columns(frame, source)
    _check_demand_known(frame, network, source)
    return frame


def demand_in_network(
    frame: pd.DataFrame, network: Network, source: str = "demand"
) -> tuple[pd.DataFrame, str | None]:
    """A forecast-contract frame's rows of the series the network has a place for, validated as
    `validate_demand` validates them, and a note naming the series it left out
    (`series_outside_network`: by SKU and by location, with their rows and units), None where
    it left none out. Every row is checked, left out or not (a negative forecast, a date that is
    not one, crossing quantiles are refused wherever they are); a frame none of whose rows the
    network knows is refused as `validate_demand` refuses it: an empty plan would hide a wrong
    file."""
    frame = _demand_columns(frame, source)
    inside = _in_network(frame, network)
    if inside.all():
        return frame, None
    if not inside.any():
        try:
            _check_demand_known(frame, network, source)
        except AllocationInputError as error:
            raise AllocationInputError(
                f"{error}; no row names a SKU and a demand location of the network, so nothing "
                "could be planned",
                source=error.source,
                field=error.field,
                item=error.item,
            ) from None
    note = _left_out_note(series_outside_network(frame, network), len(frame), frame[FORECAST])
    kept = frame[inside]
    kept.index = pd.RangeIndex(len(kept))
    return kept, note


_OUTSIDE_COLUMNS = [SKU, LOCATION, "why", "rows", "units"]
_NOT_IN_NETWORK = "SKU not in the network"
_NOTE_SHOWN = 10  # SKUs or locations a note names, then how many more


def demand_locations(network: Network) -> set[str]:
    """Where demand is planned: forward warehouses (their catchment) and distributors."""
    forward = {w.id for w in network.warehouses if w.kind == "forward"}
    return forward | {d.id for d in network.distributors}


def _in_network(frame: pd.DataFrame, network: Network) -> np.ndarray:
    """Per row: its SKU is the network's and its location a demand location of it."""
    skus = frame[SKU].isin(set(network.sku_ids)).to_numpy()
    return skus & frame[LOCATION].isin(demand_locations(network)).to_numpy()


def series_outside_network(frame: pd.DataFrame, network: Network) -> pd.DataFrame:
    """The series of a forecast-contract frame (keys as text) the network has no place for:
    a SKU it lacks, or a location that is no demand location of it. One row per series, sorted:
    `sku, location, why` (in words: "SKU not in the network", "X is not in the network", "X is
    a central warehouse, not a demand location"), `rows` (the frame's rows) and `units` (their
    `forecast`, summed). The one rule for what a plan leaves out of a forecast: `allocate`'s
    note and the service's demand note (stored sales series outside the network) both read it.
    One pass over the key columns; only the rows outside are grouped."""
    outside = ~_in_network(frame, network)
    if not outside.any():
        return pd.DataFrame({name: [] for name in _OUTSIDE_COLUMNS})
    rows = frame.loc[outside, [SKU, LOCATION, FORECAST]]
    series = (
        rows.groupby([SKU, LOCATION], sort=True)[FORECAST]
        .agg(rows="size", units="sum")
        .reset_index()
    )
    skus = set(network.sku_ids)
    kinds = {w.id: w.kind for w in network.warehouses}
    series["why"] = [
        _why_outside(sku, location, skus, kinds)
        for sku, location in zip(series[SKU], series[LOCATION], strict=True)
    ]
    return series[_OUTSIDE_COLUMNS]


def _why_outside(sku: str, location: str, skus: set[str], kinds: Mapping[str, str]) -> str:
    if sku not in skus:
        return _NOT_IN_NETWORK
    kind = kinds.get(location)
    if kind is None:
        return f"{location} is not in the network"
    return f"{location} is a {kind} warehouse, not a demand location"


def _left_out_note(outside: pd.DataFrame, rows: int, forecast: pd.Series) -> str:
    """What `demand_in_network` left out, in words: its SKUs not in the network, then the
    locations that are no demand location (of the network's SKUs), each with rows and units."""
    left_rows, left_units = int(outside["rows"].sum()), float(outside["units"].sum())
    parts = []
    unknown = outside["why"] == _NOT_IN_NETWORK
    by_sku = outside[unknown].groupby(SKU, sort=True)[["rows", "units"]].sum()
    if len(by_sku):
        shown = [f"{sku} ({_amounts(r, u)})" for sku, r, u in by_sku.head(_NOTE_SHOWN).itertuples()]
        parts.append(
            f"{len(by_sku):,} SKU(s) not in the network ({_amounts(*by_sku.sum())}): "
            + listed(shown, _NOTE_SHOWN, total=len(by_sku))
        )
    by_location = outside[~unknown].groupby([LOCATION, "why"], sort=True)[["rows", "units"]].sum()
    if len(by_location):
        shown = [
            f"{why} ({_amounts(r, u)})"
            for (_, why), r, u in by_location.head(_NOTE_SHOWN).itertuples()
        ]
        parts.append(
            f"{len(by_location):,} location(s) that are no demand location of the network "
            f"({_amounts(*by_location.sum())}): "
            + listed(shown, _NOTE_SHOWN, total=len(by_location))
        )
    return (
        f"{left_rows:,} of {rows:,} forecast rows ({left_units:,.1f} of "
        f"{float(forecast.sum()):,.1f} units) are outside the network and left out of the "
        "plan: " + "; ".join(parts)
    )


def _amounts(rows: float, units: float) -> str:
    return f"{int(rows):,} rows, {units:,.1f} units"


def _demand_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """A demand frame's own checks, before any network: not empty, keys as text, dates, the
    forecast and quantile columns (finite, not negative, not crossing), one row per key."""
    if len(frame) == 0:
        raise AllocationInputError(
            f"{source}: demand is empty; expected forecast rows "
            "(sku, location, date, forecast, q...)",
            source=source,
        )
    frame = _own_copy(frame)
    _refuse_near_names(frame, (SKU, LOCATION, DATE, FORECAST), source)
    _keys_as_text(frame, (SKU, LOCATION), source)
    _as_dates(frame, DATE, source)
    levels = quantile_levels(frame, source)
    columns = {
        SKU: pa.Column(object, nullable=True),  # text, never empty: `_keys_as_text`
        LOCATION: pa.Column(object, nullable=True),
        DATE: pa.Column("datetime64[ns]", nullable=False, coerce=True),
        FORECAST: pa.Column("float64", _QUANTITY, nullable=False, coerce=True),
    }
    for name in levels.values():
        columns[name] = pa.Column("float64", _QUANTITY, nullable=False, coerce=True)
    frame = _validate(frame, pa.DataFrameSchema(columns, unique=[SKU, LOCATION, DATE]), source)
    _check_day_range(frame, DATE, source)
    _check_quantiles_ordered(frame, levels, source)
    return frame


def _check_demand_known(frame: pd.DataFrame, network: Network, source: str) -> None:
    """Every row's SKU in the network and its location a demand location; else an error naming
    the first such item and its rows."""
    _check_known(frame, SKU, set(network.sku_ids), source, "SKU")
    unknown = frame.loc[~frame[LOCATION].isin(demand_locations(network)), LOCATION]
    if len(unknown):
        item = str(unknown.iloc[0])
        kind = {w.id: w.kind for w in network.warehouses}.get(item)
        what = "unknown demand location" if kind is None else f"{kind} warehouse"
        raise AllocationInputError(
            f"{source}: {what} {item!r} at row(s) {unknown.index[:5].tolist()}; "
            f"demand locations are forward warehouses and distributors of the network",
            source=source,
            field=LOCATION,
            item=item,
        )


def require_readable_periods(frame: pd.DataFrame, source: str = "demand") -> None:
    """Refuse a demand frame from which no row's period can be read: every series has a single
    date, so nothing says whether its row is a day's, a week's or a month's demand
    (`allocation.safety` reads it as a day, and a weekly row became seven weeks of demand over a
    seven-day cover period). For rows from a client, not from our own daily forecaster; a frame
    without the key columns is left to `validate_demand` to name."""
    if len(frame) == 0 or SKU not in frame.columns or LOCATION not in frame.columns:
        return
    first_sku, first_location = frame[SKU].iloc[0], frame[LOCATION].iloc[0]
    # One pass over two columns: a forecast of many rows per series answers here.
    if int(((frame[SKU] == first_sku) & (frame[LOCATION] == first_location)).sum()) > 1:
        return
    if frame.duplicated([SKU, LOCATION]).any():
        return
    when = frame[DATE].iloc[0] if DATE in frame.columns else None
    raise AllocationInputError(
        f"{source}: every series has a single date ({len(frame):,} series, e.g. "
        f"{first_sku!r} at {first_location!r} on {_day_text(when)}), so the dates cannot say "
        "whether a row is a day's, a week's or a month's demand; send two or more dates of one "
        "series at least (their spacing, 1, 7 or about 30 days, gives every series its period)",
        source=source,
        field=DATE,
        item=str(first_sku),
    )


def _day_text(value: object) -> str:
    return str(value.date()) if isinstance(value, pd.Timestamp) else repr(value)


def load_stock(path: str | Path, network: Network | None = None) -> pd.DataFrame:
    """Read stock positions (CSV/Parquet/JSON); validated against `network` when given."""
    frame = _read_frame(path, "stock")
    if network is None:
        return _stock_columns(frame, str(path))
    return validate_stock(frame, network, source=str(path))


def load_demand(path: str | Path, network: Network | None = None) -> pd.DataFrame:
    """Read a forecast-contract frame (CSV/Parquet/JSON); validated against `network` when given."""
    frame = _read_frame(path, "forecast")
    if network is None:
        return frame
    return validate_demand(frame, network, source=str(path))
