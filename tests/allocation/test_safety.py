"""Safety stock and cover-period demand from forecast quantiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from allocation.safety import (
    _unique_codes,
    cover_demand,
    daily_sigma,
    no_spread_note,
    safety_stock,
    z_value,
)
from tests.allocation.conftest import TODAY, demand_frame


def test_sigma_from_the_upper_quantile() -> None:
    frame = demand_frame({("S", "L"): 10.0}, days=3, spread=z_value(0.9) * 2.0)
    assert daily_sigma(frame) == pytest.approx([2.0, 2.0, 2.0])


def test_the_spread_comes_from_the_quantile_at_the_service_target() -> None:
    """A skewed forecast: mean 10, q0.9 13, q0.95 20. A one-day cover at 0.9 stocks to q0.9
    (safety stock 3); the widest column alone gave 7.79. At 0.95 or above q0.95 is the one."""
    frame = pd.DataFrame(
        {"sku": "S", "location": ["A", "B", "C"], "date": TODAY, "forecast": 10.0}
    ).assign(**{"q0.9": 13.0, "q0.95": 20.0})
    sigma = daily_sigma(frame, np.array([0.9, 0.95, 0.98]))
    assert safety_stock(sigma, np.array([0.9, 0.95, 0.98])) == pytest.approx(
        [3.0, 10.0, 10.0 * z_value(0.98) / z_value(0.95)]
    )
    assert daily_sigma(frame) == pytest.approx([10.0 / z_value(0.95)] * 3)  # no target: widest
    by_location = cover_demand(frame, TODAY, pd.Series(1, index=["A", "B", "C"]), pd.Series(
        {"A": 0.9, "B": 0.95, "C": np.nan}))  # fmt: skip
    assert by_location["sigma"].tolist() == pytest.approx(
        [3.0 / z_value(0.9), 10.0 / z_value(0.95), 10.0 / z_value(0.95)]
    )


def test_a_quantile_below_the_mean_reads_a_wider_one_or_poisson() -> None:
    # Intermittent days: a mean of 0.5 above q0.8 (rare lumps). Read as a spread of 0, a model
    # trained with q0.5 and q0.8 planned no safety stock at a 98 % target.
    frame = pd.DataFrame(
        {"sku": "S", "location": ["A", "B", "C"], "date": TODAY, "forecast": [0.5, 0.5, 0.0]}
    ).assign(**{"q0.5": 0.0, "q0.8": 0.0})
    sigma = daily_sigma(frame, np.array([0.98, 0.98, 0.98]))
    assert sigma == pytest.approx([np.sqrt(0.5), np.sqrt(0.5), 0.0])
    assert (safety_stock(sigma, 0.98)[:2] > 0).all()
    # with a column above the mean, that one gives the spread at a target the lower one meets
    wider = frame.assign(**{"q0.95": 3.0})
    assert daily_sigma(wider, np.array([0.8, 0.8, 0.8]))[0] == pytest.approx(2.5 / z_value(0.95))
    # a quantile equal to the mean is a spread of 0: a deterministic forecast stocks no more,
    # however its rounding fell (10.0 under a mean of 10.004 read as Poisson's 3.16)
    flat = frame.assign(**{"q0.5": 0.5, "q0.8": 0.5})
    assert daily_sigma(flat, np.array([0.98, 0.98, 0.98]))[:2] == pytest.approx([0.0, 0.0])
    rounded = frame.assign(forecast=[10.004, 9.996, 10.0], **{"q0.5": 10.0, "q0.8": 10.0})
    assert daily_sigma(rounded, np.array([0.98] * 3)) == pytest.approx([0.0, 0.0048, 0.0], abs=1e-3)


def test_quantiles_below_the_median_give_the_spread_when_none_is_above() -> None:
    frame = demand_frame({("S", "L"): 10.0}, days=1).drop(columns=["q0.9"]).assign(q0_1=2.0)
    frame = frame.rename(columns={"q0_1": "q0.1"})
    assert daily_sigma(frame) == pytest.approx([8.0 / z_value(0.9)])  # not Poisson's sqrt(10)


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


def test_cover_demand_has_one_sorted_row_per_key_even_without_days_in_its_window() -> None:
    frame = demand_frame({("S2", "L"): 3.0, ("S1", "L"): 2.0, ("S1", "M"): 1.0}, days=4)
    # S1 at M: its two days fall after its 1-day window, so no forecast day counts.
    frame = frame[
        ~(
            (frame["sku"] == "S1")
            & (frame["location"] == "M")
            & (frame["date"] < TODAY + pd.Timedelta(days=2))
        )
    ]
    result = cover_demand(frame, TODAY, pd.Series({"L": 2, "M": 1}))
    assert list(zip(result["sku"], result["location"], strict=True)) == [
        ("S1", "L"),
        ("S1", "M"),
        ("S2", "L"),
    ]
    assert result["mean"].tolist() == pytest.approx([4.0, 0.0, 6.0])
    assert result["forecast_days"].tolist() == [2.0, 0.0, 2.0]


def test_two_rows_on_one_day_count_as_one_forecast_day() -> None:
    frame = demand_frame({("S", "L"): 5.0}, days=2)
    later = frame.assign(date=frame["date"] + pd.Timedelta(hours=12))  # same days, noon
    result = cover_demand(pd.concat([frame, later]), TODAY, pd.Series({"L": 4})).iloc[0]
    # 2 days found in a 4-day window, 20 units in them: scaled to the whole window.
    assert result["forecast_days"] == 2 and result["mean"] == pytest.approx(40.0)


@pytest.mark.parametrize("size", [50, 10**7])  # a table of flags; a sort past 4 x the codes
def test_unique_codes_are_numpy_s_unique(size: int) -> None:
    codes = np.random.default_rng(3).integers(0, min(size, 50), 200) * (size // 50)
    keys, inverse = _unique_codes(codes, size)
    expected_keys, expected_inverse = np.unique(codes, return_inverse=True)
    assert keys.tolist() == expected_keys.tolist()
    assert inverse.tolist() == expected_inverse.tolist()


def test_safety_stock_z_is_the_normal_quantile() -> None:
    assert z_value(0.5) == 0.0 and z_value(0.975) == pytest.approx(1.959963984540054, abs=1e-12)
    assert safety_stock(np.array([2.0, 2.0]), np.array([0.5, 0.975])).tolist() == pytest.approx(
        [0.0, 2 * 1.959963984540054]
    )


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5])
def test_a_level_outside_zero_one_is_an_error_not_an_infinite_safety_stock(level: float) -> None:
    with pytest.raises(ValueError, match="expected 0 < level < 1"):
        safety_stock(np.array([1.0, 1.0]), np.array([0.9, level]))
    with pytest.raises(ValueError, match="expected 0 < level < 1"):
        z_value(level)


def test_a_weekly_forecast_spreads_each_week_over_its_seven_days() -> None:
    # 70 units a week (10 a day), as a weekly forecaster writes it: one row per week.
    weekly = demand_frame({("S", "L"): 70.0}, days=28, spread=z_value(0.9) * 14.0)
    weekly = weekly.iloc[::7].reset_index(drop=True)
    result = cover_demand(weekly, TODAY, pd.Series({"L": 10})).iloc[0]
    daily = cover_demand(demand_frame({("S", "L"): 10.0}, days=28), TODAY, pd.Series({"L": 10}))
    assert result["mean"] == pytest.approx(100.0) == daily.iloc[0]["mean"]
    assert result["forecast_days"] == 10 and result["daily"] == pytest.approx(10.0)
    # A week's variance 14^2 spread over its days: 10 of them carry 10/7 of it.
    assert result["sigma"] == pytest.approx(np.sqrt(14.0**2 * 10 / 7))


def test_a_monthly_forecast_counts_the_days_of_each_month() -> None:
    months = pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"])
    frame = pd.DataFrame(
        {"sku": "S", "location": "L", "date": months, "forecast": [310.0, 280.0, 310.0]}
    )
    # 10 units a day in every month: 45 days from 20 January hold 450 units.
    start = pd.Timestamp("2026-01-20")
    result = cover_demand(frame, start, pd.Series({"L": 45})).iloc[0]
    assert result["mean"] == pytest.approx(450.0) and result["forecast_days"] == 45


def test_a_daily_forecast_with_missing_days_stays_daily() -> None:
    frame = demand_frame({("S", "L"): 10.0}, days=10).drop(index=[3, 4])
    result = cover_demand(frame, TODAY, pd.Series({"L": 10})).iloc[0]
    assert result["forecast_days"] == 8 and result["mean"] == pytest.approx(100.0)


def test_each_series_has_its_own_period() -> None:
    # Weekly totals labelled by Monday (L1) and by Sunday (L2), daily rows (L3), and a series with
    # one weekly row (L4, read as most series are): the smallest step of the whole file (1 day,
    # Sunday to Monday) read every week as a day, 7 times its demand over the cover period.
    weekly = demand_frame({("S", "L1"): 70.0, ("S", "L4"): 70.0}, days=28).iloc[::7]
    sunday = demand_frame({("S", "L2"): 70.0}, days=29).iloc[6::7]
    daily = demand_frame({("S", "L3"): 10.0}, days=28)
    frame = pd.concat([weekly[weekly["location"] == "L1"], sunday, daily]).reset_index(drop=True)
    frame = pd.concat([frame, weekly[weekly["location"] == "L4"].iloc[:1]], ignore_index=True)
    cover = pd.Series({"L1": 8, "L2": 8, "L3": 8, "L4": 7})
    result = cover_demand(frame, TODAY, cover).set_index("location")
    assert result["daily"].tolist() == pytest.approx([10.0, 10.0, 10.0, 10.0])
    assert result["mean"].tolist() == pytest.approx([80.0, 80.0, 80.0, 70.0])


def test_row_days_read_each_series_by_its_own_period() -> None:
    from allocation.safety import row_days

    frame = pd.DataFrame(
        {
            "sku": ["M", "M", "W", "W", "D", "D", "ONE"],
            "location": "L",
            "date": pd.to_datetime(
                ["2026-01-01", "2026-02-01", "2026-01-04", "2026-01-11", "2026-01-05",
                 "2026-01-06", "2026-03-02"]
            ),
        }
    )  # fmt: skip
    # months by their own days, weeks by 7, days by 1; a lone row as most series (a tie: the
    # smallest step, daily)
    assert row_days(frame).tolist() == [31.0, 28.0, 7.0, 7.0, 1.0, 1.0, 1.0]


def test_series_whose_quantiles_give_no_spread_are_named() -> None:
    # A point forecast written into the quantile columns planned no safety stock, silently.
    frame = demand_frame({("S", "A"): 2.0, ("S", "B"): 2.0, ("S", "C"): 0.0}, days=3)
    frame.loc[(frame["location"] == "B") & (frame["date"] == TODAY), "q0.9"] = 3.0
    note = no_spread_note(frame)
    assert note is not None and note.startswith("1 of 2 series with demand (e.g. 'S' at 'A')")
    # C sells nothing: no safety stock is what it needs, and no note
    assert no_spread_note(demand_frame({("S", "C"): 0.0}, days=3)) is None
    assert no_spread_note(demand_frame({("S", "A"): 2.0}, days=3, spread=1.0)) is None
    points = demand_frame({("S", "A"): 2.0}, days=3)[["sku", "location", "date", "forecast"]]
    assert no_spread_note(points) is None  # no quantile columns: a Poisson spread
