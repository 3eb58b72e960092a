"""Allocation at scale: our decomposed solve vs one monolithic PuLP + HiGHS solve of the same LP.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/allocation_scale.py --sizes 100 1000 10000

For each size a seeded instance (`allocation.generate.example_network`: SKUs x 50 forward
warehouses, 50 distributors, warehouse and lane capacity and yellow credit shared by all SKUs) is
planned twice, each in a fresh process so that its peak memory (max RSS) is its own:

- ours: `prepare_inputs` + `build_arrays` (numpy / scipy.sparse, no per-variable Python) +
  `allocation.decompose.decompose` (Dantzig-Wolfe over SKUs, batched HiGHS pricing in
  --workers processes) to a proven relative gap of --gap;
- monolithic: `prepare_inputs` + `build_problem` (PuLP, one object per variable) + one HiGHS
  solve through PuLP (one thread), capped by --monolithic-limit seconds (a capped run is
  reported as such, never as optimal).

Both times count from validated frames to a verified solution; instance generation and
validation are not timed (reported apart). Each row gives wall seconds and CPU seconds (the
process and its pricing workers), peak RSS of the main process and of the largest worker, and
the 1-minute load average before the run (the machine may be shared). The objective gap is
(ours - monolithic) / |monolithic| when the monolithic run proved its optimum; ours also
carries its own proven gap (primal objective vs Lagrangian lower bound).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import time
from typing import Any

import allocation as al
from allocation.decompose import decompose
from allocation.errors import SolverError
from allocation.generate import example_network
from allocation.model import build_problem, prepare_inputs
from allocation.scale import build_arrays
from allocation.solve import solve_problem


def _instance_args(
    skus: int, locations: int, distributors: int, seed: int, early: bool
) -> tuple[Any, float]:
    started = time.perf_counter()
    instance = example_network(skus, locations, distributors, seed=seed, horizon_days=14)
    network = instance.network
    stock = al.validate_stock(instance.stock, network)
    demand = al.validate_demand(instance.demand, network)
    policy = instance.policy.model_copy(update={"early_days_apart": early})
    return (network, stock, demand, policy), time.perf_counter() - started


def _gib(kib: float) -> float:
    return kib / 1024**2


def _usage() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_s": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
        "peak_gib": _gib(own.ru_maxrss),
        "worker_peak_gib": _gib(children.ru_maxrss),
    }


def _children_cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def run_ours(
    skus: int,
    locations: int,
    distributors: int,
    seed: int,
    early: bool,
    gap: float,
    workers: int,
    sample_skus: int | None = None,
) -> dict[str, Any]:
    args, generate = _instance_args(skus, locations, distributors, seed, early)
    load = os.getloadavg()[0]
    cpu_before = _usage()["cpu_s"]
    started = time.perf_counter()
    inputs = prepare_inputs(*args)
    prepared = time.perf_counter()
    arrays = build_arrays(inputs)
    built = time.perf_counter()
    workers_before, main_before = _children_cpu(), time.process_time()
    result = decompose(arrays, gap=gap, workers=workers, sample_skus=sample_skus)
    main_cpu, workers_cpu = time.process_time() - main_before, _children_cpu() - workers_before
    rows, cols = arrays.shape
    usage = _usage()
    return {
        "status": "optimal",
        "objective": result.objective,
        "lower_bound": result.lower_bound,
        "proven_gap": result.gap,
        "rounds": result.rounds,
        "max_violation": result.max_violation,
        "solve_main_cpu_s": main_cpu,
        "solve_workers_cpu_s": workers_cpu,
        "timing": result.timing,
        "generate_s": generate,
        "prepare_s": prepared - started,
        "build_s": built - prepared,
        "solve_s": result.seconds,
        "total_s": time.perf_counter() - started,
        "cpu_s": usage["cpu_s"] - cpu_before,
        "peak_gib": usage["peak_gib"],
        "worker_peak_gib": usage["worker_peak_gib"],
        "load": load,
        "rows": rows,
        "cols": cols,
    }


def run_monolithic(
    skus: int, locations: int, distributors: int, seed: int, early: bool, limit: float
) -> dict[str, Any]:
    args, generate = _instance_args(skus, locations, distributors, seed, early)
    load = os.getloadavg()[0]
    cpu_before = _usage()["cpu_s"]
    started = time.perf_counter()
    inputs = prepare_inputs(*args)
    problem, _ = build_problem(inputs)
    built = time.perf_counter()
    try:
        outcome = solve_problem(problem, "highs", time_limit=limit)
        status, objective, solve = outcome.status, outcome.objective, outcome.seconds
    except SolverError as exc:
        status, objective, solve = f"no solution in {limit:g} s ({exc.status})", None, limit
    usage = _usage()
    return {
        "status": status,
        "objective": objective,
        "generate_s": generate,
        "build_s": built - started,
        "solve_s": solve,
        "total_s": time.perf_counter() - started,
        "cpu_s": usage["cpu_s"] - cpu_before,
        "peak_gib": usage["peak_gib"],
        "load": load,
        "rows": len(problem.constraints),
        "cols": len(problem.variables()),
    }


def _in_fresh_process(fn: Any, *args: Any) -> dict[str, Any]:
    # Not a Pool: a pool's worker is daemonic and may not fork the pricing workers.
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    process = context.Process(target=_call, args=(queue, fn, *args))
    process.start()
    result = queue.get()
    process.join()
    if isinstance(result, BaseException):
        raise result
    return result


def _speedup(ours: dict[str, Any], mono: dict[str, Any] | None) -> str:
    """Monolithic wall time over ours (build + solve, both from validated frames); a lower
    bound ("> ") when the monolithic solve ran into its time limit without an optimum."""
    if mono is None:
        return "n/a"
    ratio = mono["total_s"] / ours["total_s"]
    return f"{ratio:.1f}x" if mono["status"] == "optimal" else f"> {ratio:.1f}x"


def _call(queue: Any, fn: Any, *args: Any) -> None:
    try:
        queue.put(fn(*args))
    except BaseException as exc:  # handed to the parent, which raises it
        queue.put(exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--locations", type=int, default=50)
    parser.add_argument("--distributors", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--early-days-apart",
        action="store_true",
        help="plan with Policy.early_days_apart on (the generated policy leaves it off)",
    )
    parser.add_argument("--gap", type=float, default=1e-3, help="proven relative gap of ours")
    parser.add_argument("--workers", type=int, default=2, help="pricing processes of ours")
    parser.add_argument(
        "--sample-skus",
        type=int,
        default=None,
        help="SKUs of the LPs that price ours first, dealt into LPs of at most "
        "allocation.decompose.SAMPLE_LP_MAX (default: allocation.decompose.sample_size)",
    )
    parser.add_argument("--monolithic-limit", type=float, default=900.0)
    parser.add_argument(
        "--skip-monolithic-above",
        type=int,
        default=10**9,
        help="SKU count above which the monolithic run is skipped",
    )
    parser.add_argument("--json", default=None, help="append one JSON line per size here")
    args = parser.parse_args()
    print(
        "| SKUs x locations | LP rows x cols | ours prepare + build + solve (s) | ours CPU (s) "
        "| ours peak GiB (main / worker) | ours rounds, proven gap | monolithic build + solve (s) "
        "| monolithic CPU (s) | monolithic status | monolithic peak (GiB) | objective gap "
        "| monolithic / ours (wall) | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for skus in args.sizes:
        size = (skus, args.locations, args.distributors, args.seed, args.early_days_apart)
        ours = _in_fresh_process(run_ours, *size, args.gap, args.workers, args.sample_skus)
        mono: dict[str, Any] | None = None
        if skus <= args.skip_monolithic_above:
            mono = _in_fresh_process(run_monolithic, *size, args.monolithic_limit)
        gap = "n/a"
        if mono is not None and mono["status"] == "optimal" and mono["objective"]:
            gap = f"{(ours['objective'] - mono['objective']) / abs(mono['objective']):+.1e}"
        mono_cells = "skipped | | skipped | |"
        if mono is not None:
            mono_cells = (
                f"{mono['build_s']:.1f} + {mono['solve_s']:.1f} | {mono['cpu_s']:.0f} "
                f"| {mono['status']} | {mono['peak_gib']:.2f} |"
            )
        loads = f"{ours['load']:.1f}" + (f" / {mono['load']:.1f}" if mono else "")
        ratio = _speedup(ours, mono)
        print(
            f"| {skus:,} x {args.locations} | {ours['rows']:,} x {ours['cols']:,} "
            f"| {ours['prepare_s']:.1f} + {ours['build_s']:.1f} + {ours['solve_s']:.1f} "
            f"= {ours['total_s']:.1f} | {ours['cpu_s']:.0f} "
            f"| {ours['peak_gib']:.2f} / {ours['worker_peak_gib']:.2f} "
            f"| {ours['rounds']}, {ours['proven_gap']:.1e} | {mono_cells} {gap} | {ratio} "
            f"| {loads} |",
            flush=True,
        )
        if args.json:
            with open(args.json, "a") as handle:
                record = {"skus": skus, "gap": args.gap, "workers": args.workers}
                handle.write(json.dumps({**record, "ours": ours, "monolithic": mono}) + "\n")


if __name__ == "__main__":
    main()
