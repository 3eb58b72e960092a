"""Stock sent round a loop of warehouses is taken out of a plan (`allocation.cycles`)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import allocation as al
from allocation.cycles import without_cycles
from allocation.model import Arc
from tests.allocation.conftest import TODAY


def _arc(origin: str, destination: str) -> Arc:
    return Arc(origin, destination, 0.0, 1, None, "lateral", "r")


def test_every_loop_is_cancelled_and_what_each_warehouse_nets_is_kept() -> None:
    # A -> B -> C -> A carries 2,889 round; A -> R -> C -> A 2,059 more. What is left moves 4
    # B -> C, 5 C -> A and 3 A -> R, and every warehouse nets what it did. Another SKU's flows
    # on the same arcs are its own.
    arcs = [_arc("A", "B"), _arc("B", "C"), _arc("C", "A"), _arc("A", "R"), _arc("R", "C")]
    flows = {("Y", 0): 2889.0, ("Y", 1): 2893.0, ("Y", 2): 4953.0, ("Y", 3): 2062.0}
    flows |= {("Y", 4): 2059.0, ("X", 0): 6.0, ("X", 1): 6.0}
    left = without_cycles(flows, arcs)
    assert left == {
        ("Y", 0): 0.0,
        ("Y", 1): 4.0,
        ("Y", 2): 5.0,
        ("Y", 3): 3.0,
        ("Y", 4): 0.0,
        ("X", 0): 6.0,
        ("X", 1): 6.0,
    }

    def net(values: dict[tuple[str, int], float]) -> dict[tuple[str, str], float]:
        total: dict[tuple[str, str], float] = {}
        for (s, i), units in values.items():
            total[(s, arcs[i].origin)] = total.get((s, arcs[i].origin), 0.0) - units
            total[(s, arcs[i].destination)] = total.get((s, arcs[i].destination), 0.0) + units
        return total

    assert net(left) == pytest.approx(net(flows))


def _free_lanes() -> dict[str, Any]:
    """Three stores and their regional warehouse linked by lanes and laterals that cost 0."""
    free = {"cost_per_unit": 0.0, "lead_time_days": 1}
    stores = ("FW-A", "FW-B", "FW-C")
    return {
        "warehouses": [
            {"id": "CW", "kind": "central", "region": "nat", "capacity": 1000},
            {"id": "RW", "kind": "regional", "region": "r", "capacity": 1000},
            *({"id": f, "kind": "forward", "region": "r", "capacity": 1000} for f in stores),
        ],
        "lanes": [{"origin": "CW", "destination": "RW", **free}]
        + [{"origin": "RW", "destination": f, **free} for f in stores],
        "laterals": [
            {"between": list(pair), **free}
            for pair in (("FW-A", "FW-B"), ("FW-B", "FW-C"), ("FW-C", "FW-A"), ("FW-A", "RW"))
        ],
        "distributors": [
            {
                "id": "D1",
                "region": "r",
                "tier": "growth",
                "served_by": ["FW-A", "FW-B"],
                "lead_time_days": 1,
                "pack_size": 4,
            },
            {
                "id": "D2",
                "region": "r",
                "tier": "strategic",
                "served_by": ["FW-C", "RW"],
                "lead_time_days": 1,
                "pack_size": 3,
            },
        ],
        "skus": [{"id": "X", "unit_cost": 10.0}, {"id": "Y", "unit_cost": 10.0}],
    }


@pytest.mark.parametrize("integer_packs", [False, True])
def test_a_plan_over_free_lanes_sends_nothing_round_a_loop(integer_packs: bool) -> None:
    # The exact-packs MILP moved 14,867 units of a SKU the network held 12 of, round the
    # stores (helper-55): as cheap as moving none, since the lanes cost nothing.
    network = al.Network.model_validate(_free_lanes())
    stock = pd.DataFrame(
        [
            *[("X", "FW-A", 13), ("X", "FW-B", 3), ("X", "FW-C", 7), ("X", "RW", 5)],
            *[("Y", "FW-A", 2), ("Y", "FW-B", 9), ("Y", "FW-C", 1)],
        ],
        columns=["sku", "node", "on_hand"],
    )
    rates = {
        ("X", "FW-A"): (0.7, 1.2),
        ("X", "FW-B"): (1.1, 1.9),
        ("X", "FW-C"): (0.3, 0.8),
        ("X", "D1"): (0.45, 0.9),
        ("X", "D2"): (0.55, 1.0),
        ("Y", "FW-A"): (0.6, 1.0),
        ("Y", "FW-B"): (0.2, 0.5),
        ("Y", "FW-C"): (0.9, 1.5),
        ("Y", "D1"): (0.3, 0.6),
        ("Y", "D2"): (0.35, 0.7),
    }
    demand = pd.DataFrame(
        [
            {
                "sku": s,
                "location": j,
                "date": TODAY + pd.Timedelta(days=day),
                "forecast": mean,
                "q0.5": mean,
                "q0.9": high,
            }
            for (s, j), (mean, high) in rates.items()
            for day in range(28)
        ]
    )
    result = al.plan(
        network,
        stock,
        demand,
        integer_packs=integer_packs,
        time_limit=30 if integer_packs else None,
    )
    moved = result.transfers
    assert moved["quantity"].sum() <= 12 + 21  # no more than the network holds of each SKU
    arcs = [_arc(o, d) for o, d in zip(moved["origin"], moved["destination"], strict=True)]
    flows = {
        (s, i): float(q)
        for i, (s, q) in enumerate(zip(moved["sku"], moved["quantity"], strict=True))
    }
    assert without_cycles(flows, arcs) == flows
