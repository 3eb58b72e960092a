"""Exact packs (`plan(..., integer_packs=True)`) under a time limit: the MILP started from LP
mode's plan, against the same MILP solved as it stands (no start), in the same run.

Seeded `example_network(skus, locations, distributors, seed)` instances, validated first. Per
instance and time limit: LP mode's plan (greedy pack repair, whole units; the start), the plain
MILP (`build_problem` + `solve_problem`, the solver alone) and `plan(integer_packs=True)`:
objective, status and the gap to the MILP's bound the solver reports (HiGHS), and wall seconds
(BENCHMARKS.md, "Exact packs").

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/exact_packs.py \
        --cases 100:7 300:1 1000:7 --limits 10 60
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

import allocation as al
from allocation.errors import SolverError
from allocation.generate import Instance, example_network
from allocation.model import build_problem, prepare_inputs
from allocation.planner import MILP_GAP
from allocation.solve import SolverName, solve_problem


def plain_milp(
    instance: Instance, stock: pd.DataFrame, demand: pd.DataFrame, solver: SolverName, limit: float
) -> str:
    """The exact-packs MILP as the solver alone solves it in `limit` seconds, in words."""
    started = time.perf_counter()
    inputs = prepare_inputs(instance.network, stock, demand, instance.policy, integer_packs=True)
    problem, _variables = build_problem(inputs)
    try:
        outcome = solve_problem(problem, solver, limit, mip_gap=MILP_GAP)
    except SolverError as exc:
        return f"none ({exc.status}), {time.perf_counter() - started:.1f} s"
    return _words(outcome.objective, outcome.status, outcome.gap, time.perf_counter() - started)


def _words(objective: float, status: str, gap: float | None, seconds: float) -> str:
    proven = "" if gap is None else f", gap {gap:.2%}"
    return f"{objective:,.0f} ({status}{proven}), {seconds:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["100:7", "1000:7"], help="SKUS:SEED")
    parser.add_argument("--limits", nargs="+", type=float, default=[10.0, 60.0], help="seconds")
    parser.add_argument("--locations", type=int, default=4, help="forward warehouses")
    parser.add_argument("--distributors", type=int, default=6)
    parser.add_argument("--solver", default="highs", choices=["highs", "cbc"])
    args = parser.parse_args()
    print(
        "| SKUs x locations, seed | limit (s) | LP mode (the start) | MILP alone | "
        "exact mode, started |"
    )
    print("|---|---|---|---|---|")
    for case in args.cases:
        skus, seed = (int(part) for part in case.split(":"))
        instance = example_network(skus, args.locations, args.distributors, seed=seed)
        network = instance.network
        stock = al.validate_stock(instance.stock, network)
        demand = al.validate_demand(instance.demand, network)
        started = time.perf_counter()
        lp_mode = al.plan(network, stock, demand, instance.policy, solver=args.solver).solver
        lp_words = f"{lp_mode.objective:,.0f}, {time.perf_counter() - started:.1f} s"
        for limit in args.limits:
            alone = plain_milp(instance, stock, demand, args.solver, limit)
            started = time.perf_counter()
            try:
                facts = al.plan(
                    network,
                    stock,
                    demand,
                    instance.policy,
                    solver=args.solver,
                    integer_packs=True,
                    time_limit=limit,
                ).solver
                exact = _words(
                    facts.objective, facts.status, facts.gap, time.perf_counter() - started
                )
            except SolverError as exc:
                exact = f"none ({exc.status}), {time.perf_counter() - started:.1f} s"
            print(
                f"| {skus:,} x {args.locations + args.distributors}, {seed} | {limit:g} "
                f"| {lp_words} | {alone} | {exact} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
