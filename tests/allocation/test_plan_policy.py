"""Our replay policy: the replay network as a planning network, stock positions, the echelon
supplier order worked by hand, the plan's flows turned into shipments, and a replay with the LP."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from allocation.baselines import Topology
from allocation.plan_policy import (
    PlanPolicy,
    _capped_lookahead,
    echelon_supplier_order,
    plan_demand,
    shippable,
    to_plan_network,
    to_plan_stock,
)
from allocation.safety import cover_demand, safety_stock
from allocation.simulate import SUPPLIER, Review, replay
from tests.allocation.test_baselines import TRAIN_END, chain_network, review, training_sales
from tests.allocation.test_forecast_policy import TODAY, forecast


def test_replay_network_becomes_a_planning_network() -> None:
    network = to_plan_network(chain_network())
    assert {(lane.origin, lane.destination) for lane in network.lanes} == {
        ("CW", "RW"),
        ("RW", "F1"),
        ("RW", "F2"),
    }
    assert [tuple(lateral.between) for lateral in network.laterals] == [("F1", "F2")]
    assert {w.id: w.kind for w in network.warehouses} == {
        "CW": "central",
        "RW": "regional",
        "F1": "forward",
        "F2": "forward",
    }


def test_stock_positions_sum_what_is_on_its_way() -> None:
    snapshot = review(
        chain_network(),
        {"CW": 5, "RW": 3, "F1": 2, "F2": 0},
        training_sales(),
        in_transit=[(SUPPLIER, "CW", 4.0), ("RW", "F1", 1.0), ("RW", "F1", 2.0)],
    )
    stock = to_plan_stock(snapshot)
    held = stock.groupby("node")[["on_hand", "in_transit"]].sum()
    assert held.loc["CW"].tolist() == [5, 4]
    assert held.loc["F1"].tolist() == [2, 3]
    assert held.loc["F2", "in_transit"] == 0
    # A row per node's on hand and one per SKU, node and arrival day (F1's two due together).
    assert len(stock) == 4 + 2


def test_each_shipment_on_its_way_keeps_its_own_arrival_day() -> None:
    snapshot = review(chain_network(), {"CW": 0, "RW": 0, "F1": 0, "F2": 0}, training_sales())
    later = snapshot.today + pd.Timedelta(days=20)
    moving = pd.DataFrame(
        [
            ("A", "RW", "F1", 10.0, snapshot.today, snapshot.today + pd.Timedelta(days=1)),
            ("A", "RW", "F1", 40.0, snapshot.today, later),
        ],
        columns=["sku", "origin", "destination", "quantity", "ship_date", "arrival_date"],
    )
    stock = to_plan_stock(dataclasses.replace(snapshot, in_transit=moving))
    arriving = stock[stock["in_transit"] > 0].sort_values("arrival_date")
    # Folded into one row dated by the later arrival, the 10 due tomorrow counted as late.
    assert arriving[["in_transit", "arrival_date"]].values.tolist() == [
        [10.0, snapshot.today + pd.Timedelta(days=1)],
        [40.0, later],
    ]


def test_stocked_echelon_sums_every_node_s_own_level() -> None:
    snapshot = review(
        chain_network(),
        {"CW": 5, "RW": 3, "F1": 2, "F2": 0},
        training_sales(),
        in_transit=[(SUPPLIER, "CW", 4.0)],
    )
    snapshot = dataclasses.replace(snapshot, forecast=forecast(days=10))
    orders = echelon_supplier_order(snapshot, service_target=0.9, echelon_target="installation")
    # Levels worked in test_forecast_policy: F1 8 + F2 4 + RW 11 + CW 14 = 37; position 14.
    assert orders["quantity"].tolist() == [23.0]


def test_echelon_supplier_order_worked_by_hand() -> None:
    snapshot = review(
        chain_network(),
        {"CW": 5, "RW": 3, "F1": 2, "F2": 0},
        training_sales(),
        in_transit=[(SUPPLIER, "CW", 4.0)],
    )
    snapshot = dataclasses.replace(snapshot, forecast=forecast(days=10))
    orders = echelon_supplier_order(snapshot, service_target=0.9)
    # Upstream: supplier 2 + CW->RW 1 = 3 days of 3 a day = 9, safety sqrt(3) -> 11; the stores'
    # levels F1 8 + F2 4 (test_forecast_policy): target 23; position 14 -> order 9.
    assert orders["quantity"].tolist() == [9.0]


def test_the_supplier_order_brings_forward_what_the_cap_cannot_bring_next_review() -> None:
    network = chain_network()
    snapshot = review(
        network,
        {"CW": 11, "RW": 3, "F1": 2, "F2": 0},
        training_sales(),
        in_transit=[(SUPPLIER, "CW", 4.0)],
    )
    long = dataclasses.replace(snapshot, forecast=forecast(days=10))

    def order(cap: float, snapshot: Review = long) -> list[float]:
        network.skus["supply_cap"] = cap
        return list(echelon_supplier_order(snapshot, service_target=0.9)["quantity"])

    # The order covers the longest lead time from the supplier to a store (2 + 1 + 2 = 5 days)
    # + a review (2): 7 days, 21 + safety sqrt(7) = 23.65 at 3 a day; one review more, 9 days:
    # 27 + sqrt(9) = 30, 6.35 more, of which the next order brings at most the cap. Target 23
    # (worked by hand above) against a position of 20: cap 6 leaves 0.35 -> 1 unit ahead,
    # order 4; cap 7 or more, nothing ahead, order 3; cap 5 leaves 2 ahead, order 5 (the cap).
    assert [order(6.0), order(7.0), order(100.0), order(5.0)] == [[4.0], [3.0], [3.0], [5.0]]
    # A forecast too short to see the next review's days orders for this one alone.
    assert order(6.0, dataclasses.replace(snapshot, forecast=forecast(days=8))) == [3.0]
    # So does a backtest that stops short of them: its quantile there would be a guess. (With
    # no cap at all, one reaching 9 days brings a review's demand forward.)
    network.skus["supply_cap"] = 0.0
    topology = Topology.of(network)
    ahead = [
        _capped_lookahead(
            dataclasses.replace(long, backtest=backtest_rows(days)), topology, ["A"], 0.9
        )
        for days in (8, 9)
    ]
    assert ahead[0].sum() == 0 and ahead[1][0, 0] > 0


def backtest_rows(days: int) -> pd.DataFrame:
    """A backtest of one origin reaching `days` days: F1 sold 1, 3, 1, ... against 2 a day, F2
    1 a day as forecast."""
    dates = pd.date_range(TODAY - pd.Timedelta(days=30), periods=days, freq="D")
    f1 = pd.DataFrame(
        {
            "location": "F1",
            "date": dates,
            "units": [1.0, 3.0] * (days // 2) + [1.0] * (days % 2),
            "forecast": 2.0,
        }
    )
    f2 = pd.DataFrame({"location": "F2", "date": dates, "units": 1.0, "forecast": 1.0})
    frame = pd.concat([f1, f2], ignore_index=True)
    return frame.assign(sku="A", origin_date=dates[0] - pd.Timedelta(days=1))


def test_plan_demand_restates_each_store_level_in_the_plan_s_rule() -> None:
    snapshot = review(chain_network(), {"CW": 5}, training_sales())
    snapshot = dataclasses.replace(snapshot, forecast=forecast(days=10))
    demand = plan_demand(snapshot, 0.9, Topology.of(chain_network()))
    assert sorted(demand.columns) == ["date", "forecast", "location", "q0.9", "sku"]
    # The plan's window: review 2 + the shortest lane in (RW->F1 1; F1->F2 lateral 1) = 3 days.
    needs = cover_demand(demand, TODAY, pd.Series({"F1": 3, "F2": 3})).set_index("location")
    level = needs["mean"] + safety_stock(needs["sigma"].to_numpy(), 0.9)
    # The stores' own levels (test_forecast_policy): F1 8 over 1 + 2 days, F2 4 over 2 + 2 days.
    assert level.to_dict() == pytest.approx({"F1": 8.0, "F2": 4.0})


def test_flows_through_a_warehouse_are_cross_docked() -> None:
    snapshot = review(chain_network(), {"CW": 20, "RW": 5, "F1": 0, "F2": 0}, training_sales())
    transfers = pd.DataFrame(
        {
            "sku": "A",
            "origin": ["CW", "RW", "RW"],
            "destination": ["RW", "F1", "F2"],
            "quantity": [10.0, 8.0, 4.0],
        }
    )
    moves = shippable(transfers, snapshot)
    got = {
        (o, d, v, q)
        for o, d, v, q in moves[["origin", "destination", "via", "quantity"]].itertuples(False)
    }
    # RW holds 5 of the 12 it sends on: 7 pass through from CW (5 to F1, 2 to F2 by largest
    # remainder), RW ships its own 5 (3 and 2), and CW keeps sending the other 3 to RW.
    assert got == {
        ("RW", "F1", None, 3.0),
        ("RW", "F2", None, 2.0),
        ("CW", "RW", None, 3.0),
        ("CW", "F1", "RW", 5.0),
        ("CW", "F2", "RW", 2.0),
    }


def test_plan_policy_replays_with_the_lp() -> None:
    network = chain_network()
    dates = pd.date_range(TODAY, periods=14, freq="D")
    later = pd.concat(
        [
            pd.DataFrame({"location": "F1", "date": dates, "units": [0.0, 4.0] * 7}),
            pd.DataFrame({"location": "F2", "date": dates, "units": 1.0}),
        ]
    ).assign(sku="A")
    sales = pd.concat([training_sales(), later], ignore_index=True)

    def forecast_fn(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
        start = history["date"].max() + pd.Timedelta(days=1)
        return forecast(days=horizon).assign(date=lambda f: start + (f["date"] - TODAY))

    policy = PlanPolicy(service_target=0.9)
    stock = pd.DataFrame({"sku": "A", "node": ["CW", "RW", "F1", "F2"], "on_hand": [30, 5, 4, 2]})
    result = replay(
        sales,
        network,
        stock,
        policy,
        start=TODAY,
        days=14,
        review_days=2,
        forecast_fn=forecast_fn,
        forecast_horizon=10,
    )
    assert policy.statuses == ["optimal"] * 7
    assert result.kpis["fill_rate"] > 0.9
    assert TRAIN_END < TODAY
    assert result.kpis["demand_units"] == pytest.approx(28 + 14)
