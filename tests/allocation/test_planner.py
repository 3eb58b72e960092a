"""Known-answer instances, solved by hand, through every solver."""

from __future__ import annotations

import json
from typing import Any

import pytest

import allocation as al
from allocation.plan import write_plan
from tests.allocation.conftest import demand_frame, stock_frame

SOLVERS = ["highs", "cbc"]
HOLDING_PER_UNIT_WEEK = 0.25 / 365 * 7  # default holding rate, unit cost 1, 7-day review


@pytest.mark.parametrize("solver", SOLVERS)
def test_one_lane_ships_the_cover_period_demand(one_lane: dict[str, Any], solver: str) -> None:
    # Cover period at FW = lead time 1 + review 7 = 8 days at 1 unit/day, no spread: ship 8.
    network = al.Network.model_validate(one_lane)
    result = al.plan(
        network, stock_frame([("S", "CW", 10)]), demand_frame({("S", "FW"): 1.0}), solver=solver
    )
    assert result.solver.status == "optimal"
    assert result.transfers[["origin", "destination", "quantity"]].values.tolist() == [
        ["CW", "FW", 8.0]
    ]
    assert result.unmet.empty
    # transport 8 * 1 + holding of all 10 units for a week
    assert result.solver.objective == pytest.approx(8 + 10 * HOLDING_PER_UNIT_WEEK, rel=1e-6)
    assert str(result.transfers["arrives"].iloc[0].date()) == "2026-01-02"


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("integer_packs", [False, True])
def test_shortage_keeps_fair_share(
    two_tiers: dict[str, Any], solver: str, integer_packs: bool
) -> None:
    # 10 units for a need of 8 + 8. Fair share: observation keeps >= 0.5 * 8 * 10/16 = 2.5.
    # Whole units: (strategic 7, observation 3) costs 4*1 + 2*5 = 14 < (8, 2): 2*6 + 20*0.5 = 22.
    network = al.Network.model_validate(two_tiers)
    demand = demand_frame({("S", "D-A"): 1.0, ("S", "D-B"): 1.0})
    result = al.plan(
        network, stock_frame([("S", "CW", 10)]), demand, solver=solver, integer_packs=integer_packs
    )
    supplied = result.replenishment.set_index("distributor")["quantity"].to_dict()
    assert supplied == {"D-A": 7.0, "D-B": 3.0}
    unmet = result.unmet.set_index("location")
    assert unmet.loc["D-B", "bearer"] == "observation distributor D-B"
    assert result.kpis["fill_rate_by_tier"]["strategic"] == pytest.approx(7 / 8)


@pytest.mark.parametrize("solver", SOLVERS)
def test_red_credit_gets_nothing_and_bears_its_shortage(
    two_tiers: dict[str, Any], solver: str
) -> None:
    two_tiers["distributors"][1]["credit"] = "red"
    network = al.Network.model_validate(two_tiers)
    demand = demand_frame({("S", "D-A"): 1.0, ("S", "D-B"): 1.0})
    result = al.plan(network, stock_frame([("S", "CW", 10)]), demand, solver=solver)
    assert result.replenishment.set_index("distributor")["quantity"].to_dict() == {"D-A": 8.0}
    row = result.unmet.set_index("location").loc["D-B"]
    assert row["quantity"] == pytest.approx(8.0)
    assert row["cause"].startswith("red credit")


def test_yellow_credit_caps_at_the_guaranteed_amount(two_tiers: dict[str, Any]) -> None:
    two_tiers["distributors"][0].update(credit="yellow", guaranteed_amount=5.0)
    two_tiers["skus"][0]["unit_cost"] = 1.0
    network = al.Network.model_validate(two_tiers)
    demand = demand_frame({("S", "D-A"): 1.0, ("S", "D-B"): 1.0})
    result = al.plan(network, stock_frame([("S", "CW", 100)]), demand)
    supplied = result.replenishment.set_index("distributor")["quantity"].to_dict()
    assert supplied == {"D-A": 5.0, "D-B": 8.0}
    assert "credit limit" in result.replenishment.set_index("distributor").loc["D-A", "binding"]


def test_packs_and_moq_round_with_every_constraint_kept(two_tiers: dict[str, Any]) -> None:
    # Need 8 each; D-A packs of 5 (MOQ 10), D-B packs of 3. Stock 20 covers both in whole packs.
    two_tiers["distributors"][0].update(pack_size=5, moq=10)
    two_tiers["distributors"][1].update(pack_size=3)
    network = al.Network.model_validate(two_tiers)
    demand = demand_frame({("S", "D-A"): 1.0, ("S", "D-B"): 1.0})
    for integer_packs in (False, True):
        result = al.plan(
            network, stock_frame([("S", "CW", 20)]), demand, integer_packs=integer_packs
        )
        supplied = result.replenishment.set_index("distributor")["quantity"].to_dict()
        assert supplied["D-A"] % 5 == 0 and supplied["D-A"] >= 10
        assert supplied["D-B"] % 3 == 0
        assert sum(supplied.values()) <= 20


