"""How well a young series' fallback level predicts its next weeks, counted from its first sale
or from its listing (its first price, where that comes earlier).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/young_series.py

On `../shared/data/m5_tiny` (M5 leaves an item's price empty before its launch), every 7 days
from the 60th: each series whose first sale lies within the last 28 days is a young series, and
its fallback level (`fallback_level`: the mean of its last 28 days, or of as many as its history
holds) is compared with its mean over the next 28 days. The history is the sales up to the
cutoff trimmed by `trim_leading_zeros`, once with the price column (listed days without a sale
kept) and once without it (every series starts on its first sale, the rule before). Prints the
mean absolute error and the bias (sum of levels / sum of next-28-day means - 1) of each, by the
series' days since their first sale.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.columns import DS, PRICE, UNIQUE_ID, Y
from forecasting.data import load_sales, parse_mapping
from forecasting.models import fallback_level, to_long, trim_leading_zeros

M5 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "m5_tiny" / "sales.parquet"
MAPPING = "item_id=sku,store_id=location,sales=units,state_id=region,sell_price=price"
WINDOW = 28  # days: the fallback's window and the young series' bound
AGE_BANDS = ((1, 3), (3, 8), (8, 15), (15, 29))


def young_levels(long: pd.DataFrame, step: int = 7) -> pd.DataFrame:
    """One row per (cutoff, young series): `age` (days from the first sale to the cutoff),
    `listed` and `first_sale` (the fallback level under each rule) and `next` (the mean of the
    next WINDOW days)."""
    days = pd.DatetimeIndex(np.sort(long[DS].unique()))
    first_sale = long[long[Y] > 0].groupby(UNIQUE_ID)[DS].min()
    rows = []
    for cutoff in days[60:-WINDOW:step]:
        age = (cutoff - first_sale).dt.days + 1
        young = age.index[(age >= 1) & (age <= WINDOW)]
        if young.empty:
            continue
        known = long[long[UNIQUE_ID].isin(young) & (long[DS] <= cutoff)]
        after = long[
            long[UNIQUE_ID].isin(young)
            & (long[DS] > cutoff)
            & (long[DS] <= cutoff + pd.Timedelta(days=WINDOW))
        ]
        listed = fallback_level(trim_leading_zeros(known), "D")
        first = fallback_level(trim_leading_zeros(known.drop(columns=[PRICE])), "D")
        rows.append(
            pd.DataFrame(
                {
                    "cutoff": cutoff,
                    "age": age.reindex(young).to_numpy(),
                    "listed": listed.reindex(young).to_numpy(),
                    "first_sale": first.reindex(young).to_numpy(),
                    "next": after.groupby(UNIQUE_ID)[Y].mean().reindex(young).to_numpy(),
                },
                index=young,
            )
        )
    return pd.concat(rows)


def summary(levels: pd.DataFrame) -> pd.DataFrame:
    """MAE and bias of each rule, over all young series and by age band."""
    bands = [("all", levels)] + [
        (f"{lo}-{hi - 1} days", levels[(levels["age"] >= lo) & (levels["age"] < hi)])
        for lo, hi in AGE_BANDS
    ]
    rows = []
    for name, part in bands:
        row: dict[str, object] = {"since first sale": name, "cases": len(part)}
        for rule in ("first_sale", "listed"):
            row[f"{rule} MAE"] = float((part[rule] - part["next"]).abs().mean())
            row[f"{rule} bias"] = float(part[rule].sum() / part["next"].sum() - 1)
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales", type=Path, default=M5)
    args = parser.parse_args()
    long = to_long(load_sales(args.sales, parse_mapping(MAPPING)))
    levels = young_levels(long)
    print(f"{len(levels)} young series-cutoffs, {levels.index.nunique()} series")
    table = summary(levels)
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---|" * len(table.columns))
    for row in table.itertuples(index=False):
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
