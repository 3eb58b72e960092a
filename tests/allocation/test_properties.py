"""Properties on random instances: what a plan must never do, whatever the data."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import allocation as al
from allocation.generate import Instance, example_network
from allocation.model import build_problem, prepare_inputs
from allocation.network import Network
from allocation.packs import PackRepair, view_of_problem
from allocation.solve import resolve_fixed, solve_problem
from tests.allocation.conftest import demand_frame

pytestmark = pytest.mark.slow  # dozens of solves; still runs in CI

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = 1e-6


def _instance(seed: int, skus: int, locations: int, distributors: int) -> Instance:
    """A seeded example; every other seed plans the days before a lane lands apart, so each
    property holds with and without those rows."""
    instance = example_network(skus, locations, distributors, seed=seed, horizon_days=14)
    instance.policy = instance.policy.model_copy(update={"early_days_apart": seed % 2 == 1})
    return instance


def _volume(network: Network) -> dict[str, float]:
    unit = network.capacity_unit == "volume"
    return {s.id: (s.unit_volume if unit else 1.0) for s in network.skus}


def _ending_stock(instance: Instance, result: al.Plan) -> dict[tuple[str, str], float]:
    """Stock left at each (sku, warehouse) according to the plan's own tables."""
    stock = instance.stock.groupby(["sku", "node"])[["on_hand", "in_transit"]].sum().sum(axis=1)
    ending: dict[tuple[str, str], float] = defaultdict(float)
    for w in instance.network.warehouses:
        for s in instance.network.sku_ids:
            ending[(s, w.id)] = float(stock.get((s, w.id), 0.0))
    for row in result.transfers.itertuples():
        ending[(row.sku, row.origin)] -= row.quantity
        ending[(row.sku, row.destination)] += row.quantity
    for row in result.replenishment.itertuples():
        ending[(row.sku, row.source)] -= row.quantity
    return ending


instances = st.tuples(
    st.integers(0, 10_000), st.integers(2, 6), st.integers(2, 5), st.integers(1, 6)
)


# Both planner paths: the PuLP model, and the arrays (decomposed) path whose roundings read the
# arrays and re-solve from start plans of their own.
@pytest.mark.parametrize("decompose_above", [10**9, 0])
@SETTINGS
@given(instances)
def test_plans_keep_stock_capacity_credit_and_territory(
    decompose_above: int, params: tuple[int, int, int, int]
) -> None:
    instance = _instance(*params)
    network = instance.network
    result = al.plan(
        network, instance.stock, instance.demand, instance.policy, decompose_above=decompose_above
    )
    assert result.solver.status == "optimal"
    assert result.solver.method == ("decomposed" if decompose_above == 0 else "pulp")
    # Rounded to whole packs by the greedy repair (no MILP), never below the LP bound.
    assert result.solver.rounding in ("greedy", "none")
    bound = result.solver.lp_objective
    assert bound is not None and result.solver.objective >= bound - 1e-6 * (1 + abs(bound))
    # Transfers in whole units: the LP's fractions rounded (`allocation.whole_units`).
    quantity = result.transfers["quantity"].to_numpy(float)  # may be an empty frame
    assert bool(np.all(np.abs(quantity - np.round(quantity)) < 1e-6))
    ending = _ending_stock(instance, result)
    # Never ships more than is available (nothing goes below zero anywhere).
    assert min(ending.values()) >= -TOL
    # Never breaks a warehouse capacity (unless already over it before the plan).
    volume = _volume(network)
    start = instance.stock.groupby("node").apply(
        lambda f: float((f["on_hand"] + f["in_transit"]) @ f["sku"].map(volume)),
        include_groups=False,
    )
    for w in network.warehouses:
        used = sum(volume[s] * q for (s, node), q in ending.items() if node == w.id)
        assert used <= max(w.capacity, float(start.get(w.id, 0.0))) + 1e-6
    # Never breaks a lane capacity.
    lane_caps = {(ln.origin, ln.destination): ln.capacity for ln in network.lanes}
    moved = result.transfers.assign(volume=result.transfers["sku"].map(volume))
    for (origin, destination), group in moved.groupby(["origin", "destination"]):
        cap = lane_caps.get((origin, destination))
        if cap is not None:
            assert float((group["quantity"] * group["volume"]).sum()) <= cap + 1e-6
    # Never serves a red-credit distributor; never crosses a territory; whole packs and MOQ.
    distributors = {d.id: d for d in network.distributors}
    region = {w.id: w.region for w in network.warehouses if w.kind != "central"}
    for row in result.replenishment.itertuples():
        d = distributors[row.distributor]
        assert d.credit != "red"
        assert region.get(row.source, d.region) == d.region and row.source in d.served_by
        assert row.quantity % d.pack_size == 0 and row.quantity >= d.moq
    # Yellow credit stays within the guaranteed amount.
    cost = {s.id: s.unit_cost for s in network.skus}
    spend = result.replenishment.assign(
        money=result.replenishment["quantity"] * result.replenishment["sku"].map(cost)
    )
    for d in distributors.values():
        if d.credit == "yellow":
            total = float(spend.loc[spend["distributor"] == d.id, "money"].sum())
            assert total <= d.guaranteed_amount + 1e-6


