"""Allocation at scale: our build + solve vs one monolithic PuLP + HiGHS solve of the same LP.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/allocation_scale.py --sizes 100 1000 10000

For each size a seeded instance (`allocation.generate.example_network`: SKUs x 50 forward
warehouses, 50 distributors, warehouse capacity shared by all SKUs) is planned twice, each in a
fresh process so that its peak memory (max RSS) is its own:

- monolithic: `prepare_inputs` + `build_problem` (PuLP, one object per variable) + HiGHS through
  PuLP, capped by --monolithic-limit seconds (a capped run is reported as such, never as optimal);
- ours: `prepare_inputs` + `build_arrays` (numpy / scipy.sparse, no per-variable Python) + HiGHS
  through highspy with --method (SKU-decomposed when --method decomposed).

Both times count from validated frames to a verified solution; instance generation is not timed.
The objective gap is |ours - monolithic| / |monolithic| when both proved their optimum.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time
from typing import Any

import allocation as al
from allocation.errors import SolverError
from allocation.generate import example_network
from allocation.model import build_problem, prepare_inputs
from allocation.scale import build_arrays, solve_arrays
from allocation.solve import solve_problem


def _instance_inputs(skus: int, locations: int, distributors: int, seed: int) -> tuple[Any, Any]:
    instance = example_network(skus, locations, distributors, seed=seed, horizon_days=14)
    network = instance.network
    stock = al.validate_stock(instance.stock, network)
    demand = al.validate_demand(instance.demand, network)
    return instance, (network, stock, demand, instance.policy)


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB


def run_ours(
    skus: int, locations: int, distributors: int, seed: int, method: str
) -> dict[str, Any]:
    _, args = _instance_inputs(skus, locations, distributors, seed)
    started = time.perf_counter()
    inputs = prepare_inputs(*args)
    arrays = build_arrays(inputs)
    build = time.perf_counter() - started
    objective, _, solve = solve_arrays(arrays, method)  # type: ignore[arg-type]
    rows, cols = arrays.shape
    return {
        "status": "optimal",
        "objective": objective,
        "build_s": build,
        "solve_s": solve,
        "rows": rows,
        "cols": cols,
        "peak_gib": _peak_gib(),
    }


def run_monolithic(
    skus: int, locations: int, distributors: int, seed: int, limit: float
) -> dict[str, Any]:
    _, args = _instance_inputs(skus, locations, distributors, seed)
    started = time.perf_counter()
    inputs = prepare_inputs(*args)
    problem, _ = build_problem(inputs)
    build = time.perf_counter() - started
    try:
        outcome = solve_problem(problem, "highs", time_limit=limit)
        status, objective, solve = outcome.status, outcome.objective, outcome.seconds
    except SolverError as exc:
        status, objective, solve = f"no solution in {limit:g} s ({exc.status})", None, limit
    return {
        "status": status,
        "objective": objective,
        "build_s": build,
        "solve_s": solve,
        "rows": len(problem.constraints),
        "cols": len(problem.variables()),
        "peak_gib": _peak_gib(),
    }


def _in_fresh_process(fn: Any, *args: Any) -> dict[str, Any]:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--locations", type=int, default=50)
    parser.add_argument("--distributors", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", default="simplex", choices=["simplex", "ipm", "pdlp"])
    parser.add_argument("--monolithic-limit", type=float, default=600.0)
    parser.add_argument("--ours-limit", type=float, default=600.0)
    parser.add_argument(
        "--skip-monolithic-above",
        type=int,
        default=10**9,
        help="SKU count above which the monolithic run is skipped (memory)",
    )
    parser.add_argument("--json", default=None, help="append one JSON line per size here")
    args = parser.parse_args()
    print(
        "| SKUs x locations | LP rows x cols | ours build + solve (s) | ours peak (GiB) "
        "| monolithic build + solve (s) | monolithic status | monolithic peak (GiB) | gap |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for skus in args.sizes:
        ours = _in_fresh_process(
            run_ours, skus, args.locations, args.distributors, args.seed, args.method
        )
        mono: dict[str, Any] | None = None
        if skus <= args.skip_monolithic_above:
            mono = _in_fresh_process(
                run_monolithic,
                skus,
                args.locations,
                args.distributors,
                args.seed,
                args.monolithic_limit,
            )
        gap = "n/a"
        both = mono is not None and mono["status"] == ours["status"] == "optimal"
        if both and mono is not None and mono["objective"]:
            gap = f"{abs(ours['objective'] - mono['objective']) / abs(mono['objective']):.2e}"
        mono_time = f"{mono['build_s']:.1f} + {mono['solve_s']:.1f}" if mono else "skipped"
        print(
            f"| {skus:,} x {args.locations} | {ours['rows']:,} x {ours['cols']:,} "
            f"| {ours['build_s']:.1f} + {ours['solve_s']:.1f} | {ours['status']} "
            f"| {ours['peak_gib']:.2f} "
            f"| {mono_time} | {mono['status'] if mono else 'skipped'} "
            f"| {mono['peak_gib'] if mono else float('nan'):.2f} | {gap} |",
            flush=True,
        )
        if args.json:
            with open(args.json, "a") as handle:
                handle.write(
                    json.dumps(
                        {"skus": skus, "method": args.method, "ours": ours, "monolithic": mono}
                    )
                    + "\n"
                )


if __name__ == "__main__":
    main()
