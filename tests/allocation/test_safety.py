"""Safety stock and cover-period demand from forecast quantiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from allocation.safety import cover_demand, daily_sigma, safety_stock, z_value
from tests.allocation.conftest import TODAY, demand_frame


def test_sigma_from_the_upper_quantile() -> None:
    frame = demand_frame({("S", "L"): 10.0}, days=3, spread=z_value(0.9) * 2.0)
    assert daily_sigma(frame) == pytest.approx([2.0, 2.0, 2.0])


def test_cover_demand_sums_the_window_and_adds_variances() -> None:
    frame = demand_frame({("S", "L"): 10.0}, days=28, spread=z_value(0.9) * 2.0)
    result = cover_demand(frame, TODAY, pd.Series({"L": 9})).iloc[0]
    assert result["mean"] == pytest.approx(90.0)
    assert result["sigma"] == pytest.approx(2.0 * np.sqrt(9))  # independent days
    assert safety_stock(result["sigma"], 0.95) == pytest.approx(z_value(0.95) * 6.0)


def test_short_forecast_is_scaled_to_the_cover_period() -> None:
    frame = demand_frame({("S", "L"): 4.0}, days=5)
    result = cover_demand(frame, TODAY, pd.Series({"L": 10})).iloc[0]
    assert result["mean"] == pytest.approx(40.0) and result["forecast_days"] == 5


def test_higher_service_target_needs_more_safety_stock() -> None:
    low, high = safety_stock(np.array([3.0, 3.0]), np.array([0.90, 0.98]))
    assert 0 < low < high
