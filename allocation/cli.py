"""`allocast allocate` and `allocast example-network`: thin shells over `allocation.plan` and
`allocation.generate`. Errors print one line on stderr and exit non-zero."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from allocation.errors import AllocationError
from allocation.generate import example_network, write_instance
from allocation.inputs import (
    demand_in_network,
    load_demand,
    load_stock,
    require_readable_periods,
)
from allocation.network import load_network
from allocation.plan import Plan, write_plan
from allocation.planner import DECOMPOSE_ABOVE_SERIES, plan
from allocation.policy import Policy, load_policy
from allocation.safety import no_spread_note
from allocation.solve import SolverName

__all__ = ["register"]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def _summary(result: Plan, out: Path) -> str:
    kpis = result.kpis
    fill = kpis["fill_rate"]
    tiers = ", ".join(
        f"{tier} {rate:.1%}"
        for tier, rate in sorted(kpis["fill_rate_by_tier"].items())
        if rate is not None
    )
    days_out = ", ".join(
        f"{tier} {days:,.1f}" for tier, days in sorted(kpis["stockout_days_by_tier"].items())
    )
    alerts = result.alerts["kind"].value_counts().to_dict() if len(result.alerts) else {}
    days = kpis["days_of_supply"]
    facts = result.solver
    proven = "no gap proven" if facts.gap is None else f"within {facts.gap:.2%}"
    method = "" if facts.method == "pulp" else f", {facts.method} {proven}"
    lines = [
        f"plan {facts.status} ({facts.solver}{method}): objective {facts.objective:,.2f}, "
        f"build {facts.build_seconds:.2f} s, solve {facts.solve_seconds:.2f} s",
        f"  {kpis['transfers']} transfers ({kpis['units_transferred']:,.0f} units), "
        f"{kpis['replenishment_lines']} replenishment lines "
        f"({kpis['units_replenished']:,.0f} units), {kpis['units_unmet']:,.1f} units unmet",
        f"  expected fill rate {fill:.1%}" if fill is not None else "  expected fill rate n/a",
        f"  by tier: {tiers}",
        (
            f"  expected stockout days: {kpis['stockout_days']:,.1f} of "
            f"{kpis['location_days']:,.0f} SKU-location-days in the cover periods ({days_out})"
            if kpis["location_days"]
            else ""
        ),
        f"  days of supply after the plan: {days:.1f}" if days is not None else "",
        f"  alerts: {alerts}" if alerts else "  alerts: none",
        (
            f"  late: {kpis['late_lines']} line(s) arrive after their cover period once their "
            "stock is at the origin (binding 'late', the reason says when)"
            if kpis.get("late_lines")
            else ""
        ),
        f"  written to {out}/ (plan.json, transfers, replenishment, unmet, alerts)",
    ]
    if result.solver.demand_note:
        lines.insert(-1, f"  note: {result.solver.demand_note}")
    if result.solver.whole_units:
        lines.insert(1, f"  units: {result.solver.whole_units}")
    if result.solver.repair:
        lines.insert(1, f"  packs: {result.solver.repair}")
    return "\n".join(line for line in lines if line)


MAX_DEFAULT_WORKERS = 8  # each one holds its batches' HiGHS models in a process of its own


def default_workers() -> int:
    """Pricing processes when --workers is not given: one per CPU this process may run on (a
    container's or taskset's share, not the host's count), at most MAX_DEFAULT_WORKERS. With
    one, pricing runs in this process."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_DEFAULT_WORKERS, usable or 1))


def allocate(
    network: Annotated[
        Path, typer.Option(help="Network YAML/JSON (warehouses, lanes, distributors, SKUs).")
    ],
    stock: Annotated[
        Path, typer.Option(help="Stock positions CSV/Parquet (sku, node, on_hand, ...).")
    ],
    forecast: Annotated[
        Path, typer.Option(help="Forecast CSV/Parquet (sku, location, date, forecast, q...).")
    ],
    out: Annotated[Path, typer.Option(help="Directory for plan.json and the plan tables.")],
    policy: Annotated[Path | None, typer.Option(help="Policy overrides YAML/JSON.")] = None,
    solver: Annotated[str, typer.Option(help="highs (default) or cbc.")] = "highs",
    integer_packs: Annotated[
        bool, typer.Option("--integer-packs", help="Exact packs and MOQs with integer variables.")
    ] = False,
    time_limit: Annotated[
        float | None,
        typer.Option(
            help="Seconds; a feasible plan found within it is accepted, labelled time_limited."
        ),
    ] = None,
    today: Annotated[
        str | None, typer.Option(help="First day of the plan (default: first forecast date).")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="csv or parquet for the plan tables.")
    ] = "csv",
    decompose_above: Annotated[
        int,
        typer.Option(
            min=0,
            help="SKU-location series past which the LP is solved by SKU (arrays, no PuLP), "
            "LP mode with HiGHS only.",
        ),
    ] = DECOMPOSE_ABOVE_SERIES,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes pricing SKUs when the LP is solved by SKU "
            f"(default: the CPUs this process may use, at most {MAX_DEFAULT_WORKERS}).",
        ),
    ] = None,
) -> None:
    """Plan transfers and distributor replenishment from a forecast, a network and stock."""
    if solver not in ("highs", "cbc"):
        raise _fail(f"--solver {solver!r}: expected highs or cbc")
    if fmt not in ("csv", "parquet"):
        raise _fail(f"--format {fmt!r}: expected csv or parquet")
    if time_limit is not None and not 0 < time_limit < math.inf:  # nan and inf too
        raise _fail(f"--time-limit {time_limit:g}: expected a number of seconds above 0")
    first_day = _first_day(today)
    _make_out(out)  # now, not after a solve of minutes: the plan could not be written there
    started = time.perf_counter()

    def step(message: str) -> None:  # progress on stderr; the summary goes to stdout
        typer.echo(f"{time.perf_counter() - started:7.1f} s  {message}", err=True)

    try:
        step("loading the network, stock and forecast")
        net = load_network(network)
        chosen = load_policy(policy) if policy is not None else Policy()
        # plan() checks the stock against the network, naming the file; the forecast may hold
        # series the network lacks (a whole catalogue's): those are left out, and said so.
        demand, outside = demand_in_network(load_demand(forecast), net, source=str(forecast))
        require_readable_periods(demand, str(forecast))  # of the rows planned
        # what the plan does not take from the forecast as given: rows, or a spread it lacks
        note = "; ".join(filter(None, [outside, no_spread_note(demand)])) or None
        if note:
            step(f"note: {note}")
        result = plan(
            net,
            load_stock(stock),
            demand,
            chosen,
            today=first_day,
            solver=solver_name(solver),
            time_limit=time_limit,
            integer_packs=integer_packs,
            decompose_above=decompose_above,
            workers=workers or default_workers(),
            progress=step,
            stock_source=str(stock),
            demand_source=str(forecast),
        )
    except AllocationError as exc:
        raise _fail(str(exc) + _earlier_plan(out)) from None
    if note:  # plan.json's solver.demand_note, as the service reports what it left out
        result.solver = dataclasses.replace(result.solver, demand_note=note)
    step(f"writing the plan to {out}/")
    try:
        write_plan(result, out, fmt="parquet" if fmt == "parquet" else "csv")
    except OSError as exc:  # a full disk, a folder removed during the solve
        raise _fail(f"--out {out}: the plan could not be written ({exc})") from None
    typer.echo(_summary(result, out))


