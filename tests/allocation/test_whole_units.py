"""Transfers in whole units (`allocation.whole_units`): known answers solved by hand.

One lane CW -> FW, cover period 8 days (lead time 1 + review 7). A demand of 0.3125 units a day
is 2.5 units over the cover period, no spread (no safety stock): the LP ships 2.5 units.
Catchment shortage penalty 3 x unit cost 1 (the default policy), times 1 + 0.3 / 2 at the SKU's
only (so median) location (`stockout_day_weighted`): 3.45 a unit short.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import highspy
import numpy as np
import pytest

import allocation as al
from allocation.packs import view_of_arrays
from allocation.scale import build_arrays, solve_arrays
from allocation.whole_units import _passed, _rounding_model
from tests.allocation.conftest import demand_frame, example_inputs, stock_frame

HOLDING_PER_UNIT_WEEK = 0.25 / 365 * 7  # default holding rate, unit cost 1, 7-day review
RATE = 2.5 / 8  # units a day: 2.5 over the cover period


@pytest.mark.parametrize("decompose_above", [10**9, 0])
def test_a_fraction_is_rounded_up_when_its_shortage_costs_more_than_shipping(
    one_lane: dict[str, Any], decompose_above: int
) -> None:
    # 3 units: transport 3; 2 units: transport 2 + 0.5 unmet x 3.45 = 3.73. Ship 3.
    network = al.Network.model_validate(one_lane)
    result = al.plan(
        network,
        stock_frame([("S", "CW", 10)]),
        demand_frame({("S", "FW"): RATE}),
        decompose_above=decompose_above,
    )
    assert result.transfers["quantity"].tolist() == [3.0]
    assert result.unmet.empty
    facts = result.solver
    assert facts.lp_objective == pytest.approx(2.5 + 10 * HOLDING_PER_UNIT_WEEK, rel=1e-6)
    assert facts.objective == pytest.approx(3 + 10 * HOLDING_PER_UNIT_WEEK, rel=1e-6)
    # The relaxation rounds it (up, its shortage dearer than the unit): no search.
    assert (
        "1 transfer(s) of 1 SKU(s) rounded to whole units by a MILP (searching 0 of the SKUs;"
        in (facts.whole_units or "")
    )
    assert sum(result.kpis["cost"].values()) == pytest.approx(facts.objective, rel=1e-6)


def test_a_fraction_is_rounded_down_when_shipping_costs_more_than_its_shortage(
    one_lane: dict[str, Any],
) -> None:
    # Lane cost 2.5: 3 units cost 7.5; 2 units 5 + 0.5 unmet x 3.45 = 6.73. Ship 2, 0.5 unmet.
    one_lane["lanes"][0]["cost_per_unit"] = 2.5
    network = al.Network.model_validate(one_lane)
    result = al.plan(network, stock_frame([("S", "CW", 10)]), demand_frame({("S", "FW"): RATE}))
    assert result.transfers["quantity"].tolist() == [2.0]
    assert result.unmet["quantity"].sum() == pytest.approx(0.5)
    shortage = 0.5 * 3 * (1 + 0.3 / 2)
    assert result.solver.objective == pytest.approx(
        5 + shortage + 10 * HOLDING_PER_UNIT_WEEK, rel=1e-6
    )


@pytest.mark.parametrize("decompose_above", [10**9, 0])
def test_rounding_keeps_a_shared_warehouse_capacity(
    one_lane: dict[str, Any], decompose_above: int
) -> None:
    # Two SKUs, 2.5 units each to an FW that holds 5: the LP fills it exactly. Both would round
    # up alone; together only one may, the other goes down to 2 (0.5 unmet).
    one_lane["warehouses"][1]["capacity"] = 5
    one_lane["skus"] = [{"id": "S"}, {"id": "T"}]
    network = al.Network.model_validate(one_lane)
    result = al.plan(
        network,
        stock_frame([("S", "CW", 10), ("T", "CW", 10)]),
        demand_frame({("S", "FW"): RATE, ("T", "FW"): RATE}),
        decompose_above=decompose_above,
    )
    assert sorted(result.transfers["quantity"].tolist()) == [2.0, 3.0]
    assert result.unmet["quantity"].sum() == pytest.approx(0.5)


def test_a_chain_of_fractions_never_leaves_a_warehouse_below_zero() -> None:
    # CW -> RW -> FW1, FW2 with 2.5 units of demand each and nothing at RW: what RW sends on
    # must reach it first, so RW's inflow is the sum of its outflows, each whole.
    network = al.Network.model_validate(
        {
            "warehouses": [
                {"id": "CW", "kind": "central", "region": "r", "capacity": 1000},
                {"id": "RW", "kind": "regional", "region": "r", "capacity": 1000},
                {"id": "FW1", "kind": "forward", "region": "r", "capacity": 1000},
                {"id": "FW2", "kind": "forward", "region": "r", "capacity": 1000},
            ],
            "lanes": [
                {"origin": "CW", "destination": "RW", "cost_per_unit": 0.1, "lead_time_days": 1},
                {"origin": "RW", "destination": "FW1", "cost_per_unit": 0.1, "lead_time_days": 1},
                {"origin": "RW", "destination": "FW2", "cost_per_unit": 0.1, "lead_time_days": 1},
            ],
            "skus": [{"id": "S"}],
        }
    )
    result = al.plan(
        network,
        stock_frame([("S", "CW", 20)]),
        demand_frame({("S", "FW1"): 2.5 / 9, ("S", "FW2"): 2.5 / 9}),
    )
    moved = result.transfers.set_index(["origin", "destination"])["quantity"].to_dict()
    assert moved == {("CW", "RW"): 6.0, ("RW", "FW1"): 3.0, ("RW", "FW2"): 3.0}
    assert result.unmet.empty


def test_two_full_warehouses_sharing_a_fraction_still_get_whole_units() -> None:
    # Found by the property tests: a flow of 3.5 units between two warehouses that are both
    # full to within half a unit's volume. Neither 3 nor 4 keeps both capacities, so the
    # rounding frees every flow by one more unit and another SKU makes the room.
    from allocation.generate import example_network

    instance = example_network(3, 3, 2, seed=5478, horizon_days=14)
    network = instance.network
    result = al.plan(network, instance.stock, instance.demand, instance.policy)
    quantity = result.transfers["quantity"]
    assert bool(((quantity - quantity.round()).abs() < 1e-6).all())
    volume = {s.id: s.unit_volume for s in network.skus}
    unit = network.capacity_unit == "volume"
    stock = instance.stock.assign(units=instance.stock["on_hand"] + instance.stock["in_transit"])
    level = stock.groupby(["sku", "node"])["units"].sum().to_dict()
    for row in result.transfers.itertuples():
        level[(row.sku, row.origin)] = level.get((row.sku, row.origin), 0.0) - row.quantity
        level[(row.sku, row.destination)] = (
            level.get((row.sku, row.destination), 0.0) + row.quantity
        )
    for row in result.replenishment.itertuples():
        level[(row.sku, row.source)] -= row.quantity
    before = stock.assign(v=stock["units"] * stock["sku"].map(volume if unit else lambda _s: 1.0))
    start = before.groupby("node")["v"].sum()
    for w in network.warehouses:
        used = sum(
            (volume[s] if unit else 1.0) * q for (s, node), q in level.items() if node == w.id
        )
        assert min(q for (s, node), q in level.items() if node == w.id) >= -1e-6
        assert used <= max(w.capacity, float(start.get(w.id, 0.0))) + 1e-6


@pytest.mark.parametrize("every_flow", [False, True])
@pytest.mark.parametrize("seed", [0, 2, 5])
def test_the_rounding_relaxation_starts_at_the_lps_own_point(seed: int, every_flow: bool) -> None:
    # HiGHS makes its first basis from model.start (5x faster at 10,000 SKUs): the LP's flows,
    # each warehouse's unit segments filled up to the LP's stock there. Where that stock lies
    # below the lowest level the flows' boxes allow, the start breaks the balance row and
    # HiGHS repairs it; the relaxation ends as from a cold start. (These LP points' suggestions
    # are not yet whole packs, which can leave no rounding at all: seeds 1, 3 and 4.)
    inputs = example_inputs(60, 8, 6, seed)
    arrays = build_arrays(inputs)
    lp = view_of_arrays(inputs, arrays, solve_arrays(arrays, "simplex").x)
    rounding = _rounding_model(lp, inputs.arcs, every_flow)
    model = rounding.model
    assert rounding.fractional > 0
    start = np.array(model.start)
    for flow, c in rounding.column.items():
        assert start[c] == lp.flow[flow]
    assert np.all(start >= np.array(model.lower)) and np.all(start <= np.array(model.upper))
    for node, stock in rounding.stocks.items():
        level = stock.base + sum(a * start[c] for c, a in stock.terms)
        highest = stock.base + sum(a * model.upper[c] for c, a in stock.terms)
        assert level == pytest.approx(min(max(lp.ending[node], stock.base), highest), abs=1e-9)

    cold, warm = _passed(model), _passed(model)
    solution = highspy.HighsSolution()
    solution.col_value = start
    solution.value_valid = True
    warm.setSolution(solution)
    for highs in (cold, warm):
        highs.setOptionValue("presolve", "off")
        highs.run()
        assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert warm.getInfo().objective_function_value == pytest.approx(
        cold.getInfo().objective_function_value, rel=1e-9
    )


@pytest.mark.parametrize("seed", [0, 2, 5])
def test_whole_stock_stays_whole_when_the_lp_point_is_printed_to_8_digits(seed: int) -> None:
    # CBC's values reach PuLP through a text file with 8 significant digits: 106.98603 in, and a
    # regional warehouse's stock left whole by the LP is 3e-6 off. Unless that is read as
    # whole, whole flows keep a unit there that the LP did not, no SKU can be fixed where the
    # warehouse is full, and the MILP searches every SKU (23 s instead of 6 at 1,000 x 50).
    inputs = example_inputs(60, 8, 6, seed)
    arrays = build_arrays(inputs)
    lp = view_of_arrays(inputs, arrays, solve_arrays(arrays, "simplex").x)

    def printed(values: dict[Any, float]) -> dict[Any, float]:
        return {key: float(f"{value:.8g}") for key, value in values.items()}

    cbc = dataclasses.replace(lp, flow=printed(lp.flow), ending=printed(lp.ending))
    exact = _rounding_model(lp, inputs.arcs, every_flow=False).stocks
    read = _rounding_model(cbc, inputs.arcs, every_flow=False).stocks
    assert exact.keys() == read.keys()
    whole = [node for node, stock in exact.items() if stock.fixed == round(stock.fixed)]
    assert len(whole) > len(exact) / 2
    moved = [node for node in whole if read[node].fixed != exact[node].fixed]
    assert not moved, f"{len(moved)} of {len(whole)} whole stocks read as fractions: {moved[:3]}"
