"""Forecast-driven order-up-to levels worked by hand, and the policy's review on them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from allocation.baselines import Topology
from allocation.forecast_policy import (
    ForecastOrderUpToPolicy,
    backtest_cover_quantile,
    cover_quantile,
    forecast_targets,
)
from allocation.simulate import SUPPLIER, SimulationError
from tests.allocation.test_baselines import TRAIN_END, as_set, chain_network, review, training_sales

TODAY = TRAIN_END + pd.Timedelta(days=1)


def forecast(days: int = 6) -> pd.DataFrame:
    """F1: 2 a day with q0.9 = 3; F2: 1 a day with q0.9 = 1."""
    dates = pd.date_range(TODAY, periods=days, freq="D")
    f1 = pd.DataFrame({"location": "F1", "date": dates, "forecast": 2.0, "q0.9": 3.0})
    f2 = pd.DataFrame({"location": "F2", "date": dates, "forecast": 1.0, "q0.9": 1.0})
    return pd.concat([f1, f2], ignore_index=True).assign(sku="A")


def test_targets_worked_by_hand() -> None:
    targets = forecast_targets(
        forecast(), chain_network(), today=TODAY, review_days=2, service_target=0.9
    ).set_index("node")
    # F1 covers 1 + 2 days: mean 6, safety sqrt(3 x 1^2) = 1.73, target 8.
    assert targets.loc["F1", "mean"] == 6
    assert targets.loc["F1", "safety_stock"] == pytest.approx(3**0.5)
    assert targets.loc["F1", "target"] == 8
    # F2 covers 2 + 2 days of a certain 1 a day: target 4.
    assert targets.loc["F2", ["mean", "safety_stock", "target"]].tolist() == [4, 0, 4]
    # RW covers 1 + 2 days of both: mean 9, safety pooled sqrt(3), target 11.
    assert targets.loc["RW", "target"] == 11
    # CW covers 2 + 2 days: mean 12, safety sqrt(4) = 2, target 14.
    assert targets.loc["CW", ["mean", "safety_stock", "target"]].tolist() == pytest.approx(
        [12, 2, 14]
    )


def test_policy_orders_up_to_the_targets_from_the_stores_up() -> None:
    snapshot = review(chain_network(), {"CW": 20, "RW": 10, "F1": 5, "F2": 4}, training_sales())
    snapshot = dataclasses.replace(snapshot, forecast=forecast())
    orders = ForecastOrderUpToPolicy(service_target=0.9).decide(snapshot)
    # F1 5 -> 8: asks 3; F2 at its 4; RW 10 - 3 = 7 -> 11: asks 4; CW 20 - 4 = 16 >= 14.
    assert as_set(orders) == {("RW", "F1", 3.0), ("CW", "RW", 4.0)}
    assert SUPPLIER not in set(orders["origin"])


def test_forecast_problems_are_named() -> None:
    with pytest.raises(SimulationError, match=r"missing column 'forecast'"):
        forecast_targets(
            forecast().drop(columns="forecast"),
            chain_network(),
            today=TODAY,
            review_days=2,
            service_target=0.9,
        )
    with pytest.raises(SimulationError, match=r"covers 3 day\(s\).*needs 4"):
        forecast_targets(
            forecast(days=3), chain_network(), today=TODAY, review_days=2, service_target=0.9
        )
    snapshot = review(chain_network(), {"CW": 0}, training_sales())
    with pytest.raises(SimulationError, match="needs a forecast"):
        ForecastOrderUpToPolicy(service_target=0.9).decide(snapshot)


def test_cover_quantile_worked_by_hand() -> None:
    # Backtest cover errors 2, -2, 0, 4: scale (mean |error|) 2, normalised 1, -1, 0, 2.
    actual = np.array([[12.0], [8.0], [10.0], [14.0]])
    predicted = np.full((4, 1), 10.0)
    # Upper of the two middle ranks at 0.75: multiplier 2, so 10 + 2 x 2 = 14.
    assert cover_quantile(np.array([10.0]), actual, predicted, 0.75).tolist() == [14.0]
    # Four times the backtest level: the error scale doubles (square root), 40 + 2 x 2 x 2.
    assert cover_quantile(np.array([40.0]), actual, predicted, 0.75).tolist() == [48.0]


def backtest() -> pd.DataFrame:
    """One origin, four days: F1 sells 0, 4, 0, 4 against 2 a day, F2 1, 1, 1, 3 against 1."""
    dates = pd.date_range("2024-01-11", periods=4, freq="D")
    f1 = pd.DataFrame({"location": "F1", "date": dates, "units": [0.0, 4, 0, 4], "forecast": 2.0})
    f2 = pd.DataFrame({"location": "F2", "date": dates, "units": [1.0, 1, 1, 3], "forecast": 1.0})
    frame = pd.concat([f1, f2], ignore_index=True)
    return frame.assign(sku="A", origin_date=pd.Timestamp("2024-01-10"))


def test_backtest_cover_quantile_pools_what_each_node_feeds() -> None:
    network = chain_network()
    topology = Topology.of(network)
    mean, quantile = backtest_cover_quantile(
        forecast(),
        backtest(),
        topology,
        ["A"],
        today=TODAY,
        cover_days=np.full(4, 2),
        service_target=0.9,
    )
    at = {node: i for i, node in enumerate(topology.nodes)}
    # Two-day sums: F1 4, 4, 4 against 4 (no error: scale floor 0.5); F2 2, 2, 4 against 2
    # (scale 2/3, normalised 0, 0, 3). The stores pool 0, 0, 0, 0, 0, 3: multiplier 3.
    assert mean[at["F1"], 0] == 4 and quantile[at["F1"], 0] == pytest.approx(4 + 3 * 0.5)
    assert quantile[at["F2"], 0] == pytest.approx(2 + 3 * 2 / 3)
    # RW sums both stores: 6, 6, 8 against 6, scale 2/3, multiplier 3.
    assert mean[at["RW"], 0] == 6 and quantile[at["RW"], 0] == pytest.approx(6 + 3 * 2 / 3)
    with pytest.raises(SimulationError, match=r"backtest: missing column 'units'"):
        backtest_cover_quantile(
            forecast(),
            backtest().drop(columns="units"),
            topology,
            ["A"],
            today=TODAY,
            cover_days=np.full(4, 2),
            service_target=0.9,
        )
