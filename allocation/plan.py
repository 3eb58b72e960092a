"""The plan a person acts on: transfers, replenishment suggestions, unmet demand, alerts, KPIs.

Every suggestion carries its reason in numbers (forecast over the cover period, safety stock, on
hand, in transit, need) and the binding constraint or policy rule that shaped it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "ALERT_COLUMNS",
    "REPLENISHMENT_COLUMNS",
    "TRANSFER_COLUMNS",
    "UNMET_COLUMNS",
    "AlertKind",
    "Method",
    "Plan",
    "Rounding",
    "SolverFacts",
    "write_plan",
]

TRANSFER_COLUMNS = [
    "sku",
    "origin",
    "destination",
    "quantity",
    "departs",
    "arrives",
    "kind",
    "cost_per_unit",
    "dest_forecast",
    "dest_safety_stock",
    "dest_on_hand",
    "dest_in_transit",
    "binding",
    "reason",
]
REPLENISHMENT_COLUMNS = [
    "distributor",
    "sku",
    "quantity",
    "source",
    "departs",
    "arrives",
    "tier",
    "credit",
    "forecast",
    "safety_stock",
    "on_hand",
    "in_transit",
    "need",
    "cover_days",
    "binding",
    "reason",
]
UNMET_COLUMNS = ["sku", "location", "quantity", "safety_uncovered", "bearer", "tier", "cause"]
AlertKind = Literal[
    "stockout_risk",
    "early_stockout_risk",
    "overstock",
    "slow_mover",
    "no_forecast",
    "overdue_in_transit",
]
ALERT_COLUMNS = [
    "kind",
    "sku",
    "node",
    "message",
    "stock",
    "daily_demand",
    "days_of_supply",
    "threshold",
]


Rounding = Literal["none", "greedy", "milp"]
"""How suggestions became whole packs / MOQ: "milp" exact integer variables (--integer-packs);
"greedy" the LP optimum rounded by the greedy repair (`allocation.packs`), then the LP re-solved
(warm, still an LP) with the rounded suggestions fixed; "none" nothing to round."""

Method = Literal["pulp", "decomposed"]
"""How the LP was built and solved: "pulp" one PuLP problem (`allocation.model`); "decomposed"
arrays (`allocation.scale`) solved by SKU (`allocation.decompose`) to a proven relative gap."""


@dataclass(frozen=True)
class SolverFacts:
    """status: "optimal" or "time_limited"; objective: money, of the plan as shipped (after
    rounding); seconds of wall time (solve_seconds: the solver's own runs; repair_seconds: the
    greedy pack rounding alone); detail: the solver's own status words; repair: how packs were
    rounded, in words; rounding: which method (`Rounding`); lp_objective: the LP optimum before
    rounding (money), a lower bound on any whole-pack plan (in exact mode LP mode's, its start's;
    None when that failed). method: which build and solve ran (`Method`); gap: the relative gap
    to the optimum the solver proved: the decomposed LP's, or the exact-packs MILP's between its
    plan and its bound (HiGHS; None: an LP solved to optimality, or CBC, which reports none).
    whole_units: how the transfers were rounded to whole units, in words (None: the LP's
    transfers were whole already); whole_units_seconds: the rounding MILP's wall time;
    fractional_objective: the objective before it (transfers still fractional, packs already
    whole), None when there was nothing to round. start_objective: in exact mode, the objective
    of the plan the MILP started from (LP mode's), which its own is not above when the solver
    took the start. In exact mode the seconds count LP mode's pass and the MILP's.
    demand_note: what was left out of the demand, in words (None: nothing), set by the caller
    that left it out: `allocate` (forecast rows outside the network, `demand_in_network`, and
    series whose quantiles give no spread for safety stock, `no_spread_note`), the service
    (stored series outside the network or without sales history)."""

    status: str
    objective: float
    build_seconds: float
    solve_seconds: float
    solver: str
    detail: str = ""
    repair: str | None = None
    rounding: Rounding = "none"
    lp_objective: float | None = None
    repair_seconds: float = 0.0
    method: Method = "pulp"
    gap: float | None = None
    whole_units: str | None = None
    whole_units_seconds: float = 0.0
    fractional_objective: float | None = None
    start_objective: float | None = None
    demand_note: str | None = None


@dataclass
class Plan:
    """A solved allocation plan (frames with the columns above; quantities in units)."""

    transfers: pd.DataFrame
    replenishment: pd.DataFrame
    unmet: pd.DataFrame
    alerts: pd.DataFrame
    kpis: dict[str, Any]
    solver: SolverFacts
    today: pd.Timestamp
    needs: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what plan.json holds and the API returns."""
        return {
            "status": self.solver.status,
            "objective": _clean(self.solver.objective),
            "today": self.today.date().isoformat(),
            "solver": _clean(asdict(self.solver)),
            "kpis": _clean(self.kpis),
            "transfers": _records(self.transfers),
            "replenishment": _records(self.replenishment),
            "unmet": _records(self.unmet),
            "alerts": _records(self.alerts),
        }


def _clean(value: Any) -> Any:
    """Plain JSON types: NaN / inf become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else number
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as `_clean` dicts, cleaned a column at a time: `to_dict` and `_clean` of every
    value took 7 s for the 800,000 rows of the 10,000-SKU plan, this 1.4 s (BENCHMARKS.md)."""
    names = [str(name) for name in frame.columns]
    columns = [_plain(frame[name]) for name in frame.columns]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _plain(column: pd.Series) -> list[Any]:
    """`_clean` of each value of a column: numbers and text as they are (`tolist` gives Python
    numbers), NaN / inf as None; any other column value by value."""
    if pd.api.types.is_float_dtype(column):
        values = column.to_numpy(dtype=float)
        plain = values.tolist()
        for i in np.flatnonzero(~np.isfinite(values)):
            plain[i] = None
        return plain
    if pd.api.types.is_integer_dtype(column) or pd.api.types.is_bool_dtype(column):
        return column.tolist()
    if pd.api.types.infer_dtype(column, skipna=False) == "string":
        return column.tolist()
    return [_clean(value) for value in column.tolist()]


TABLES = ("transfers", "replenishment", "unmet", "alerts")


def write_plan(
    plan: Plan, out_dir: str | Path, fmt: Literal["csv", "parquet"] = "csv"
) -> dict[str, Path]:
    """Write the plan's tables (CSV or Parquet) and plan.json into out_dir; returns the paths.

    Every file is written into a folder beside them first and moved into place only when all
    are written, plan.json last, so that a failed write (a full disk, a directory where a table
    goes) leaves the earlier plan whole instead of half old, half new; the moves themselves
    are renames within the folder. The other format's tables of an earlier plan are removed:
    the folder holds one plan."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [f"{name}.{fmt}" for name in TABLES] + ["plan.json"]
    in_the_way = [name for name in names if (out / name).is_dir()]
    if in_the_way:
        raise IsADirectoryError(
            f"{out / in_the_way[0]} is a directory; the plan writes a file there"
        )
    staging = Path(tempfile.mkdtemp(prefix=".plan-", dir=out))
    try:
        for name in TABLES:
            frame: pd.DataFrame = getattr(plan, name)
            path = staging / f"{name}.{fmt}"
            if fmt == "parquet":
                frame.to_parquet(path, index=False)
            else:
                frame.to_csv(path, index=False)
        (staging / "plan.json").write_text(_plan_json(plan.to_dict()))
        for name in names:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    other = "parquet" if fmt == "csv" else "csv"
    for name in TABLES:
        (out / f"{name}.{other}").unlink(missing_ok=True)
    paths = {name: out / f"{name}.{fmt}" for name in TABLES}
    paths["plan"] = out / "plan.json"
    return paths


def _plan_json(document: dict[str, Any]) -> str:
    """plan.json text: the facts and KPIs indented, each table row on a line of its own.

    `json.dumps(..., indent=2)` of the whole document runs Python's own encoder (the C one only
    writes without indent) and puts every field on a line of its own: 386 MB against 323 MB now
    for the 10,000-SKU plan of BENCHMARKS.md. One line per row stays readable and greppable."""
    parts = []
    for key, value in document.items():
        if isinstance(value, list) and value:
            rows = ",\n".join(f"    {json.dumps(row, default=str)}" for row in value)
            text = f"[\n{rows}\n  ]"
        else:
            text = json.dumps(value, indent=2, default=str).replace("\n", "\n  ")
        parts.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}\n"
