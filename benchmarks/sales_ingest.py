"""Time of a sales ingest into a database already holding the real M5 slice (BENCHMARKS.md,
"Sales ingest").

Stores `../shared/data/m5_tiny/sales.parquet` (535,640 rows) in a fresh database, then ingests
the day after its last (one row per series, 280 rows) `--repeats` times, each rolled back:
through `serving.crud.ingest_rows` (what `POST /v1/sales` runs: the date, history and region
checks against the stored sales, then the write) and, in the same run, through
`serving.crud.store_sales` alone (the write without the checks). Both are timed to the flush.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sales_ingest.py --url sqlite:////tmp/ingest.db
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sales_ingest.py \
        --url postgresql+psycopg://postgres@127.0.0.1:5432/ingest_bench

The database must be empty or hold only allocast's tables (its sales are replaced).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from sqlalchemy import delete
from sqlalchemy.orm import Session

from forecasting.data import prepare_sales
from serving import crud
from serving.db import connect, upgrade
from serving.models import SalesIngest, SalesRow

M5 = Path(__file__).resolve().parents[2] / "shared" / "data" / "m5_tiny" / "sales.parquet"
M5_NAMES = {"item_id": "sku", "store_id": "location", "state_id": "region", "sales": "units"}


def _timed(session: Session, write: Callable[[Session], object]) -> float:
    began = time.perf_counter()
    write(session)
    session.flush()
    seconds = time.perf_counter() - began
    session.rollback()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the database to use")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    raw = pd.read_parquet(M5).rename(columns=M5_NAMES)[[*M5_NAMES.values(), "date"]]
    database = connect(args.url)
    upgrade(database.engine)
    with database.session(write=True) as session:
        session.execute(delete(SalesRow))
        session.execute(delete(SalesIngest))
    began = time.perf_counter()
    with database.session(write=True) as session:
        crud.store_sales(session, prepare_sales(raw, source="m5"), None)
    print(f"stored {len(raw):,} rows in {time.perf_counter() - began:.1f} s")
    last = pd.to_datetime(raw["date"]).max()
    day = raw[pd.to_datetime(raw["date"]) == last].assign(date=(last + pd.Timedelta(days=1)).date())
    today = (last + pd.Timedelta(days=1)).date()
    ways: dict[str, Callable[[Session], object]] = {
        "ingest_rows (checks + write)": lambda s: crud.ingest_rows(s, day, None, today),
        "store_sales (write only)": lambda s: crud.store_sales(
            s, prepare_sales(day, source="rows"), None
        ),
    }
    print(f"| way | {len(day)} rows, median of {args.repeats} (s) | min (s) | max (s) |")
    print("|---|---:|---:|---:|")
    for name, write in ways.items():
        with database.sessions() as session:
            seconds = [_timed(session, write) for _ in range(args.repeats)]
        print(
            f"| {name} | {statistics.median(seconds):.3f} | {min(seconds):.3f} | "
            f"{max(seconds):.3f} |"
        )
    database.dispose()


if __name__ == "__main__":
    main()