def _earlier_plan(out: Path) -> str:
    """What a failed run adds where --out holds an earlier run's plan: it is not this run's."""
    earlier = out / "plan.json"
    if not earlier.exists():
        return ""
    written = dt.datetime.fromtimestamp(earlier.stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S")
    return f" ({earlier} is an earlier run's plan, written {written}, and was left as it was)"


def _make_out(out: Path) -> None:
    """The --out directory, made now; a one-line error where it cannot be."""
    if out.exists() and not out.is_dir():
        raise _fail(f"--out {out}: a file is there; expected a directory (or a new path)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where a parent folder should be, no permission
        raise _fail(f"--out {out}: cannot make this directory ({exc.strerror})") from None


def _first_day(today: str | None) -> pd.Timestamp | None:
    """--today as a day, or a one-line error (not a parser's traceback)."""
    if today is None:
        return None
    try:  # ISO only: "01/05/2026" read month first, while the files refuse it as ambiguous
        day = pd.to_datetime(today, format="ISO8601")
    except ValueError:
        day = None
    if day is None or pd.isna(day):
        raise _fail(f"--today {today!r}: expected a date as YYYY-MM-DD, such as 2026-01-05")
    return day


def solver_name(value: str) -> SolverName:
    return "cbc" if value == "cbc" else "highs"


def example_network_command(
    out: Annotated[
        Path,
        typer.Option(help="Directory for network.yaml, stock.csv, forecast.parquet, policy.yaml."),
    ],
    skus: Annotated[int, typer.Option(min=1, help="Number of SKUs.")] = 50,
    locations: Annotated[int, typer.Option(min=1, help="Number of forward warehouses.")] = 6,
    distributors: Annotated[int, typer.Option(min=0, help="Number of distributors.")] = 8,
    seed: Annotated[int, typer.Option(min=0, help="Random seed (0 or more).")] = 0,
) -> None:
    """Write a seeded, realistic allocation instance of any size, ready for `allocate`."""
    _make_out(out)
    instance = example_network(skus, locations, distributors, seed)
    paths = write_instance(instance, out)
    typer.echo(
        f"wrote {skus} SKUs x {locations} forward warehouses, {distributors} distributors "
        f"(seed {seed}) to {out}/: " + ", ".join(p.name for p in paths.values())
    )


def register(app: typer.Typer) -> None:
    """Add `allocate` and `example-network` to the allocast CLI."""
    app.command("allocate")(allocate)
    app.command("example-network")(example_network_command)
