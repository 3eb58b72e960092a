"""Replays small enough to check by hand: lost sales, lead-time arrivals, measures, bad input."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from allocation.simulate import (
    SUPPLIER,
    ReplayForecast,
    ReplayNetwork,
    Review,
    SimulationError,
    compute_kpis,
    replay,
    supply_floor,
)

START = pd.Timestamp("2024-01-10")


def tiny_network(supply_cap: float = 100.0) -> ReplayNetwork:
    """Supplier -(2 days, 1.0/unit)-> CW -(1 day, 0.5/unit)-> F1; one SKU costing 10, losing 4."""
    return ReplayNetwork(
        nodes=pd.DataFrame(
            {"node": ["CW", "F1"], "kind": ["central", "forward"], "region": ["all", "north"]}
        ),
        lanes=pd.DataFrame(
            {
                "origin": [SUPPLIER, "CW"],
                "destination": ["CW", "F1"],
                "lead_time_days": [2, 1],
                "cost_per_unit": [1.0, 0.5],
            }
        ),
        skus=pd.DataFrame(
            {"sku": ["A"], "unit_cost": [10.0], "lost_sale_cost": [4.0], "supply_cap": [supply_cap]}
        ),
        holding_rate=0.01,
    )


def sales_frame(replayed: list[float], history: list[float] | None = None) -> pd.DataFrame:
    """Daily sales of SKU A at F1: `history` before START, `replayed` from START on."""
    history = history if history is not None else [1.0] * 5
    units = history + replayed
    dates = pd.date_range(START - pd.Timedelta(days=len(history)), periods=len(units), freq="D")
    return pd.DataFrame({"sku": "A", "location": "F1", "date": dates, "units": units})


def stock(cw: float = 0.0, f1: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"sku": ["A", "A"], "node": ["CW", "F1"], "on_hand": [cw, f1]})


@dataclass
class Scripted:
    """A policy that plays back fixed orders per review and keeps what it was shown."""

    orders: dict[int, list[tuple[str, str, str, float]]] = field(default_factory=dict)
    name: str = "scripted"
    seen: list[Review] = field(default_factory=list)

    def decide(self, review: Review) -> pd.DataFrame:
        self.seen.append(review)
        rows = self.orders.get(review.index, [])
        return pd.DataFrame(rows, columns=["sku", "origin", "destination", "quantity"])


def test_lost_sales_are_lost_not_backordered() -> None:
    result = replay(
        sales_frame([3, 4, 0, 2]),
        tiny_network(),
        stock(f1=5),
        Scripted(),
        start=START,
        days=4,
        review_days=7,
    )
    daily = result.daily
    assert daily["served"].tolist() == [3, 2, 0, 0]
    assert daily["lost"].tolist() == [0, 2, 0, 2]
    assert daily["on_hand"].tolist() == [2, 0, 0, 0]
    kpis = result.kpis
    assert kpis["fill_rate"] == pytest.approx(5 / 9)
    assert kpis["stockout_rate"] == pytest.approx(2 / 4)  # days 1 and 3 of four
    assert kpis["avg_inventory"] == pytest.approx(0.5)  # (2 + 0 + 0 + 0) / 4
    assert kpis["turnover"] == pytest.approx(5 / 0.5 * 365 / 4)
    assert kpis["days_of_supply"] == pytest.approx(0.5 / (5 / 4))
    assert kpis["lost_sale_cost"] == pytest.approx(4 * 4.0)
    assert kpis["holding_cost"] == pytest.approx(2 * 10.0 * 0.01)
    assert kpis["transport_cost"] == 0


def test_shipments_arrive_after_their_lead_time_and_count_while_in_transit() -> None:
    policy = Scripted({0: [("A", "CW", "F1", 10.0), ("A", SUPPLIER, "CW", 3.0)]})
    result = replay(
        sales_frame([1, 4, 2, 1]),
        tiny_network(),
        stock(cw=10),
        policy,
        start=START,
        days=4,
        review_days=7,
    )
    daily = result.daily
    # Day 0: the 10 units are on the road, the day's demand is lost; day 1 they arrive.
    assert daily["served"].tolist() == [0, 4, 2, 1]
    assert daily["on_hand"].tolist() == [0, 6, 4, 3]
    cw = result.inventory[result.inventory["node"] == "CW"]["on_hand"].tolist()
    assert cw == [0, 0, 3, 3]  # the supplier's 3 units land on day 2
    # Owned inventory: day 0 the 10 in transit, then F1 plus CW; supplier goods count on arrival.
    assert result.kpis["avg_inventory"] == pytest.approx((10 + 6 + 7 + 6) / 4)
    assert result.kpis["transport_cost"] == pytest.approx(10 * 0.5 + 3 * 1.0)
    assert result.kpis["stockout_rate"] == pytest.approx(1 / 4)
    shipments = result.shipments.sort_values("origin")
    assert shipments["arrival_date"].tolist() == [
        START + pd.Timedelta(days=1),
        START + pd.Timedelta(days=2),
    ]


def test_reviews_come_every_review_period_with_what_is_known_that_morning() -> None:
    policy = Scripted({0: [("A", "CW", "F1", 2.0)]})
    calls: list[tuple[pd.Timestamp, int]] = []

    def forecast_fn(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
        calls.append((history["date"].max(), horizon))
        return pd.DataFrame({"sku": ["A"], "location": ["F1"], "forecast": [1.0]})

    replay(
        sales_frame([3, 3, 3, 3, 3], history=[1, 1]),
        tiny_network(),
        stock(cw=5),
        policy,
        start=START,
        days=5,
        review_days=2,
        forecast_fn=forecast_fn,
        forecast_horizon=9,
    )
    assert [review.today for review in policy.seen] == [
        START,
        START + pd.Timedelta(days=2),
        START + pd.Timedelta(days=4),
    ]
    assert calls == [(review.today - pd.Timedelta(days=1), 9) for review in policy.seen]
    second = policy.seen[1]
    assert second.history["date"].max() == START + pd.Timedelta(days=1)
    assert second.forecast is not None
    assert second.backtest is None
    assert second.on_hand.set_index("node")["on_hand"].to_dict() == {"CW": 3.0, "F1": 0.0}
    # The 2 units shipped on day 0 arrived on day 1 and were sold that day, nothing in transit.
    assert second.in_transit.empty


def test_a_forecast_with_its_backtest_reaches_the_policy() -> None:
    policy = Scripted()
    backtest = pd.DataFrame(
        {
            "sku": ["A"],
            "location": ["F1"],
            "origin_date": [START - pd.Timedelta(days=3)],
            "date": [START - pd.Timedelta(days=2)],
            "units": [2.0],
            "forecast": [1.0],
        }
    )

    def forecast_fn(history: pd.DataFrame, horizon: int) -> ReplayForecast:
        frame = pd.DataFrame({"sku": ["A"], "location": ["F1"], "forecast": [1.0]})
        return ReplayForecast(frame=frame, backtest=backtest)

    replay(
        sales_frame([1, 1]),
        tiny_network(),
        stock(),
        policy,
        start=START,
        days=2,
        forecast_fn=forecast_fn,
    )
    seen = policy.seen[0]
    assert seen.forecast is not None and seen.forecast["forecast"].tolist() == [1.0]
    assert seen.backtest is backtest


def test_supply_floor_counts_the_demand_days_no_supply_can_serve() -> None:
    # Demand 3, 0, 5, 1, 2, 4 over six days; 2 units in stock; cap 3 per 2-day review. The
    # shortest supply lead is 2 + 1 = 3 days: day 0's order can serve from day 3, day 2's from
    # day 5, day 4's not within the replay. Until day 3 only the 2 units in stock exist: the 3 of
    # day 0 and the 5 of day 2 are lost; 1 + 2 + 4 then fit in 2 + 3 + 3 = 8.
    floor = supply_floor(
        sales_frame([3, 0, 5, 1, 2, 4]),
        tiny_network(supply_cap=3.0),
        stock(cw=1, f1=1),
        start=START,
        days=6,
        review_days=2,
    )
    assert floor.to_dict("records") == [
        {"sku": "A", "demand_days": 5, "supply_units": 8.0, "unavoidable_days": 2}
    ]
    # Plenty of supply, too late: nothing in stock for the demand of days 0 and 1.
    late = supply_floor(
        sales_frame([4, 4, 0, 0, 0, 0]),
        tiny_network(supply_cap=10.0),
        stock(),
        start=START,
        days=6,
        review_days=2,
    )
    assert late[["supply_units", "unavoidable_days"]].values.tolist() == [[20.0, 2]]


@pytest.mark.parametrize(("observe", "expected"), [("demand", [3, 4]), ("sales", [3, 2])])
def test_history_shows_demand_or_censored_sales(observe: str, expected: list[float]) -> None:
    policy = Scripted()
    replay(
        sales_frame([3, 4, 0], history=[1]),
        tiny_network(),
        stock(f1=5),
        policy,
        start=START,
        days=3,
        review_days=2,
        observe=observe,  # type: ignore[arg-type]
    )
    history = policy.seen[1].history
    assert history["units"].tolist() == [1, *expected]


def test_a_policy_cannot_ship_stock_it_does_not_hold() -> None:
    policy = Scripted({0: [("A", "CW", "F1", 6.0)]})
    with pytest.raises(SimulationError, match=r"ships 6 units of SKU 'A' out of 'CW'.*5 on hand"):
        replay(sales_frame([1]), tiny_network(), stock(cw=5), policy, start=START, days=1)


def test_supplier_deliveries_are_capped_per_review() -> None:
    policy = Scripted({0: [("A", SUPPLIER, "CW", 8.0)]})
    with pytest.raises(SimulationError, match=r"8 units of SKU 'A' from the supplier.*cap is 7"):
        replay(sales_frame([1]), tiny_network(supply_cap=7), stock(), policy, start=START, days=1)


def test_orders_along_missing_lanes_name_the_lane() -> None:
    policy = Scripted({0: [("A", "F1", "CW", 1.0)]})
    with pytest.raises(SimulationError, match=r"no lane 'F1' -> 'CW'"):
        replay(sales_frame([1]), tiny_network(), stock(f1=5), policy, start=START, days=1)


def test_bad_inputs_name_the_item() -> None:
    with pytest.raises(SimulationError, match=r"location 'F9' is not a forward node"):
        replay(
            sales_frame([1]).assign(location="F9"),
            tiny_network(),
            stock(),
            Scripted(),
            start=START,
            days=1,
        )
    with pytest.raises(SimulationError, match=r"needs demand up to"):
        replay(sales_frame([1]), tiny_network(), stock(), Scripted(), start=START, days=3)
    with pytest.raises(SimulationError, match=r"sku='A' node='CW' on_hand=-1"):
        replay(sales_frame([1]), tiny_network(), stock(cw=-1), Scripted(), start=START, days=1)
    with pytest.raises(SimulationError, match=r"names unknown node 'RW'"):
        ReplayNetwork(
            nodes=tiny_network().nodes,
            lanes=pd.DataFrame(
                {
                    "origin": [SUPPLIER],
                    "destination": ["RW"],
                    "lead_time_days": [1],
                    "cost_per_unit": [0.0],
                }
            ),
            skus=tiny_network().skus,
        )


def _one_day_with_nothing_left(sold: float) -> dict[str, float]:
    """KPIs of one SKU at one location for one day: `sold` units asked for and sold, no stock."""
    return compute_kpis(
        demand=np.full((1, 1, 1), sold),
        served=np.full((1, 1, 1), sold),
        inventory_units=np.zeros(1),
        inventory_value=np.zeros(1),
        holding_cost=0.0,
        transport_cost=0.0,
        lost_sale_cost=0.0,
    )


def test_compute_kpis_by_hand() -> None:
    demand = np.array([[[2.0, 0.0]], [[1.0, 3.0]]])  # 2 days x 1 location x 2 SKUs
    served = np.array([[[2.0, 0.0]], [[0.0, 3.0]]])
    kpis = compute_kpis(
        demand=demand,
        served=served,
        inventory_units=np.array([4.0, 2.0]),
        inventory_value=np.array([40.0, 20.0]),
        holding_cost=1.0,
        transport_cost=2.0,
        lost_sale_cost=3.0,
    )
    assert kpis["fill_rate"] == pytest.approx(5 / 6)
    assert kpis["stockout_rate"] == pytest.approx(1 / 4)
    assert kpis["avg_inventory"] == pytest.approx(3.0)
    assert kpis["avg_inventory_value"] == pytest.approx(30.0)
    assert kpis["turnover"] == pytest.approx(5 / 3 * 365 / 2)
    assert kpis["days_of_supply"] == pytest.approx(3 / 2.5)
    assert kpis["total_cost"] == pytest.approx(6.0)
    empty = _one_day_with_nothing_left(sold=0.0)
    assert empty["fill_rate"] == 1.0
    assert empty["turnover"] == 0.0  # nothing sold turns nothing over, not +inf
    sold_out = _one_day_with_nothing_left(sold=1.0)  # everything sold, nothing left at night
    assert math.isinf(sold_out["turnover"])


def test_cross_docked_orders_take_both_lanes() -> None:
    network = ReplayNetwork(
        nodes=pd.DataFrame(
            {
                "node": ["CW", "RW", "F1"],
                "kind": ["central", "regional", "forward"],
                "region": ["all", "north", "north"],
            }
        ),
        lanes=pd.DataFrame(
            {
                "origin": [SUPPLIER, "CW", "RW"],
                "destination": ["CW", "RW", "F1"],
                "lead_time_days": [1, 2, 1],
                "cost_per_unit": [0.0, 0.5, 0.25],
            }
        ),
        skus=tiny_network().skus,
    )
    orders = pd.DataFrame(
        {"sku": ["A"], "origin": ["CW"], "destination": ["F1"], "quantity": [4.0], "via": ["RW"]}
    )

    class CrossDock:
        name = "cross-dock"

        def decide(self, review: Review) -> pd.DataFrame:
            return orders

    start_stock = pd.DataFrame({"sku": ["A"], "node": ["CW"], "on_hand": [4.0]})
    result = replay(
        sales_frame([1, 1, 1, 1]), network, start_stock, CrossDock(), start=START, days=4
    )
    # 2 + 1 days through RW: the goods reach F1 on day 3 and never stop at RW.
    assert result.daily["served"].tolist() == [0, 0, 0, 1]
    assert result.inventory[result.inventory["node"] == "RW"]["on_hand"].sum() == 0
    assert result.kpis["transport_cost"] == pytest.approx(4 * 0.75)
    assert result.shipments["arrival_date"].tolist() == [START + pd.Timedelta(days=3)]