def test_in_transit_arriving_too_late_does_not_count(one_lane: dict[str, Any]) -> None:
    network = al.Network.model_validate(one_lane)
    stock = stock_frame([("S", "CW", 20), ("S", "FW", 0)])
    stock["in_transit"] = [0.0, 8.0]
    demand = demand_frame({("S", "FW"): 1.0})
    in_time = stock.assign(arrival_date=["2026-01-01", "2026-01-03"])
    late = stock.assign(arrival_date=["2026-01-01", "2026-01-20"])  # after the 8-day cover
    assert al.plan(network, in_time, demand).transfers.empty
    shipped = al.plan(network, late, demand).transfers["quantity"].sum()
    assert shipped == pytest.approx(8.0)


def test_plan_json_carries_status_objective_and_timings(one_lane: dict[str, Any], tmp_path) -> None:
    network = al.Network.model_validate(one_lane)
    result = al.plan(network, stock_frame([("S", "CW", 10)]), demand_frame({("S", "FW"): 1.0}))
    paths = write_plan(result, tmp_path)
    document = json.loads(paths["plan"].read_text())
    assert document["status"] == "optimal"
    assert document["objective"] == pytest.approx(result.solver.objective)
    assert document["solver"]["build_seconds"] >= 0 and document["solver"]["solve_seconds"] >= 0
    assert (tmp_path / "transfers.csv").exists()


def test_time_limit_without_a_plan_is_a_solver_error_with_the_real_status() -> None:
    # PuLP maps this HiGHS run to "Optimal"; the plan must not.
    from allocation.generate import example_network

    instance = example_network(30, 6, 8, seed=3)
    with pytest.raises(al.SolverError) as caught:
        al.plan(
            instance.network,
            instance.stock,
            instance.demand,
            time_limit=1e-4,
            integer_packs=True,
        )
    assert "time limit" in str(caught.value).lower()
    assert caught.value.status == "Time limit reached"


def _solver_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Record (function, whether the problem had integer variables) for every solver call
    plan() makes; the real functions still run."""
    import allocation.planner as planner

    calls: list[tuple[str, bool]] = []
    solve, resolve = planner.solve_problem, planner.resolve_fixed

    def recording_solve(problem: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(("solve_problem", problem.isMIP()))
        return solve(problem, *args, **kwargs)

    def recording_resolve(problem: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(("resolve_fixed", problem.isMIP()))
        return resolve(problem, *args, **kwargs)

    monkeypatch.setattr(planner, "solve_problem", recording_solve)
    monkeypatch.setattr(planner, "resolve_fixed", recording_resolve)
    return calls


def _whole_packs(network: al.Network, result: al.Plan) -> bool:
    distributors = {d.id: d for d in network.distributors}
    return all(
        row.quantity % distributors[row.distributor].pack_size == 0
        and row.quantity >= distributors[row.distributor].moq
        for row in result.replenishment.itertuples()
    )


@pytest.mark.parametrize("solver", SOLVERS)
def test_default_mode_rounds_packs_without_a_milp(
    monkeypatch: pytest.MonkeyPatch, solver: str
) -> None:
    from allocation.generate import example_network

    instance = example_network(30, 4, 6, seed=5)
    calls = _solver_calls(monkeypatch)
    result = al.plan(
        instance.network, instance.stock, instance.demand, instance.policy, solver=solver
    )
    facts = result.solver
    assert facts.rounding == "greedy" and "no MILP" in (facts.repair or "")
    # One LP, then the same LP warm-started with the rounded suggestions fixed; no MILP ever.
    assert calls == [("solve_problem", False), ("resolve_fixed", False)]
    assert facts.lp_objective is not None
    assert facts.lp_objective <= facts.objective * (1 + 1e-9) + 1e-9  # LP is a lower bound
    assert facts.repair_seconds >= 0
    assert _whole_packs(instance.network, result)
    assert sum(result.kpis["cost"].values()) == pytest.approx(facts.objective, rel=1e-6)


def test_integer_packs_mode_is_an_exact_milp(monkeypatch: pytest.MonkeyPatch) -> None:
    from allocation.generate import example_network

    instance = example_network(8, 3, 4, seed=2)
    calls = _solver_calls(monkeypatch)
    result = al.plan(
        instance.network, instance.stock, instance.demand, instance.policy, integer_packs=True
    )
    assert result.solver.rounding == "milp" and result.solver.lp_objective is None
    assert calls == [("solve_problem", True)]
    assert _whole_packs(instance.network, result)
    assert len(result.replenishment) > 0


def test_pack_grid_rounds_to_whole_packs_within_the_cap_and_moq() -> None:
    import numpy as np

    from allocation.planner import _pack_grid

    # pack 5, MOQ 10, cap 20: 3 -> nothing or the MOQ; 12 -> 10 or 15; 19.9 -> 15 or 20;
    # 0 -> nothing; 12.0000001 is 12 within solver dust; cap 8 < MOQ -> nothing at all.
    value = np.array([3.0, 12.0, 19.9, 0.0, 10.0000001, 3.0])
    pack = np.full(6, 5.0)
    moq = np.full(6, 10.0)
    cap = np.array([20.0, 20.0, 20.0, 20.0, 20.0, 8.0])
    low, high = _pack_grid(value, pack, moq, cap)
    assert low.tolist() == [0.0, 10.0, 15.0, 0.0, 10.0, 0.0]
    assert high.tolist() == [10.0, 15.0, 20.0, 0.0, 10.0, 0.0]
