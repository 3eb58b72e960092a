"""Sales in: read CSV / Parquet, map column names, validate, fill missing periods, aggregate.

The result is the *canonical sales frame*: one row per `sku, location, date` with `units` (float,
>= 0), optional `region`, and the known-future exogenous columns we use:

- `price` (money per unit): the period's mean price; missing values are carried forward within
  each series, and a sold period before the first known price takes that one; the periods
  before both the first price and the first sale have none (not listed yet: `fill_prices`).
- `promo`, `event` and any other 0/1 column of the input (SNAP-like flags): the period's maximum;
  missing periods get 0. When the input has no `event` column but has columns whose name contains
  "event" (M5's `event_name_1`, ...), `event` is 1 where any of them is set.

Other input columns (text, non-binary numbers such as M5's `wm_yr_wk`) are dropped: they are
either calendar facts we compute ourselves or not known ahead of time.

Missing periods inside a series, and after its last sale up to the data set's last period, are
zero sales, filled explicitly. With `freq` coarser than the input (e.g. "W") units are summed per
period (weeks end on Sunday, as pandas labels them) and a last, incomplete period is dropped so a
partial week never looks like a drop in demand; input with one date in each period is taken as
totals per period already, whatever day labels them.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa

from forecasting.columns import DATE, EVENT, KEY_SEP, LOCATION, PRICE, PROMO, REGION, SKU, UNITS
from forecasting.errors import SalesValidationError, listed

__all__ = [
    "Level",
    "PartialPeriodWarning",
    "SalesNote",
    "exogenous_columns",
    "fill_prices",
    "flag_columns",
    "load_sales",
    "parse_mapping",
    "period_starts",
    "prepare_sales",
    "read_table",
    "rows_error",
]

Level = Literal["location", "region"]
REQUIRED = (SKU, LOCATION, DATE, UNITS)
MAX_ROWS_IN_MESSAGE = 5
# Units or a price above this (or infinite) are a typo or an overflow, never a sale: they made
# infinite forecasts. The service's quantities (serving.schemas.Quantity) share the bound.
MAX_NUMBER = 1e12
# A date written with day and month as numbers (01/02/2022, 1.2.22): which is the day, only a
# number above 12 somewhere in the file can say.
_NUMERIC_DAY_MONTH = r"^\s*(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})\s*$"


def parse_mapping(text: str | None) -> dict[str, str]:
    """Parse a `--map` option, "item_id=sku,store_id=location", into {source: canonical}."""
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for pair in text.split(","):
        pair = pair.strip()
        if not pair:
            continue
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip() or "=" in target:
            # "item_id=sku;store_id=location" renamed item_id to "sku;store_id=location"
            raise SalesValidationError(
                f"--map entry {pair!r} is not 'source=canonical'; write it like "
                "'item_id=sku,store_id=location,sales=units'",
                source="--map",
            )
        source, target = source.strip(), target.strip()
        if source in mapping and mapping[source] != target:
            # "item_id=sku,...,item_id=region" kept the last and then missed `sku`
            raise SalesValidationError(
                f"--map maps {source!r} twice, to {mapping[source]!r} and to {target!r}; map "
                "each column once",
                source="--map",
            )
        mapping[source] = target
    targets = list(mapping.values())
    twice = sorted({t for t in targets if targets.count(t) > 1})
    if twice:
        sources = [name for name, target in mapping.items() if target == twice[0]]
        raise SalesValidationError(
            f"--map maps {' and '.join(map(repr, sources))} both to {twice[0]!r}; map one "
            "column to each name",
            source="--map",
        )
    return mapping


def read_table(path: str | Path, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet file (chosen by its suffix) into a frame, as stored;
    text_columns: CSV columns read as text (ids: "000" stays "000", not 0)."""
    path = Path(path)
    if not path.exists():
        raise SalesValidationError(f"{path}: no such file", source=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(path)
        if suffix in {".csv", ".txt"} or path.name.endswith(".csv.gz"):
            return pd.read_csv(path, dtype=dict.fromkeys(text_columns, str))
    except (OSError, ValueError) as error:
        raise SalesValidationError(f"{path}: cannot be read ({error})", source=str(path)) from error
    raise SalesValidationError(
        f"{path}: unsupported file type {suffix!r}; give a .csv or .parquet file",
        source=str(path),
    )


def load_sales(
    path: str | Path,
    mapping: Mapping[str, str] | None = None,
    freq: str = "D",
    level: Level = "location",
) -> pd.DataFrame:
    """Read, map, validate, zero-fill and aggregate a sales file into the canonical frame."""
    source_of = {canonical: name for name, canonical in (mapping or {}).items()}
    ids = tuple(source_of.get(column, column) for column in (SKU, LOCATION, REGION))
    return prepare_sales(read_table(path, ids), str(path), mapping, freq, level)


def prepare_sales(
    frame: pd.DataFrame,
    source: str = "<frame>",
    mapping: Mapping[str, str] | None = None,
    freq: str = "D",
    level: Level = "location",
    *,
    only_days_sent: bool = False,
    daily_span: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """Same as `load_sales` on an in-memory frame (the API ingests JSON records).

    only_days_sent: keep the periods that some row names, zero-filled for the series that have
    none there, and leave out those no row names (an update of a stored history, whose
    periods in between are already there). daily_span: the first and last day of the daily
    history the rows update; its days count among the dates when the rows are checked for
    being daily (a correction of four days two apart is no weekly file)."""
    if level not in ("location", "region"):
        raise SalesValidationError(
            f"{source}: level must be 'location' or 'region', not {level!r}", source=source
        )
    if frame.empty:
        raise SalesValidationError(
            f"{source}: the sales input is empty; give at least one row with {', '.join(REQUIRED)}",
            source=source,
        )
    mapped = _apply_mapping(frame, mapping or {}, source)
    mapped = _derive_event(mapped)
    mapped = _parsed_dates(mapped, source)
    validated = _validate(mapped, source)
    _check_days_and_keys(validated, source)
    _check_spacing(validated, source, freq, daily_span)
    if level == "region" or REGION in validated.columns:
        _check_regions(validated, source)
    kept = validated[[c for c in validated.columns if c in _kept_columns(validated)]]
    if level == "region":
        kept = _to_region_level(kept)
    aggregated = _aggregate(kept, freq, source)
    filled = _fill_missing_periods(aggregated, freq)
    if only_days_sent:
        filled = filled[filled[DATE].isin(aggregated[DATE].unique())].reset_index(drop=True)
    return filled


def exogenous_columns(sales: pd.DataFrame) -> list[str]:
    """Known-future exogenous columns of a canonical sales frame (price and the 0/1 flags)."""
    return [c for c in sales.columns if c not in (SKU, LOCATION, REGION, DATE, UNITS)]


def fill_prices(frame: pd.DataFrame, keys: list[str], units: str = UNITS) -> None:
    """A period without a price takes its series' last price (a shelf price holds until it
    changes; the future keeps the last one too), and a period from the series' first sale on
    that precedes every price takes the first one. The periods before both the first price
    and the first sale keep none: the SKU was not listed there yet (M5 leaves an item's price
    empty before its launch), which `trim_leading_zeros` reads. `frame` sorted by date within
    each series of `keys`, `units` its sales column; in place, a no-op without prices."""
    if PRICE in frame.columns:
        grouped = frame.groupby(keys, sort=False)
        sold = grouped[units].cummax() > 0
        frame[PRICE] = grouped[PRICE].ffill()
        first_price = frame.groupby(keys, sort=False)[PRICE].bfill()
        frame[PRICE] = frame[PRICE].where(frame[PRICE].notna() | ~sold, first_price)


def flag_columns(sales: pd.DataFrame) -> list[str]:
    """The 0/1 exogenous columns (promo, event, SNAP-like flags): everything but price."""
    return [c for c in exogenous_columns(sales) if c != PRICE]


# --- steps -----------------------------------------------------------------------------------


def _rows_text(rows: list[int]) -> str:
    return listed(rows, MAX_ROWS_IN_MESSAGE)


def _separator_hint(frame: pd.DataFrame) -> str:
    """What to do where a CSV written with ';' or tabs was read as one column, else ""."""
    header = str(frame.columns[0]) if len(frame.columns) == 1 else ""
    for separator, name in ((";", "';'"), ("\t", "tabs")):
        if separator in header:
            return f"the file looks separated by {name}: save it comma-separated"
    return ""


def _apply_mapping(frame: pd.DataFrame, mapping: Mapping[str, str], source: str) -> pd.DataFrame:
    absent = [name for name in mapping if name not in frame.columns]
    if absent:
        raise SalesValidationError(
            f"{source}: --map names column {absent[0]!r}, which is not in the input; "
            f"its columns are {', '.join(map(str, frame.columns))}"
            + (f"; {hint}" if (hint := _separator_hint(frame)) else ""),
            source=source,
            column=absent[0],
        )
    # A canonical name both mapped to and already present (e.g. M5's own `sales` vs mapped
    # `units`) would be ambiguous: the mapped column wins, the original is dropped (whichever
    # comes first in the file: the last of the two names used to win).
    targets = set(mapping.values())
    shadowed = [column for column in frame.columns if column in targets and column not in mapping]
    renamed = frame.drop(columns=shadowed).rename(columns=dict(mapping))
    missing = [name for name in REQUIRED if name not in renamed.columns]
    if missing:
        cased = [str(c) for c in renamed.columns if str(c).lower() == missing[0]]
        if cased:
            hint = f"map {cased[0]!r} with --map {cased[0]}={missing[0]} (names are case-sensitive)"
        else:
            hint = (
                _separator_hint(renamed)
                or "map yours with --map, e.g. 'store_id=location,sales=units'"
            )
        raise SalesValidationError(
            f"{source}: required column {missing[0]!r} is missing (columns: "
            f"{', '.join(map(str, renamed.columns))}); {hint}",
            source=source,
            column=missing[0],
        )
    return renamed.reset_index(drop=True)


def _derive_event(frame: pd.DataFrame) -> pd.DataFrame:
    if EVENT in frame.columns:
        return frame
    event_like = [c for c in frame.columns if "event" in str(c).lower()]
    if not event_like:
        return frame
    present = np.zeros(len(frame), dtype=bool)
    for column in event_like:
        values = frame[column]
        filled = values.notna() & (values.astype(str).str.strip() != "")
        if pd.api.types.is_numeric_dtype(values):
            filled &= values.fillna(0) != 0
        present |= filled.to_numpy()
    return frame.assign(**{EVENT: present.astype("float64")})


def _schema(frame: pd.DataFrame) -> pa.DataFrameSchema:
    columns: dict[str, pa.Column] = {
        SKU: pa.Column(str, nullable=False, coerce=True),
        LOCATION: pa.Column(str, nullable=False, coerce=True),
        DATE: pa.Column("datetime64[ns]", nullable=False, coerce=True),
        UNITS: pa.Column(
            "float64", [pa.Check.ge(0), pa.Check.le(MAX_NUMBER)], nullable=False, coerce=True
        ),
    }
    if REGION in frame.columns:
        columns[REGION] = pa.Column(str, nullable=False, coerce=True)
    if PRICE in frame.columns:
        columns[PRICE] = pa.Column(
            "float64", [pa.Check.ge(0), pa.Check.le(MAX_NUMBER)], nullable=True, coerce=True
        )
    for flag in (PROMO, EVENT):
        if flag in frame.columns:
            columns[flag] = pa.Column(
                "float64", pa.Check.isin([0.0, 1.0]), nullable=True, coerce=True
            )
    return pa.DataFrameSchema(columns, unique=list((SKU, LOCATION, DATE)), strict=False)


_FIXES = {
    DATE: "write dates as YYYY-MM-DD (ISO 8601)",
    UNITS: f"units must be numbers from 0 to {MAX_NUMBER:g} (returns belong in another column)",
    PRICE: f"prices must be numbers from 0 to {MAX_NUMBER:g}, or empty",
    PROMO: "promo must be 0 or 1 (or empty)",
    EVENT: "event must be 0 or 1 (or empty)",
    SKU: "every row needs a sku",
    LOCATION: "every row needs a location",
    REGION: "every row needs a region",
}


def _parsed_dates(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """The date column as datetimes, or an error naming the rows that are not dates.

    Numbers are refused (20160411 or a spreadsheet serial would be read as nanoseconds since
    1970); dates with a time zone keep their local day (not shifted to UTC)."""
    column = frame[DATE]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        raise SalesValidationError(
            f"{source}: column {DATE!r} holds numbers ({column.iloc[0]} in row 1), not dates; "
            f"{_FIXES[DATE]}",
            source=source,
            column=DATE,
            rows=[1],
        )
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return frame.assign(**{DATE: column.dt.tz_localize(None)})
    if pd.api.types.is_datetime64_any_dtype(column):
        return frame
    parsed = _day_month_dates(column, source)
    if parsed is None:
        parsed = _datetimes(column)  # in the format of the first rows
    bad = np.flatnonzero((parsed.isna() & column.notna()).to_numpy())
    if len(bad):  # ISO 8601 throughout, some with a time ("2024-01-01 09:30", "2024-01-02")?
        iso = _datetimes(column, format="ISO8601")
        if not (iso.isna() & column.notna()).any():
            parsed, bad = iso, bad[:0]
    if len(bad):
        values = ", ".join(repr(v) for v in column.iloc[bad[:3]])
        day_first = pd.to_datetime(column, errors="coerce", dayfirst=True)
        hint = (
            " (all of them read as day-first dates, 31/12/2024: the first rows were read "
            "month first)"
            if not (day_first.isna() & column.notna()).any()
            else ""
        )
        raise rows_error(
            source,
            DATE,
            bad,
            f"has unparsable dates ({values})",
            f"not dates, or not in the format of the first rows{hint}: {_FIXES[DATE]}",
        )
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):  # "2016-04-11T00:00:00+02:00"
        parsed = parsed.dt.tz_localize(None)
    return frame.assign(**{DATE: parsed})


# A time of day, then its UTC offset: "00:00:00+02:00", "00:00+01", "00:00Z" (not the year of
# 01-01-2024)
_UTC_OFFSET = r"(\d:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def _datetimes(column: pd.Series, **how: Any) -> pd.Series:
    """pd.to_datetime (NaT where a row is no date), each row in its own local time where the
    rows carry different UTC offsets. A file that crosses a daylight-saving change (+01:00,
    then +02:00) has no one time zone: pandas gave objects (and warns it will raise), read as
    UTC they made midnights 23:00 the day before, refused as "times of day". Only then are the
    offsets cut from the text (a regex over every row costs more than the parse)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # mixed offsets: handled below
        parsed = pd.to_datetime(column, errors="coerce", **how)
    if pd.api.types.is_datetime64_any_dtype(parsed):
        return parsed
    text = column.astype("string")
    local = text.str.replace(_UTC_OFFSET, r"\1", regex=True).astype(object)
    return pd.to_datetime(local.where(column.notna()), errors="coerce", **how)


def _day_month_dates(column: pd.Series, source: str) -> pd.Series | None:
    """Dates written as two numbers and a year (01/02/2024, 13.1.24), read in the one order that
    fits every row; None where the column is not written so (the general reading then names
    the rows it cannot read).

    pandas took the order from the first row, and with a two-digit year row by row: 01/02/24
    became 2 January and 13/02/24 13 February in one file, without a word. A file whose day and
    month no row tells apart (both 12 or less throughout) is refused: a day-first file of
    monthly totals, every date the 1st, put a year's months on 1-12 January."""
    if column.empty or not re.match(_NUMERIC_DAY_MONTH, str(column.iloc[0])):
        # ISO dates, month names, dates with a time: read as before (no pass over every row)
        return None
    text = column.astype(str)
    parts = text.str.extract(_NUMERIC_DAY_MONTH)
    if parts.isna().any(axis=None):
        return None
    first, second = parts[0].astype(int), parts[2].astype(int)
    if first.max() > 12 and second.max() > 12:
        return None  # no order fits every row
    if first.max() <= 12 and second.max() <= 12 and (first != second).any():
        raise SalesValidationError(
            f"{source}: column {DATE!r} has dates such as {column.iloc[0]!r} whose day and month "
            "cannot be told apart (both are 12 or less in every row: 01/02/2022 is 1 February "
            f"read day first, 2 January read month first); {_FIXES[DATE]}",
            source=source,
            column=DATE,
        )
    day_month = ("%d", "%m") if first.max() > 12 else ("%m", "%d")
    separator, year = parts[1].iloc[0], "%Y" if len(parts[3].iloc[0]) == 4 else "%y"
    parsed = pd.to_datetime(
        text.str.strip(), format=separator.join([*day_month, year]), errors="coerce"
    )
    return None if parsed.isna().any() else parsed


def _check_days_and_keys(frame: pd.DataFrame, source: str) -> None:
    """One row per day (a time of day would make each timestamp a period of its own), and no
    '|' in a sku (series are keyed "sku|location", split at the first '|')."""
    timed = np.flatnonzero((frame[DATE] != frame[DATE].dt.normalize()).to_numpy())
    if len(timed):
        raise rows_error(
            source,
            DATE,
            timed,
            f"has times of day ({frame[DATE].iloc[timed[0]]})",
            "give one row per sku, location and day (sum a day's transactions first)",
        )
    piped = np.flatnonzero(frame[SKU].astype(str).str.contains(KEY_SEP, regex=False).to_numpy())
    if len(piped):
        raise rows_error(
            source,
            SKU,
            piped,
            f"has {KEY_SEP!r} in {frame[SKU].iloc[piped[0]]!r}",
            f"allocast keys a series as sku{KEY_SEP}location, so a sku cannot contain "
            f"{KEY_SEP!r}: replace it",
        )


def rows_error(
    source: str, column: str, positions: np.ndarray, problem: str, fix: str
) -> SalesValidationError:
    """ "{source}: column {column} {problem} in rows ...; {fix}", naming the rows (from 1) at
    the frame's `positions` (from 0)."""
    rows = [int(p) + 1 for p in positions]
    return SalesValidationError(
        f"{source}: column {column!r} {problem} in rows {_rows_text(rows)}; {fix}",
        source=source,
        column=column,
        rows=rows[:MAX_ROWS_IN_MESSAGE],
    )


def _check_spacing(
    frame: pd.DataFrame,
    source: str,
    freq: str,
    daily_span: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> None:
    """History no coarser than the periods asked for: weekly or monthly totals read as days
    (zero-filled, a week's sales would all fall on its Sunday and six days in seven would be
    zero), or monthly totals read as weeks (each month's sales in one week, three zero weeks).

    For days, refused when the dates (four or more) are all a whole number of weeks (or of 2,
    3... days) apart, or 28 days or more; sparse daily rows, with some dates a day or a few odd
    days apart, pass. For weeks, refused when every date is 28 days or more from the next."""
    base = freq.split("-")[0].upper()
    days = np.sort(frame[DATE].unique())
    if len(days) < 4 or base not in ("D", "W"):
        return
    if daily_span is not None and base == "D":  # each series' own step is still checked below
        _check_monthly_series(frame, source)
        known = pd.date_range(*daily_span).to_numpy(dtype=days.dtype)
        days = np.union1d(days, known)
    gaps = np.diff(days).astype("timedelta64[D]").astype(np.int64)
    if base == "W":
        if gaps.min() >= 28:
            raise SalesValidationError(
                f"{source}: column {DATE!r} has dates {int(gaps.min())} or more days apart "
                f"({pd.Timestamp(days[0]).date()}, {pd.Timestamp(days[1]).date()}, ...): "
                "monthly totals, not weeks; forecast them with --freq MS",
                source=source,
                column=DATE,
            )
        return
    step = int(np.gcd.reduce(gaps))
    shown = f"{pd.Timestamp(days[0]).date()}, {pd.Timestamp(days[1]).date()}, ..."
    series: tuple[pd.DataFrame, np.ndarray] | None = None
    if not (step > 1 or gaps.min() >= 28):
        # Weekly totals dated Monday for one SKU and Thursday for another: together the dates
        # look daily, each series is weekly. Whole weeks only: sparse daily rows of a few
        # series may all fall two days apart by chance.
        series = _series_steps(frame)
        step, shown = _coarsest_series_step(*series)
        step = step if step % 7 == 0 else 1
    if step > 1 or gaps.min() >= 28:
        raise SalesValidationError(
            f"{source}: column {DATE!r} has dates {step if step > 1 else int(gaps.min())} or "
            f"more days apart ({shown}), not daily; give one row per day (days without a "
            "row are zero sales), or forecast weekly or monthly totals with --freq W or MS",
            source=source,
            column=DATE,
        )
    if series is not None:
        _note_week_spaced(*series, source)


def _check_monthly_series(frame: pd.DataFrame, source: str, min_dates: int = 4) -> None:
    """No series of `min_dates` dates or more all 28 days or more apart: monthly totals. Checked
    apart where the rows update a daily history, whose days make every gap between the dates
    one day: month-end totals, a step of 1, passed every other check."""
    dated = frame[[SKU, LOCATION, DATE]].sort_values([SKU, LOCATION, DATE])
    keys = [dated[SKU], dated[LOCATION]]
    gaps = dated[DATE].diff().dt.days.where(dated.duplicated([SKU, LOCATION]))
    per_series = gaps.groupby(keys, sort=False).agg(["min", "count"])
    monthly = per_series[(per_series["count"] >= min_dates - 1) & (per_series["min"] >= 28)]
    if monthly.empty:
        return
    sku, location = monthly.index[0]
    raise SalesValidationError(
        f"{source}: column {DATE!r} has the dates of {sku} at {location} "
        f"{int(monthly['min'].iloc[0])} or more days apart, not daily: monthly totals cannot "
        "update a daily history; give one row per day",
        source=source,
        column=DATE,
    )


def _series_steps(frame: pd.DataFrame, min_dates: int = 4) -> tuple[pd.DataFrame, np.ndarray]:
    """Each series of `min_dates` dates or more and the step it keeps (the greatest common
    divisor of its gaps): a frame `sku, location, first, second, dates` (its first two dates,
    how many) and the steps. Sorted arrays and `np.gcd.reduceat`: it runs on every daily
    file, once."""
    dated = frame[[SKU, LOCATION, DATE]].sort_values([SKU, LOCATION, DATE])  # keys are unique
    series = dated.groupby([SKU, LOCATION], sort=False).ngroup().to_numpy()
    days = dated[DATE].to_numpy().astype("datetime64[D]").astype(np.int64)
    same = series[1:] == series[:-1]
    counts = np.bincount(series)
    keep = same & (counts[series[1:]] >= min_dates)
    gaps, owner = np.diff(days)[keep], series[1:][keep]
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else owner
    firsts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])  # each series' first row
    which = firsts[owner[starts]] if len(owner) else firsts[:0]
    named = pd.DataFrame(
        {
            SKU: dated[SKU].to_numpy()[which],
            LOCATION: dated[LOCATION].to_numpy()[which],
            "first": dated[DATE].to_numpy()[which],
            "second": dated[DATE].to_numpy()[which + 1],
            "dates": counts[owner[starts]] if len(owner) else owner,
        }
    )
    return named, np.gcd.reduceat(gaps, starts) if len(owner) else gaps


def _coarsest_series_step(named: pd.DataFrame, steps: np.ndarray) -> tuple[int, str]:
    """The step that every series of four dates or more keeps (the smallest over the series of
    `_series_steps`; 1 when one of them is daily), and a series that shows it."""
    if not len(steps):
        return 1, ""
    row = named.iloc[int(np.argmin(steps))]
    shown = f"{pd.Timestamp(row['first']).date()}, {pd.Timestamp(row['second']).date()}, ..."
    return int(steps.min()), f"{row[SKU]} at {row[LOCATION]}: {shown}"


def _note_week_spaced(named: pd.DataFrame, steps: np.ndarray, source: str) -> None:
    """A note on series of daily sales (of `_series_steps`) whose dates, eight or more, are all
    whole weeks apart: read as sales on those days and none between (a market day), they may be
    weekly totals among daily series, a third of their demand if so."""
    spaced = named[(steps % 7 == 0) & (steps > 0) & (named["dates"] >= 8).to_numpy()]
    if spaced.empty:
        return
    names = [f"{s} at {loc}" for s, loc in zip(spaced[SKU], spaced[LOCATION], strict=True)]
    warnings.warn(
        f"{source}: {len(names)} series have dates only whole weeks apart ({listed(names)}): "
        "read as daily sales on those days and none between; if they are weekly totals, "
        "forecast them in a file of their own with --freq W",
        SalesNote,
        stacklevel=4,
    )


def _validate(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    # Nulls in key columns first: pandera would coerce None to the string "None".
    for column in (SKU, LOCATION, DATE, UNITS) + ((REGION,) if REGION in frame.columns else ()):
        null_rows = np.flatnonzero(frame[column].isna().to_numpy()) + 1
        if len(null_rows):
            raise SalesValidationError(
                f"{source}: column {column!r} is empty in rows {_rows_text(list(null_rows))}; "
                f"{_FIXES[column]}",
                source=source,
                column=column,
                rows=[int(r) for r in null_rows[:MAX_ROWS_IN_MESSAGE]],
            )
    try:
        return _schema(frame).validate(_whole_number_ids(frame), lazy=True)
    except pa.errors.SchemaErrors as errors:
        raise _translate(errors.failure_cases, source) from None


def _whole_number_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Id columns held as floats of whole numbers (a Parquet file's 7.0) as the integers they
    are, "7", as a CSV file or a network file writes them: read as "7.0", the forecast's
    series matched no SKU or location of the network, and nothing said so."""
    for column in (SKU, LOCATION, REGION):
        if column not in frame.columns or not pd.api.types.is_float_dtype(frame[column]):
            continue
        values = frame[column]
        present = values.dropna()
        # below 2**53 a float holds every integer exactly; above it 1e19 and 2e19 both became
        # int64's minimum (or failed to cast): those stay as written
        if np.all((np.mod(present, 1) == 0) & (np.abs(present) < 2**53)):
            frame = frame.assign(**{column: values.astype("Int64").astype(str)})
    return frame


def _translate(failures: pd.DataFrame, source: str) -> SalesValidationError:
    """Turn pandera's failure table into one error: the first problem, its rows and the fix."""
    failures = failures.assign(check=failures["check"].astype(str))
    duplicate = failures["check"].str.contains("uniqueness")
    for column in (DATE, UNITS, PRICE, PROMO, EVENT, SKU, LOCATION, REGION):
        mine = failures[(failures["column"] == column) & ~duplicate]
        if mine.empty:
            continue
        coercion = mine[mine["check"].str.startswith(("coerce_dtype", "dtype"))]
        picked = coercion if not coercion.empty else mine
        rows = sorted({int(i) + 1 for i in picked["index"].dropna()})
        values = ", ".join(repr(v) for v in picked["failure_case"].drop_duplicates().head(3))
        if not coercion.empty:
            problem = "unparsable dates" if column == DATE else "non-numeric values"
        elif column in (UNITS, PRICE):
            negative = (pd.to_numeric(picked["failure_case"], errors="coerce") < 0).any()
            problem = "negative values" if negative else f"values above {MAX_NUMBER:g}"
        else:
            problem = "invalid values"
        return SalesValidationError(
            f"{source}: column {column!r} has {problem} ({values}) in rows {_rows_text(rows)}; "
            f"{_FIXES[column]}",
            source=source,
            column=column,
            rows=rows[:MAX_ROWS_IN_MESSAGE],
        )
    rows = sorted({int(i) + 1 for i in failures.loc[duplicate, "index"].dropna()})
    return SalesValidationError(
        f"{source}: duplicate (sku, location, date) keys in rows {_rows_text(rows)}; "
        "keep one row per sku, location and date (sum duplicates before loading)",
        source=source,
        column=None,
        rows=rows[:MAX_ROWS_IN_MESSAGE],
    )


def _check_regions(frame: pd.DataFrame, source: str) -> None:
    if REGION not in frame.columns:
        raise SalesValidationError(
            f"{source}: level 'region' needs a {REGION!r} column; map yours, e.g. "
            "--map state_id=region",
            source=source,
            column=REGION,
        )
    regions_per_location = frame.groupby(LOCATION)[REGION].nunique()
    ambiguous = regions_per_location[regions_per_location > 1]
    if not ambiguous.empty:
        location = ambiguous.index[0]
        rows = list(np.flatnonzero((frame[LOCATION] == location).to_numpy())[:5] + 1)
        regions = ", ".join(
            map(repr, sorted(frame.loc[frame[LOCATION] == location, REGION].unique()))
        )
        raise SalesValidationError(
            f"{source}: location {location!r} belongs to several regions ({regions}); each "
            "location must have one region, in every row",
            source=source,
            column=REGION,
            rows=[int(r) for r in rows],
        )


def _is_flag(values: pd.Series) -> bool:
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return pd.api.types.is_bool_dtype(values)
    present = values.dropna()
    return bool(len(present)) and bool(present.isin([0, 1]).all())


def _kept_columns(frame: pd.DataFrame) -> list[str]:
    kept = [SKU, LOCATION] + ([REGION] if REGION in frame.columns else []) + [DATE, UNITS]
    for column in frame.columns:
        if column in kept:
            continue
        if column in (PRICE, PROMO, EVENT) or _is_flag(frame[column]):
            kept.append(column)
    return kept


def _agg_rules(frame: pd.DataFrame) -> dict[str, str]:
    rules = {UNITS: "sum"}
    for column in exogenous_columns(frame):
        rules[column] = "mean" if column == PRICE else "max"
    return rules


def _to_region_level(frame: pd.DataFrame) -> pd.DataFrame:
    grouped = frame.groupby([SKU, REGION, DATE], as_index=False, sort=False).agg(_agg_rules(frame))
    grouped[LOCATION] = grouped[REGION]
    return grouped


class SalesNote(UserWarning):
    """How the sales were read, where a person may have meant otherwise (the CLI prints it)."""


class PartialPeriodWarning(SalesNote):
    """A first or last period the data covers only in part was left out of the sums."""


def _warn_partial(
    source: str, which: str, bounds: tuple[pd.Timestamp, pd.Timestamp], days: int
) -> None:
    first, last = bounds
    length = (last - first).days + 1
    # A forecast starts with the period left out at the end, whole, dated by its first day:
    # `allocate` planned from that day, before the sales' last, unless told the day after them.
    after = first + pd.Timedelta(days=days)
    plan_from = (
        f"; it is forecast whole, as the first period: plan from the day after the sales with "
        f"allocate --today {after:%Y-%m-%d}"
        if which == "last"
        else ""
    )
    warnings.warn(
        f"{source}: the {which} period {first:%Y-%m-%d} .. {last:%Y-%m-%d} is left out: the data "
        f"covers {days} of its {length} days, and its sum would read as a drop in demand"
        f"{plan_from}",
        PartialPeriodWarning,
        stacklevel=4,
    )


def _aggregate(frame: pd.DataFrame, freq: str, source: str) -> pd.DataFrame:
    frame = frame.assign(**{c: frame[c].astype("float64") for c in exogenous_columns(frame)})
    if freq == "D":
        return frame
    keys = [SKU, LOCATION] + ([REGION] if REGION in frame.columns else [])
    grouper = pd.Grouper(key=DATE, freq=freq)
    aggregated = frame.groupby([*keys, grouper], as_index=False, sort=False).agg(_agg_rules(frame))
    if frame[DATE].nunique() == aggregated[DATE].nunique():
        # one date in each period: totals per period already (weekly sums labelled by their
        # Monday, monthly ones by the 1st), whole periods however they are labelled
        return aggregated
    first, last = (
        _period_bounds(aggregated[DATE].min(), freq),
        _period_bounds(aggregated[DATE].max(), freq),
    )
    start, end = frame[DATE].min(), frame[DATE].max()
    closed = _closed_weekdays(frame[DATE])
    day = pd.Timedelta(days=1)
    if not _only_closed(end + day, last[1], closed):  # the last period is cut short
        _warn_partial(source, "last", last, (end - last[0]).days + 1)
        aggregated = aggregated[aggregated[DATE] < aggregated[DATE].max()]
    if not _only_closed(first[0], start - day, closed):  # so is the first one by its start
        _warn_partial(source, "first", first, (first[1] - start).days + 1)
        aggregated = aggregated[aggregated[DATE] > aggregated[DATE].min()]
    return aggregated


def _closed_weekdays(dates: pd.Series) -> set[int]:
    """Days of the week (Monday 0) the data never holds over three weeks or more: a shop closed
    on Sundays. A period that lacks only those days is whole: a week ending on the Saturday
    before a closed Sunday, a month on its last business day, were dropped as partial."""
    days = pd.DatetimeIndex(dates.unique())
    if (days.max() - days.min()).days < 21:
        return set()
    return set(range(7)) - set(days.dayofweek)


def _only_closed(first: pd.Timestamp, last: pd.Timestamp, closed: set[int]) -> bool:
    """Whether the days `first` .. `last` (none when last < first) all fall on closed days."""
    return set(pd.date_range(first, last).dayofweek) <= closed


def period_starts(labels: pd.Series, freq: str) -> pd.Series:
    """The first day of the period each pandas `label` stands for: a week's Monday where pandas
    labels weeks by their Sunday, a month's 1st for month ends; the label itself otherwise.

    Forecasts are dated so (the forecast contract): `allocate` reads a periodic row as the days
    from its date to the next period's, and a Sunday label put a week six days late."""
    if pd.Grouper(freq=freq).label != "right":
        return labels
    offset = pd.tseries.frequencies.to_offset(freq)
    return pd.Series(
        pd.DatetimeIndex(labels) - offset + pd.Timedelta(days=1),
        index=labels.index,
        name=labels.name,
    )


def _period_bounds(label: pd.Timestamp, freq: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of the period pandas labels `label` for `freq`."""
    offset = pd.tseries.frequencies.to_offset(freq)
    day = pd.Timedelta(days=1)
    if pd.Grouper(freq=freq).label == "right":  # weeks, month ends: labelled by their last day
        return label - offset + day, label
    return label, label + offset - day


def _fill_missing_periods(frame: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Give every series every period from its first row to the data set's last period."""
    keys = [SKU, LOCATION]
    calendar = pd.date_range(frame[DATE].min(), frame[DATE].max(), freq=freq)
    if len(calendar) == 0 or not frame[DATE].isin(calendar).all():
        # Dates off the freq grid (e.g. daily dates with freq "W" not aggregated): keep as is.
        calendar = pd.DatetimeIndex(np.sort(frame[DATE].unique()))
    starts = frame.groupby(keys, sort=True)[DATE].min()
    start_pos = calendar.searchsorted(starts.to_numpy())
    lengths = len(calendar) - start_pos
    positions = np.concatenate([np.arange(p, len(calendar)) for p in start_pos])
    full = pd.DataFrame(
        {
            SKU: np.repeat(starts.index.get_level_values(SKU).to_numpy(), lengths),
            LOCATION: np.repeat(starts.index.get_level_values(LOCATION).to_numpy(), lengths),
            DATE: calendar[positions],
        }
    )
    merged = full.merge(frame, on=[*keys, DATE], how="left")
    merged[UNITS] = merged[UNITS].fillna(0.0)
    if REGION in merged.columns:
        merged[REGION] = merged.groupby(keys, sort=False)[REGION].transform("first")
    fill_prices(merged, keys)
    for column in flag_columns(merged):
        merged[column] = merged[column].fillna(0.0)
    ordered = [SKU, LOCATION] + ([REGION] if REGION in merged.columns else []) + [DATE, UNITS]
    ordered += exogenous_columns(merged)
    result = merged[ordered].sort_values([SKU, LOCATION, DATE], kind="stable")
    result[SKU] = result[SKU].astype(str)
    result[LOCATION] = result[LOCATION].astype(str)
    return result.reset_index(drop=True)
