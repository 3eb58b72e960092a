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
    in_transit = {("S", "W"): (5.0, 3)}
    leave = departures(lines, {("S", "W"): 5.0}, in_transit, ["W"])
    assert leave.tolist() == [3, 0]


def test_lines_covered_by_on_hand_leave_today() -> None:
    lines = [Line("S", "W", "A", 2.0, lead=1, window=8), Line("S", "W", "B", 3.0, lead=4, window=9)]
    assert departures(lines, {("S", "W"): 5.0}, {("S", "W"): (9.0, 6)}, ["W"]).tolist() == [0, 0]


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


def test_a_two_hop_transfer_that_arrives_after_the_cover_period_is_marked_late(
    long_chain: dict[str, Any],
) -> None:
    network = al.Network.model_validate(long_chain)
    result = al.plan(network, stock_frame([("S", "CW", 100)]), demand_frame({("S", "FW"): 1.0}))
    onward = result.transfers.set_index("origin").loc["RW"]
    assert onward["departs"] == pd.Timestamp("2026-01-10")  # when the units reach RW (day 9)
    assert onward["arrives"] == pd.Timestamp("2026-01-18")  # day 17, after 15 days
    assert "late" in onward["binding"] and "after the 15-day cover period" in onward["reason"]
    first = result.transfers.set_index("origin").loc["CW"]
    assert first["departs"] == pd.Timestamp("2026-01-01") and "late" not in first["binding"]
    assert result.kpis["late_lines"] == 1


def test_stock_on_hand_upstream_of_a_short_chain_is_never_late(long_chain: dict[str, Any]) -> None:
    long_chain["lanes"][0]["lead_time_days"] = 2
    long_chain["lanes"][1]["lead_time_days"] = 1
    network = al.Network.model_validate(long_chain)
    result = al.plan(network, stock_frame([("S", "CW", 100)]), demand_frame({("S", "FW"): 1.0}))
    assert result.kpis["late_lines"] == 0
    onward = result.transfers.set_index("origin").loc["RW"]
    assert onward["departs"] == pd.Timestamp("2026-01-03")  # after the 2 days from CW
    assert onward["arrives"] == pd.Timestamp("2026-01-04")