@SETTINGS
@given(instances, st.floats(1.1, 4.0))
def test_objective_never_worse_when_capacity_grows(
    params: tuple[int, int, int, int], factor: float
) -> None:
    instance = _instance(*params)
    document = instance.network.model_dump()
    objectives = []
    for scale in (1.0, factor):
        grown = {
            **document,
            "warehouses": [
                {**w, "capacity": w["capacity"] * scale} for w in document["warehouses"]
            ],
            "lanes": [
                {**ln, "capacity": None if ln["capacity"] is None else ln["capacity"] * scale}
                for ln in document["lanes"]
            ],
        }
        network = Network.model_validate(grown)
        inputs = prepare_inputs(
            network,
            al.validate_stock(instance.stock, network),
            al.validate_demand(instance.demand, network),
            instance.policy,
        )
        problem, _ = build_problem(inputs)
        objectives.append(solve_problem(problem).objective)
    assert objectives[1] <= objectives[0] * (1 + 1e-7) + 1e-6


@SETTINGS
@given(
    st.lists(
        st.tuples(st.sampled_from(["strategic", "growth", "observation"]), st.floats(0.5, 8.0)),
        min_size=2,
        max_size=6,
    ),
    st.floats(0.1, 0.9),
)
def test_fair_share_holds_under_shortage(
    distributors: list[tuple[str, float]], scarcity: float
) -> None:
    network = Network.model_validate(
        {
            "warehouses": [{"id": "CW", "kind": "central", "region": "r", "capacity": 1e6}],
            "distributors": [
                {
                    "id": f"D{i}",
                    "region": "r",
                    "tier": tier,
                    "served_by": ["CW"],
                    "lead_time_days": 1,
                }
                for i, (tier, _) in enumerate(distributors)
            ],
            "skus": [{"id": "S", "hot": True}],
        }
    )
    demand = pd.concat(
        [demand_frame({("S", f"D{i}"): rate}, days=14) for i, (_, rate) in enumerate(distributors)]
    )
    need = {
        f"D{i}": rate * 8 for i, (_, rate) in enumerate(distributors)
    }  # cover = 1 + 7 days, no spread
    supply = round(sum(need.values()) * scarcity)
    stock = pd.DataFrame({"sku": ["S"], "node": ["CW"], "on_hand": [supply]})
    policy = al.Policy()
    result = al.plan(network, stock, demand, policy, integer_packs=True)
    supplied = result.replenishment.groupby("distributor")["quantity"].sum()
    ratio = supply / sum(need.values())
    for tier in ("strategic", "growth", "observation"):
        members = [f"D{i}" for i, (t, _) in enumerate(distributors) if t == tier]
        if not members:
            continue
        target = policy.fair_share[tier] * ratio * sum(need[d] for d in members)
        got = float(sum(supplied.get(d, 0.0) for d in members))
        # Whole units: a tier may fall short of its exact share by less than one unit.
        assert got >= target - 1.0 + 1e-9 or got >= sum(need[d] for d in members) - 1e-9


@SETTINGS
@given(instances)
def test_warm_resolve_around_rounded_packs_matches_a_cold_solve(
    params: tuple[int, int, int, int],
) -> None:
    # The warm re-solve changes bounds inside the model HiGHS holds; a fresh build with the
    # same suggestions fixed (the greedy's packs, or every suggestion rounded down) must reach
    # the same optimum.
    instance = _instance(*params)
    network = instance.network
    stock = al.validate_stock(instance.stock, network)
    demand = al.validate_demand(instance.demand, network)
    for rounding in ("greedy", "down"):
        inputs = prepare_inputs(network, stock, demand, instance.policy)
        problem, variables = build_problem(inputs)
        solve_problem(problem)
        repair = PackRepair(inputs, view_of_problem(inputs, variables, problem))
        if rounding == "greedy":
            repair.run()
        fixed = {y: repair.y[k] for k, y in variables.supply_free.items()}
        warm = resolve_fixed(problem, fixed).objective
        cold_problem, cold_variables = build_problem(inputs)
        for k, y in cold_variables.supply_free.items():
            y.lowBound = y.upBound = repair.y[k]
        cold = solve_problem(cold_problem).objective
        assert warm == pytest.approx(cold, rel=1e-7, abs=1e-6)
