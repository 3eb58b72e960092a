"""Forecast measures checked against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from forecasting.columns import CUTOFF, DS, PRICE, UNIQUE_ID, Y
from forecasting.metrics import (
    SERIES_LEVEL,
    WEEK_LEVEL,
    aggregate_backtest,
    bias,
    coverage,
    evaluate,
    interval_coverage,
    m5_scale,
    pinball,
    quantile_name,
    rmsse_per_window,
    sales_weights,
    wape,
)

Y_TRUE = np.array([1.0, 2.0, 3.0])
F = np.array([2.0, 2.0, 1.0])


def test_wape_bias_pinball_coverage_by_hand() -> None:
    assert wape(Y_TRUE, F) == pytest.approx(3 / 6)  # |1-2| + |2-2| + |3-1| over 6
    assert bias(Y_TRUE, F) == pytest.approx(-1 / 6)  # (1 + 0 - 2) / 6
    # y - q = -1, 0, 2: losses 0.1 * 1, 0, 0.9 * 2 -> 1.9 over sum y 6
    assert pinball(Y_TRUE, F, 0.9) == pytest.approx(1.9 / 6)
    assert pinball(Y_TRUE, F, 0.5) == pytest.approx(1.5 / 6)
    assert coverage(Y_TRUE, F) == pytest.approx(2 / 3)
    assert interval_coverage(Y_TRUE, np.array([0.0, 2.5, 2.0]), np.array([1.0, 3.0, 3.0])) == (
        pytest.approx(2 / 3)
    )
    assert math.isnan(wape(np.zeros(3), F))


def test_m5_scale_starts_at_the_first_sale() -> None:
    # From the first sale on: 2, 4, 4, 1 -> differences 2, 0, -3 -> mean square 13 / 3
    assert m5_scale(np.array([0.0, 0.0, 2.0, 4.0, 4.0, 1.0])) == pytest.approx(13 / 3)
    assert math.isnan(m5_scale(np.zeros(5)))
    assert math.isnan(m5_scale(np.array([0.0, 0.0, 3.0])))


def _history() -> pd.DataFrame:
    days = pd.date_range("2024-01-01", periods=6)
    return pd.DataFrame(
        {
            UNIQUE_ID: ["a|S1"] * 6 + ["b|S1"] * 6,
            DS: list(days) * 2,
            Y: [*[0, 0, 2, 4, 4, 1], *[1, 1, 1, 1, 3, 1]],  # series a, then b
            PRICE: [2.0] * 6 + [10.0] * 6,
        }
    ).astype({Y: "float64"})


def _backtest() -> pd.DataFrame:
    cutoff = pd.Timestamp("2024-01-06")
    days = pd.date_range("2024-01-07", periods=2)
    return pd.DataFrame(
        {
            UNIQUE_ID: ["a|S1", "a|S1", "b|S1", "b|S1"],
            DS: list(days) * 2,
            CUTOFF: cutoff,
            Y: [2.0, 3.0, 1.0, 1.0],
            "m": [1.0, 1.0, 1.0, 3.0],
        }
    )


def test_rmsse_per_window_by_hand() -> None:
    rmsse = rmsse_per_window(_backtest(), _history(), ["m"]).set_index(UNIQUE_ID)["m"]
    # a: mse (1 + 4) / 2 = 2.5 over scale 13/3; b: mse (0 + 4) / 2 = 2 over scale (0+0+0+4+4)/5
    assert rmsse["a|S1"] == pytest.approx(math.sqrt(2.5 / (13 / 3)))
    assert rmsse["b|S1"] == pytest.approx(math.sqrt(2 / (8 / 5)))


def test_sales_weights_are_sales_value_of_the_last_horizon() -> None:
    weights = sales_weights(_history(), [pd.Timestamp("2024-01-06")], 2).set_index(UNIQUE_ID)
    assert weights.loc["a|S1", "weight"] == pytest.approx((4 + 1) * 2.0)
    assert weights.loc["b|S1", "weight"] == pytest.approx((3 + 1) * 10.0)


def test_evaluate_weights_rmsse_by_sales_value() -> None:
    metrics = evaluate(_backtest(), _history(), ["m"], horizon=2).set_index("level")
    a, b = math.sqrt(2.5 / (13 / 3)), math.sqrt(2 / (8 / 5))
    row = metrics.loc[SERIES_LEVEL]
    assert row["rmsse"] == pytest.approx((a + b) / 2)
    assert row["rmsse_weighted"] == pytest.approx((10 * a + 40 * b) / 50)
    assert row["wape"] == pytest.approx((1 + 2 + 0 + 2) / 7)


def test_weeks_are_whole_blocks_from_the_cutoff_summed_over_the_region() -> None:
    cutoff = pd.Timestamp("2024-01-31")
    days = pd.date_range("2024-02-01", periods=10)  # one whole week and 3 days
    frame = pd.DataFrame(
        {
            UNIQUE_ID: ["x|S1"] * 10 + ["x|S2"] * 10,
            DS: list(days) * 2,
            CUTOFF: cutoff,
            Y: [1.0] * 10 + [2.0] * 10,
            "m": [1.5] * 20,
        }
    )
    weekly = aggregate_backtest(frame, {"x|S1": "R", "x|S2": "R"}, ["m"], 7)
    assert weekly[UNIQUE_ID].tolist() == ["x|R"]
    assert weekly[Y].tolist() == [21.0] and weekly["m"].tolist() == [21.0]


def test_evaluate_reports_quantiles_and_the_week_level() -> None:
    backtest = _backtest()
    backtest[quantile_name("m", 0.1)] = [0.0, 0.0, 0.0, 2.0]
    backtest[quantile_name("m", 0.9)] = [3.0, 2.0, 2.0, 4.0]
    metrics = evaluate(
        backtest, _history(), ["m"], 2, (0.1, 0.9), {"a|S1": "R", "b|S1": "R"}, week_periods=2
    ).set_index("level")
    row = metrics.loc[SERIES_LEVEL]
    assert row["coverage_q0.9"] == pytest.approx(3 / 4)
    assert row["coverage_q0.1"] == pytest.approx(1 / 4)  # only b's second day: 1 <= 2
    assert row["interval_coverage_80"] == pytest.approx(2 / 4)
    week = metrics.loc[WEEK_LEVEL]
    # Two SKUs, one block of 2 days each: a y 5 vs 2, b y 2 vs 4
    assert week["wape"] == pytest.approx((3 + 2) / 7)
