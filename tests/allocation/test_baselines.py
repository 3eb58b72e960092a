"""The planner's policies: min-max levels worked by hand, fitted on training data only, push and
min-max decisions on hand-made reviews, and replays of both on a seeded network."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from allocation.baselines import MinMaxPolicy, PushPolicy, fit_min_max, split_proportionally
from allocation.replay_network import ReplayInstance, network_around
from allocation.simulate import SUPPLIER, ReplayNetwork, Review, SimulationError, replay

TRAIN_END = pd.Timestamp("2024-01-20")


def chain_network() -> ReplayNetwork:
    """supplier -2d-> CW -1d-> RW -1d-> F1, RW -2d-> F2; one SKU."""
    return ReplayNetwork(
        nodes=pd.DataFrame(
            {
                "node": ["CW", "RW", "F1", "F2"],
                "kind": ["central", "regional", "forward", "forward"],
                "region": ["all", "north", "north", "north"],
            }
        ),
        lanes=pd.DataFrame(
            {
                "origin": [SUPPLIER, "CW", "RW", "RW", "F1"],
                "destination": ["CW", "RW", "F1", "F2", "F2"],
                "lead_time_days": [2, 1, 1, 2, 1],
                "cost_per_unit": [0.0, 0.2, 0.1, 0.1, 0.3],
            }
        ),
        skus=pd.DataFrame(
            {"sku": ["A"], "unit_cost": [1.0], "lost_sale_cost": [1.0], "supply_cap": [100.0]}
        ),
    )


@pytest.fixture
def network() -> ReplayNetwork:
    return chain_network()


def training_sales(days: int = 20) -> pd.DataFrame:
    """F1 sells 0, 4, 0, 4, ... and F2 sells 1 a day, for `days` days up to TRAIN_END."""
    dates = pd.date_range(end=TRAIN_END, periods=days, freq="D")
    f1 = pd.DataFrame({"location": "F1", "date": dates, "units": [0.0, 4.0] * (days // 2)})
    f2 = pd.DataFrame({"location": "F2", "date": dates, "units": 1.0})
    return pd.concat([f1, f2], ignore_index=True).assign(sku="A")


def review(
    network: ReplayNetwork,
    on_hand: dict[str, float],
    history: pd.DataFrame,
    in_transit: list[tuple[str, str, float]] | None = None,
    review_days: int = 2,
) -> Review:
    today = TRAIN_END + pd.Timedelta(days=1)
    moving = pd.DataFrame(
        [
            ("A", origin, destination, quantity, today, today + pd.Timedelta(days=1))
            for origin, destination, quantity in (in_transit or [])
        ],
        columns=["sku", "origin", "destination", "quantity", "ship_date", "arrival_date"],
    )
    return Review(
        today=today,
        index=0,
        review_days=review_days,
        history=history,
        on_hand=pd.DataFrame(
            {"sku": "A", "node": list(on_hand), "on_hand": list(on_hand.values())}
        ),
        in_transit=moving,
        network=network,
    )


def as_set(orders: pd.DataFrame) -> set[tuple[str, str, float]]:
    return {
        (o, d, q) for o, d, q in orders[["origin", "destination", "quantity"]].itertuples(False)
    }


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (10, [1, 1, 2], [3, 2, 5]),  # 2.5, 2.5, 5: the first half unit goes to the first
        (7, [0, 0], [4, 3]),  # nothing sold: equal split
        (0, [1, 2], [0, 0]),
        (5.7, [1, 0], [5, 0]),  # whole units only
    ],
)
def test_split_proportionally(total: float, weights: list[float], expected: list[float]) -> None:
    assert split_proportionally(total, np.array(weights, dtype=float)).tolist() == expected


def test_min_max_levels_worked_by_hand(network: ReplayNetwork) -> None:
    levels = fit_min_max(
        training_sales(),
        network,
        train_end=TRAIN_END,
        service_target=0.9,
        review_days=2,
        fit_days=20,
    ).table.set_index("node")
    # F1: its first day (a 0) is before its first sale: 19 days 4, 0, 4, ..., 4, mean 40/19.
    # L=1, R=2, 3-day sums 8, 4, 8, ..., 8 (9 of 8, 8 of 4) -> q0.9 = 8, mean 120/19 -> safety
    # 32/19; min = ceil(40/19 + 32/19) = 4, max = ceil(72/19 + 2 x 40/19) = ceil(8) = 8.
    assert levels.loc["F1", "mean_daily"] == pytest.approx(40 / 19)
    assert levels.loc["F1", "safety_stock"] == pytest.approx(32 / 19)
    assert levels.loc["F1", ["min", "max"]].tolist() == [4, 8]
    # F2: L=2, steady 1 a day -> no safety stock; min = 2, max = 4.
    assert levels.loc["F2", ["safety_stock", "min", "max"]].tolist() == [0, 2, 4]
    # RW feeds both (1, 5, 1, 5, ...): L=1, 3-day sums 7 and 11 -> safety 11 - 9 = 2; min 5, max 11.
    assert levels.loc["RW", ["safety_stock", "min", "max"]].tolist() == [2, 5, 11]
    # CW: L=2, 4-day sums always 12 -> no safety stock; min 6, max 12.
    assert levels.loc["CW", ["safety_stock", "min", "max"]].tolist() == [0, 6, 12]


@pytest.mark.parametrize("sold_days", [10, 2])
def test_min_max_fits_a_new_sku_from_its_first_sale(network: ReplayNetwork, sold_days: int) -> None:
    # F1 launches `sold_days` days before TRAIN_END at 4 a day (zero rows before, as a file
    # zero-filled from its first date has); F2 sells 1 a day all along. Averaged over all 20
    # days with the zeros, F1's mean was 2 (or 0.4): its levels a fraction of its rate.
    sales = training_sales()
    f1 = sales["location"] == "F1"
    sales.loc[f1, "units"] = np.where(
        sales.loc[f1, "date"] > TRAIN_END - pd.Timedelta(days=sold_days), 4.0, 0.0
    )
    levels = fit_min_max(
        sales, network, train_end=TRAIN_END, service_target=0.9, review_days=2, fit_days=20
    ).table.set_index("node")
    # L=1, R=2: every 3-day sum since the launch is 12 (with 2 days sold: 4, 4 repeated) ->
    # no safety stock; min = 4 x 1 = 4, max = 4 + 4 x 2 = 12.
    assert levels.loc["F1", ["mean_daily", "safety_stock", "min", "max"]].tolist() == [4, 0, 4, 12]
    # F2 sold from the window's first day: as before (L=2, 1 a day -> min 2, max 4)
    assert levels.loc["F2", ["mean_daily", "safety_stock", "min", "max"]].tolist() == [1, 0, 2, 4]
    # RW has sold since F2's first sale: all 20 days, F1's zeros before its launch included
    assert levels.loc["RW", "mean_daily"] == pytest.approx((20 + 4 * sold_days) / 20)


def test_min_max_is_fitted_on_the_training_period_only(network: ReplayNetwork) -> None:
    sales = training_sales()

    def levels(frame: pd.DataFrame) -> pd.DataFrame:
        return fit_min_max(
            frame, network, train_end=TRAIN_END, service_target=0.9, review_days=2, fit_days=20
        ).table

    spike_after = pd.DataFrame(
        {"sku": "A", "location": "F1", "date": [TRAIN_END + pd.Timedelta(days=1)], "units": [500.0]}
    )
    pd.testing.assert_frame_equal(levels(sales), levels(pd.concat([sales, spike_after])))
    spiked = sales.copy()
    spiked.loc[(spiked["location"] == "F1") & (spiked["date"] == TRAIN_END), "units"] = 500.0
    assert levels(spiked).set_index("node").loc["F1", "max"] > 8


def test_min_max_review_cascades_from_the_stores_to_the_supplier(network: ReplayNetwork) -> None:
    policy = MinMaxPolicy(service_target=0.9, fit_days=20).fit(
        training_sales(), network, train_end=TRAIN_END, review_days=2
    )
    orders = policy.decide(
        review(
            network,
            {"CW": 10, "RW": 4, "F1": 3, "F2": 3},
            training_sales(),
            in_transit=[(SUPPLIER, "CW", 3.0)],
        )
    )
    # F1 at 3 <= min 4 asks 8 - 3 = 5, RW holds 4 and ships them; F2 at 3 > min 2 asks nothing.
    # RW, now at 0 <= 5, asks 11; CW holds 10 and ships them; CW at 0 + 3 in transit <= 6 asks the
    # supplier for 12 - 3 = 9.
    assert as_set(orders) == {("RW", "F1", 4.0), ("CW", "RW", 10.0), (SUPPLIER, "CW", 9.0)}


def test_min_max_refuses_to_run_unfitted_or_on_another_review_period(
    network: ReplayNetwork,
) -> None:
    snapshot = review(network, {"CW": 0, "RW": 0, "F1": 0, "F2": 0}, training_sales())
    with pytest.raises(SimulationError, match="call fit"):
        MinMaxPolicy().decide(snapshot)
    fitted = MinMaxPolicy(fit_days=20).fit(
        training_sales(), network, train_end=TRAIN_END, review_days=7
    )
    with pytest.raises(SimulationError, match="fitted for 7-day reviews"):
        fitted.decide(snapshot)


def test_push_reorders_last_sales_and_pushes_everything_down(network: ReplayNetwork) -> None:
    # Last two days: F1 sold 0 + 4, F2 sold 1 + 1 -> reorder 6, RW splits 8 as 4 : 2.
    orders = PushPolicy().decide(
        review(network, {"CW": 10, "RW": 8, "F1": 0, "F2": 0}, training_sales())
    )
    assert as_set(orders) == {
        (SUPPLIER, "CW", 6.0),
        ("CW", "RW", 10.0),
        ("RW", "F1", 5.0),  # 8 x 4/6 = 5.33
        ("RW", "F2", 3.0),  # 8 x 2/6 = 2.67, the larger remainder
    }


def test_both_policies_replay_on_a_seeded_network() -> None:
    rng = np.random.default_rng(3)
    dates = pd.date_range("2024-01-01", periods=120, freq="D")
    rows = [
        (sku, loc, region, day, float(rng.poisson(rate)))
        for sku, rate in (("A", 5.0), ("B", 0.4))
        for loc, region in (("S1", "north"), ("S2", "north"), ("S3", "south"))
        for day in dates
    ]
    sales = pd.DataFrame(rows, columns=["sku", "location", "region", "date", "units"])
    start = dates[-28]
    train_end = start - pd.Timedelta(days=1)
    instance = network_around(sales, train_end=train_end, seed=1)
    again = network_around(sales, train_end=train_end, seed=1)
    pd.testing.assert_frame_equal(instance.start_stock, again.start_stock)
    assert instance.network.forward_nodes == ["S1", "S2", "S3"]
    assert set(instance.network.nodes["node"]) == {"CW", "RW-north", "RW-south", "S1", "S2", "S3"}

    policies = [
        PushPolicy(),
        MinMaxPolicy(service_target=0.95, fit_days=91).fit(
            sales, instance.network, train_end=train_end, review_days=7
        ),
    ]
    results = [
        replay(sales, instance.network, instance.start_stock, policy, start=start, days=28)
        for policy in policies
    ]
    demand = {result.kpis["demand_units"] for result in results}
    assert len(demand) == 1  # the same real demand for both
    for result in results:
        assert 0.5 < result.kpis["fill_rate"] <= 1.0
        assert result.reviews == 4
        served = result.daily["served"]
        assert (served <= result.daily["demand"]).all()
        assert (result.inventory["on_hand"] >= 0).all()


def test_a_seeded_network_keeps_its_draws_when_the_history_grows() -> None:
    dates = pd.date_range("2024-01-01", periods=60, freq="D")
    cells = [("A", "S1", "north"), ("A", "S2", "north"), ("A", "S3", "south")]
    grown = [*cells, ("B", "S1", "north"), ("A", "S4", "south"), ("A", "S5", "east")]

    def instance(of: list[tuple[str, str, str]], seed: int = 0) -> ReplayInstance:
        sales = pd.DataFrame(
            [(sku, loc, region, day, 4.0) for sku, loc, region in of for day in dates],
            columns=["sku", "location", "region", "date", "units"],
        )
        return network_around(sales, train_end=dates[-1], seed=seed)

    small, large = instance(cells), instance(grown)
    kept = large.start_stock.merge(small.start_stock, on=["sku", "node"], suffixes=("", "_small"))
    assert len(kept) == len(small.start_stock)
    # a SKU, a location and a region more: every start stock and lane of the others unchanged
    forward = kept[kept["node"].str.startswith("S")]
    assert (forward["on_hand"] == forward["on_hand_small"]).all()
    lanes = large.network.lanes.merge(small.network.lanes, on=["origin", "destination"])
    assert len(lanes) == len(small.network.lanes)
    assert (lanes["lead_time_days_x"] == lanes["lead_time_days_y"]).all()
    assert (lanes["cost_per_unit_x"] == lanes["cost_per_unit_y"]).all()
    # the stock is out of balance, and the seed draws it
    assert forward["on_hand"].nunique() > 1
    assert not small.start_stock.equals(instance(cells, seed=1).start_stock)


@pytest.mark.m5
def test_baselines_replay_the_real_m5_slice(m5_tiny_path: Path) -> None:
    raw = pd.read_parquet(m5_tiny_path)
    sales = pd.DataFrame(
        {
            "sku": raw["item_id"],
            "location": raw["store_id"],
            "region": raw["state_id"],
            "date": pd.to_datetime(raw["date"]),
            "units": raw["sales"].astype(float),
            "price": raw["sell_price"],
        }
    )
    start = sales["date"].max() - pd.Timedelta(days=13)
    train_end = start - pd.Timedelta(days=1)
    instance = network_around(sales, train_end=train_end)
    assert instance.network.forward_nodes == sorted(raw["store_id"].unique())
    min_max = MinMaxPolicy(service_target=0.95).fit(
        sales, instance.network, train_end=train_end, review_days=7
    )
    fitted = min_max.levels_.table
    # Refit on the training rows alone: the same levels, so nothing after train_end was read.
    again = MinMaxPolicy(service_target=0.95).fit(
        sales[sales["date"] <= train_end], instance.network, train_end=train_end, review_days=7
    )
    pd.testing.assert_frame_equal(fitted, again.levels_.table)
    for policy in (PushPolicy(), min_max):
        result = replay(sales, instance.network, instance.start_stock, policy, start=start, days=14)
        assert result.kpis["demand_units"] == sales.loc[sales["date"] >= start, "units"].sum()
        assert 0.5 < result.kpis["fill_rate"] < 1.0
        assert result.kpis["avg_inventory"] > 0


def test_a_price_of_zero_is_no_price_in_the_replay_network() -> None:
    # Priced at 0, a SKU cost nothing to lose and the plan stopped serving it (fill 0.63 against
    # 0.99 for the baselines): it takes the other SKUs' median price, as one without prices.
    dates = pd.date_range("2024-01-01", periods=40, freq="D")
    sales = pd.DataFrame(
        [
            (sku, "S1", "north", day, 3.0, price)
            for sku, price in (("A", 0.0), ("B", 4.0), ("C", 6.0))
            for day in dates
        ],
        columns=["sku", "location", "region", "date", "units", "price"],
    )
    skus = network_around(sales, train_end=dates[-8]).network.skus.set_index("sku")
    assert skus.loc["A", "lost_sale_cost"] == pytest.approx(
        skus.loc[["B", "C"], "lost_sale_cost"].mean()
    )
    assert (skus["lost_sale_cost"] > 0).all()


def test_supply_cap_and_start_stock_count_a_new_sku_from_its_first_sale() -> None:
    # A sells 4 a day at each store all along; B launches 25 days before the replay at 6 a day.
    # B's cap was its sales over 91 days, 0.41 x its rate (52 for 189), its stock 25/28 of it.
    dates = pd.date_range("2024-01-01", periods=120, freq="D")
    stores = (("S1", "north"), ("S2", "north"), ("S3", "south"))
    rows = [
        (sku, loc, region, day, rate)
        for sku, rate in (("A", 4.0),)
        for loc, region in stores
        for day in dates
    ]
    rows += [("B", loc, region, day, 6.0) for loc, region in stores for day in dates[-25:]]
    # rows of zeros before the launch (a file zero-filled from its first date) change nothing
    rows += [("B", loc, region, day, 0.0) for loc, region in stores for day in dates[:-25]]
    sales = pd.DataFrame(rows, columns=["sku", "location", "region", "date", "units"])
    instance = network_around(sales, train_end=dates[-1], review_days=7, stock_spread=0.0)
    caps = instance.network.skus.set_index("sku")["supply_cap"]
    assert caps.to_dict() == {"A": math.ceil(1.5 * 12 * 7), "B": math.ceil(1.5 * 18 * 7)}
    network, stock = instance.network, instance.start_stock.set_index(["sku", "node"])["on_hand"]
    cover = network.lead_time(network.parent("S1"), "S1") + 7
    assert stock[("B", "S1")] == 6 * cover
    assert stock[("B", "CW")] == 18 * (network.lead_time("supplier", "CW") + 7)

    # A history of 26 days: every SKU has sold 26 days, and its cap is 1.5 x its rate (was 0.43 x).
    short = sales[sales["date"] > dates[-1] - pd.Timedelta(days=26)]
    caps = network_around(short, train_end=dates[-1]).network.skus.set_index("sku")["supply_cap"]
    assert caps.to_dict() == {"A": math.ceil(1.5 * 12 * 7), "B": math.ceil(1.5 * 18 * 7)}
