"""Planning time and whole-pack cost of `allocation.plan` in default (LP + greedy pack repair) mode.

Seeded `example_network(skus, locations, distributors, seed)` instances, validated before the
clock starts; per instance: plan() wall and CPU seconds, the solver facts' build / solve / repair
seconds, the whole-unit rounding's seconds, the LP bound, the objective of the plan in whole
packs and whole units, and what the whole units added to it (BENCHMARKS.md, "Planning time").

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/planning_time.py \
        --cases 100:7 100:1 100:2 100:3 100:4 300:1 300:2 1000:7
"""

from __future__ import annotations

import argparse
import time

import allocation as al
from allocation.generate import example_network
from allocation.planner import DECOMPOSE_ABOVE_SERIES


def measure(
    skus: int, seed: int, locations: int, distributors: int, decompose_above: int
) -> dict[str, float]:
    instance = example_network(skus, locations, distributors, seed=seed)
    network = instance.network
    stock = al.validate_stock(instance.stock, network)
    demand = al.validate_demand(instance.demand, network)
    wall, cpu = time.perf_counter(), time.process_time()
    result = al.plan(network, stock, demand, instance.policy, decompose_above=decompose_above)
    facts = result.solver
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "build": facts.build_seconds,
        "solve": facts.solve_seconds,
        "repair": facts.repair_seconds,
        "lp": facts.lp_objective or float("nan"),
        "objective": facts.objective,
        "units": facts.whole_units_seconds,
        "fractional": facts.fractional_objective or facts.objective,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["100:7", "1000:7"], help="SKUS:SEED")
    parser.add_argument("--locations", type=int, default=4, help="forward warehouses")
    parser.add_argument("--distributors", type=int, default=6)
    parser.add_argument(
        "--decompose-above",
        type=int,
        default=DECOMPOSE_ABOVE_SERIES,
        help="SKU-location series past which plan() takes the arrays path (0: always)",
    )
    args = parser.parse_args()
    print(
        "| SKUs x locations, seed | plan() wall (s) | CPU (s) | build / solve / repair / "
        "whole units (s) | LP bound | objective (vs LP) | whole units' share |"
    )
    print("|---|---|---|---|---|---|---|")
    for case in args.cases:
        skus, seed = (int(part) for part in case.split(":"))
        r = measure(skus, seed, args.locations, args.distributors, args.decompose_above)
        print(
            f"| {skus:,} x {args.locations + args.distributors}, {seed} | {r['wall']:.2f} "
            f"| {r['cpu']:.2f} | {r['build']:.2f} / {r['solve']:.2f} / {r['repair']:.2f} / "
            f"{r['units']:.2f} | {r['lp']:,.0f} | {r['objective']:,.0f} "
            f"({r['objective'] / r['lp'] - 1:+.1%}) "
            f"| {r['objective'] / r['fractional'] - 1:+.1%} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
