"""The greedy pack repair (LP mode) against exact packs (`--integer-packs`) on small instances.

Seeded `example_network(skus, locations, distributors, seed)` instances small enough for the
exact-packs MILP to finish (packs large against the needs, where the greedy loses most),
validated first. Per instance: LP mode's plan (`plan()`: the LP, the greedy pack repair, whole
units) and exact mode's (`plan(integer_packs=True)`), their objectives (money), the ratio
greedy / exact, where the difference lies by cost term (`kpis["cost"]`, greedy minus exact),
the greedy plan's wall seconds and its repair's, and the exact plan's status, proven gap and
seconds. Last, the mean and worst ratio over the instances whose MILP finished (BENCHMARKS.md,
"Greedy pack repair").

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/greedy_packs.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/greedy_packs.py --cases 8:4:4:1 15:8:6:6
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import allocation as al
from allocation.generate import example_network
from allocation.solve import OPTIMAL

# SKUs, forward warehouses, distributors; each with every seed of SEEDS.
SIZES = ((8, 4, 4), (15, 8, 6), (20, 8, 6), (30, 6, 8), (12, 10, 4), (25, 4, 6))
SEEDS = (1, 3, 6)
CASES = [f"{s}:{f}:{d}:{seed}" for s, f, d in SIZES for seed in SEEDS]
# kpis["cost"] terms, as the table names them.
TERMS = {
    "fair_share_penalty": "fair share",
    "shortage_penalty": "shortage",
    "transport": "transport",
    "holding": "holding",
    "overstock_penalty": "overstock",
}


@dataclass(frozen=True)
class Pair:
    """Both plans of one instance: objectives (money), wall seconds (the greedy plan's and its
    repair's, the exact plan's), the exact plan's status and proven gap, and the greedy's money
    above the exact plan by cost term."""

    greedy: float
    greedy_seconds: float
    repair_seconds: float
    exact: float
    exact_seconds: float
    status: str
    gap: float | None
    above: dict[str, float]


def compare(skus: int, locations: int, distributors: int, seed: int, limit: float) -> Pair:
    """LP mode's and exact mode's plans of one seeded instance, exact mode within `limit` s."""
    instance = example_network(skus, locations, distributors, seed=seed)
    network = instance.network
    stock = al.validate_stock(instance.stock, network)
    demand = al.validate_demand(instance.demand, network)
    started = time.perf_counter()
    greedy = al.plan(network, stock, demand, instance.policy)
    greedy_seconds = time.perf_counter() - started
    started = time.perf_counter()
    exact = al.plan(network, stock, demand, instance.policy, integer_packs=True, time_limit=limit)
    exact_seconds = time.perf_counter() - started
    return Pair(
        greedy=greedy.solver.objective,
        greedy_seconds=greedy_seconds,
        repair_seconds=greedy.solver.repair_seconds,
        exact=exact.solver.objective,
        exact_seconds=exact_seconds,
        status=exact.solver.status,
        gap=exact.solver.gap,
        above={
            term: greedy.kpis["cost"].get(term, 0.0) - exact.kpis["cost"].get(term, 0.0)
            for term in TERMS
        },
    )


def _terms(above: dict[str, float]) -> str:
    """The cost terms the greedy plan pays more (or less) than the exact one, largest first."""
    shown = sorted((-abs(m), name) for name, m in above.items() if abs(m) >= 0.5)
    return ", ".join(f"{TERMS[name]} {above[name]:+,.0f}" for _m, name in shown) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", nargs="+", default=CASES, help="SKUS:LOCATIONS:DISTRIBUTORS:SEED"
    )
    parser.add_argument("--limit", type=float, default=120.0, help="exact mode's seconds")
    args = parser.parse_args()
    print(
        "| SKUs:locations:distributors:seed | greedy (plan s, repair s) | exact (status, gap, s) "
        "| greedy / exact | greedy - exact by cost term |"
    )
    print("|---|---|---|---|---|")
    ratios = []
    for case in args.cases:
        skus, locations, distributors, seed = (int(part) for part in case.split(":"))
        r = compare(skus, locations, distributors, seed, args.limit)
        ratio = r.greedy / r.exact
        if r.status == OPTIMAL:
            ratios.append(ratio)
        gap = "" if r.gap is None else f", {r.gap:.2%}"
        print(
            f"| {case} | {r.greedy:,.0f} ({r.greedy_seconds:.2f} s, {r.repair_seconds:.3f} s) "
            f"| {r.exact:,.0f} ({r.status}{gap}, {r.exact_seconds:.1f} s) | {ratio:.3f} "
            f"| {_terms(r.above)} |",
            flush=True,
        )
    if ratios:
        print(
            f"\n{len(ratios)} of {len(args.cases)} instances solved exactly: greedy / exact "
            f"mean {statistics.fmean(ratios):.3f}, worst {max(ratios):.3f}"
        )


if __name__ == "__main__":
    main()
