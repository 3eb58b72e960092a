"""When plan lines can leave and arrive: stock leaves a node only once it is there."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import allocation as al
from allocation.schedule import Line, departures
from tests.allocation.conftest import demand_frame, stock_frame


def test_a_line_leaves_when_the_stock_it_takes_is_there() -> None:
    lines = [
        Line("S", "CW", "RW", 10.0, lead=9, window=30),
        Line("S", "RW", "FW", 6.0, lead=8, window=15),
        Line("S", "RW", "D", 4.0, lead=2, window=9),
    ]
    leave = departures(lines, {("S", "CW"): 10.0}, {}, ["CW", "RW", "FW"])
    assert leave.tolist() == [0, 9, 9]


def test_earliest_deadline_first_takes_on_hand_before_later_stock() -> None:
    lines = [
        Line("S", "W", "A", 5.0, lead=1, window=30),  # deadline day 29
        Line("S", "W", "B", 5.0, lead=1, window=5),  # deadline day 4: served first
    ]
    in_transit = {("S", "W"): [(3, 5.0)]}
    leave = departures(lines, {("S", "W"): 5.0}, in_transit, ["W"])
    assert leave.tolist() == [3, 0]


def test_a_destination_running_dry_first_takes_the_on_hand_first() -> None:
    # Both due on day 6 by their cover periods; A has half a day of stock left, B a week's: A
    # waited for the stock arriving on day 4 while B took what was there (helper-50's plan).
    lines = [
        Line("S", "W", "B", 5.0, lead=1, window=7, runs_out=7.0),
        Line("S", "W", "A", 5.0, lead=1, window=7, runs_out=0.5),
    ]
    in_transit = {("S", "W"): [(4, 5.0)]}
    assert departures(lines, {("S", "W"): 5.0}, in_transit, ["W"]).tolist() == [4, 0]


def test_of_lines_due_today_the_higher_priority_goes_first() -> None:
    # Both run dry before any line can reach them: the strategic distributor's (penalty 4)
    # takes the stock there, the observation one's (2) waits, however much later it is.
    lines = [
        Line("S", "W", "OBS", 5.0, lead=3, window=10, runs_out=0.0, priority=2.0),
        Line("S", "W", "STR", 5.0, lead=1, window=8, runs_out=0.5, priority=4.0),
    ]
    in_transit = {("S", "W"): [(4, 5.0)]}
    assert departures(lines, {("S", "W"): 5.0}, in_transit, ["W"]).tolist() == [4, 0]


def test_each_shipment_counts_from_its_own_day() -> None:
    # 4 units arrive on day 2 and 6 on day 9: the line due by day 4 takes the first shipment
    # (counted from the last arrival, it waited for day 9 and came late).
    lines = [
        Line("S", "W", "A", 4.0, lead=1, window=5),
        Line("S", "W", "B", 6.0, lead=1, window=20),
    ]
    in_transit = {("S", "W"): [(9, 6.0), (2, 4.0)]}
    assert departures(lines, {}, in_transit, ["W"]).tolist() == [2, 9]


def test_lines_covered_by_on_hand_leave_today() -> None:
    lines = [Line("S", "W", "A", 2.0, lead=1, window=8), Line("S", "W", "B", 3.0, lead=4, window=9)]
    assert departures(lines, {("S", "W"): 5.0}, {("S", "W"): [(6, 9.0)]}, ["W"]).tolist() == [0, 0]


def test_a_transfer_feeding_an_early_line_downstream_takes_the_early_stock() -> None:
    # CW has 5 units now and 5 on day 3. RW1 holds nothing and must send on to FW by day 5,
    # so CW's transfer to RW1 is due by day 3 there (5 - 2 days), before the one to RW2 (due by
    # day 8): it takes the 5 units on hand, and RW2's waits for day 3.
    lines = [
        Line("S", "CW", "RW1", 5.0, lead=2, window=20),
        Line("S", "RW1", "FW", 5.0, lead=2, window=7),
        Line("S", "CW", "RW2", 5.0, lead=2, window=10),
    ]
    leave = departures(lines, {("S", "CW"): 5.0}, {("S", "CW"): [(3, 5.0)]}, ["CW", "RW1", "RW2"])
    assert leave.tolist() == [0, 2, 3]


def test_a_chain_of_laterals_carries_its_arrival_days_to_its_end() -> None:
    # RW -> A -> B -> C -> D, one day each; the laterals' nodes share one rank, listed here
    # from the end of the chain back: D's line leaves once the units are there (day 3), however
    # many links the chain has (two passes over the nodes stopped at day 1).
    lines = [
        Line("S", "C", "D", 3.0, lead=1, window=30),
        Line("S", "B", "C", 3.0, lead=1, window=30),
        Line("S", "A", "B", 3.0, lead=1, window=30),
        Line("S", "RW", "A", 3.0, lead=1, window=30),
    ]
    leave = departures(lines, {("S", "RW"): 3.0}, {}, ["RW", "D", "C", "B", "A"])
    assert leave.tolist() == [3, 2, 1, 0]


@pytest.fixture
def long_chain() -> dict[str, Any]:
    """CW -> RW -> FW with lead times of 9 and 8 days: 17 days to FW, whose cover period is 15."""
    return {
        "warehouses": [
            {"id": "CW", "kind": "central", "region": "r", "capacity": 1000},
            {"id": "RW", "kind": "regional", "region": "r", "capacity": 1000},
            {"id": "FW", "kind": "forward", "region": "r", "capacity": 1000},
        ],
        "lanes": [
            {"origin": "CW", "destination": "RW", "cost_per_unit": 1.0, "lead_time_days": 9},
            {"origin": "RW", "destination": "FW", "cost_per_unit": 1.0, "lead_time_days": 8},
        ],
        "skus": [{"id": "S"}],
    }


def test_a_chain_of_lanes_slower_than_the_cover_period_is_not_planned(
    long_chain: dict[str, Any],
) -> None:
    # Lane by lane each fits (9 < 16 at RW, 8 < 15 at FW), the chain does not (17 days): the
    # timing row at RW keeps units that reach it on day 9 from leaving on a line due by day 7.
    network = al.Network.model_validate(long_chain)
    result = al.plan(network, stock_frame([("S", "CW", 100)]), demand_frame({("S", "FW"): 1.0}))
    assert "RW" not in set(result.transfers["origin"])
    assert result.kpis["late_lines"] == 0
    assert result.unmet.set_index("location").loc["FW", "quantity"] == pytest.approx(15.0)
    # Stock already at RW goes: what is there on day 0 is not late.
    stocked = al.plan(
        network, stock_frame([("S", "CW", 100), ("S", "RW", 20)]), demand_frame({("S", "FW"): 1.0})
    )
    onward = stocked.transfers.set_index("origin").loc["RW"]
    assert onward["quantity"] == pytest.approx(15.0) and "late" not in onward["binding"]


def test_stock_reaching_the_start_of_a_chain_late_is_not_planned_through_it(
    long_chain: dict[str, Any],
) -> None:
    # Lanes of 2 days each; CW's stock is in transit until day 5, so what it sends on would
    # reach RW on day 7 and FW on day 9, the end of FW's 9-day cover period. The timing row
    # over RW and CW (`via`) keeps it from being planned through.
    long_chain["lanes"][0]["lead_time_days"] = 2
    long_chain["lanes"][1]["lead_time_days"] = 2
    network = al.Network.model_validate(long_chain)
    stock = stock_frame([("S", "CW", 0)]).assign(in_transit=[100.0], arrival_date=["2026-01-06"])
    result = al.plan(network, stock, demand_frame({("S", "FW"): 1.0}))
    assert "RW" not in set(result.transfers["origin"]) and result.kpis["late_lines"] == 0


def test_stock_late_three_lanes_up_is_dated_and_marked_late(long_chain: dict[str, Any]) -> None:
    # CW -> RW -> FW in 2 days each, FW -> D in 1. CW's stock is in transit until day 4: it
    # reaches FW on day 8 and D on day 9, after D's 8-day cover period. The LP's rows look one
    # lane upstream, so the plan counts it; the schedule dates it and marks it late.
    long_chain["lanes"][0]["lead_time_days"] = 2
    long_chain["lanes"][1]["lead_time_days"] = 2
    long_chain["distributors"] = [
        {"id": "D", "region": "r", "tier": "strategic", "served_by": ["FW"], "lead_time_days": 1}
    ]
    network = al.Network.model_validate(long_chain)
    stock = stock_frame([("S", "CW", 0)]).assign(in_transit=[100.0], arrival_date=["2026-01-05"])
    result = al.plan(network, stock, demand_frame({("S", "D"): 1.0}))
    transfers = result.transfers.set_index("origin")
    assert transfers.loc["CW", "departs"] == pd.Timestamp("2026-01-05")  # day 4
    assert transfers.loc["RW", "departs"] == pd.Timestamp("2026-01-07")  # day 6
    line = result.replenishment.iloc[0]
    assert line["departs"] == pd.Timestamp("2026-01-09")  # day 8, when it reaches FW
    assert line["arrives"] == pd.Timestamp("2026-01-10")  # day 9
    assert "late" in line["binding"] and "after the 8-day cover period" in line["reason"]
    assert result.kpis["late_lines"] == 1


@pytest.mark.parametrize("decompose_above", [10**9, 0])
def test_pack_rounding_keeps_what_reaches_a_warehouse_late_from_leaving_early(
    long_chain: dict[str, Any], decompose_above: int
) -> None:
    # D is served by RW in 1 day (due to leave by day 7); CW's units reach RW on day 9. Only
    # RW's own 3 units can go: the LP sends 3, and whole packs of 5 cannot be raised from
    # stock that arrives too late (the re-solve with such a pack fixed would be infeasible).
    long_chain["distributors"] = [
        {
            "id": "D",
            "region": "r",
            "tier": "strategic",
            "served_by": ["RW"],
            "lead_time_days": 1,
            "pack_size": 5,
        }
    ]
    network = al.Network.model_validate(long_chain)
    stock = stock_frame([("S", "CW", 100), ("S", "RW", 3)])
    result = al.plan(
        network,
        stock,
        demand_frame({("S", "D"): 1.0}),
        decompose_above=decompose_above,
        workers=1,
    )
    assert result.solver.lp_objective is not None
    supplied = result.replenishment["quantity"].sum()
    assert supplied == 0.0 and result.kpis["late_lines"] == 0
    assert "RW" not in set(result.transfers["origin"])


def test_late_lines_are_counted_by_the_word_the_schedule_adds_not_by_a_name() -> None:
    from allocation.explain import _is_late

    binding = ["capacity[plate-1]", "late", "lane_capacity[A->B];late", "", "lateral"]
    assert _is_late(pd.DataFrame({"binding": binding})).tolist() == [
        False,
        True,
        True,
        False,
        False,
    ]
