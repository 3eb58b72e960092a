"""Every model family on small frames: shapes, known answers of the simple ones, future inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.columns import CUTOFF, DS, LOCATION, PRICE, PROMO, SKU, UNIQUE_ID, Y
from forecasting.models import (
    LIGHTGBM,
    LIGHTGBM_DIRECT,
    LIGHTGBM_PLAIN,
    STAT_MODELS,
    cross_series_levels,
    direct_lag_plan,
    fallback_forecast,
    fallback_mae,
    from_long,
    future_exogenous,
    horizon_groups,
    lag_plan,
    ml_cross_validation,
    ml_fit,
    ml_predict,
    moving_average_window,
    season_length,
    split_ids,
    stat_cross_validation,
    stat_forecast,
    to_long,
    trim_leading_zeros,
)
from forecasting.sample import SampleSpec, generate_sales


@pytest.fixture(scope="module")
def long() -> pd.DataFrame:
    sales = generate_sales(SampleSpec(days=150))
    keep = sales[SKU].isin(["SKU-001", "SKU-002", "SKU-010"]) & sales[LOCATION].isin(
        ["FW-N1", "D-E1"]
    )
    return to_long(sales[keep].drop(columns="region").astype({"units": "float64"}))


def test_long_frame_round_trip(long: pd.DataFrame) -> None:
    assert list(long.columns[:3]) == [UNIQUE_ID, DS, Y]
    back = from_long(long.head(3))
    assert list(back.columns[:3]) == [SKU, LOCATION, "date"]
    assert back[SKU].iloc[0] == "SKU-001"


def test_season_length_follows_the_frequency() -> None:
    assert [season_length(f) for f in ("D", "W", "W-SUN", "MS", "h")] == [7, 52, 52, 12, 1]


def test_every_statistical_model_backtests_and_forecasts(long: pd.DataFrame) -> None:
    table = stat_cross_validation(long, STAT_MODELS, horizon=7, n_windows=2, freq="D")
    assert len(table) == 6 * 7 * 2 and table[CUTOFF].nunique() == 2
    assert np.isfinite(table[list(STAT_MODELS)].to_numpy()).all()
    forecast = stat_forecast(long, STAT_MODELS, horizon=7, freq="D")
    assert len(forecast) == 6 * 7
    assert forecast[DS].min() == long[DS].max() + pd.Timedelta(days=1)


def test_baselines_give_their_known_answers(long: pd.DataFrame) -> None:
    forecast = stat_forecast(long, ["SeasonalNaive", "MA28"], horizon=7, freq="D")
    series = long[long[UNIQUE_ID] == "SKU-001|FW-N1"][Y].to_numpy()
    mine = forecast[forecast[UNIQUE_ID] == "SKU-001|FW-N1"]
    np.testing.assert_allclose(mine["SeasonalNaive"], series[-7:])
    np.testing.assert_allclose(mine["MA28"], np.full(7, series[-28:].mean()))
    fallback = fallback_forecast(long, 7, "D")
    np.testing.assert_allclose(
        fallback[fallback[UNIQUE_ID] == "SKU-001|FW-N1"]["MA28"], mine["MA28"]
    )


@pytest.mark.parametrize(("freq", "window"), [("W-SUN", 4), ("MS", 3)])
def test_the_moving_average_spans_four_weeks_or_three_months_not_28_periods(
    freq: str, window: int
) -> None:
    # 40 periods at 10, then the last ten at 30: 28 months was a level of two years ago
    y = np.r_[np.full(40, 10.0), np.full(10, 30.0)]
    dates = pd.date_range("2020-01-01", periods=50, freq=freq)
    series = pd.DataFrame({UNIQUE_ID: "s", DS: dates, Y: y})
    model = stat_forecast(series, ["MA28"], horizon=2, freq=freq)["MA28"]
    fallback = fallback_forecast(series, 2, freq)["MA28"]
    assert model.tolist() == fallback.tolist() == [30.0, 30.0]
    assert moving_average_window(freq) == window and moving_average_window("D") == 28
    # 28 days' worth, at least 3: 9 months of quarters, 4 of 7-day periods, 20 business days
    assert [moving_average_window(f) for f in ("QS", "7D", "B", "2W")] == [3, 4, 20, 3]


def test_a_series_launched_inside_the_history_is_not_forecast_at_its_first_sale() -> None:
    # Its history starts at the sale that started it: a catalogue SKU that sold 2 once in 300
    # days, 7 days ago or yesterday, was forecast 2 / 7 and 2 a day. A launch's rate is the
    # periods after its first, at least that sale over the window (not 0 once six days pass
    # unsold, below the day after it); a series as old as the history keeps every period.
    dates = pd.date_range("2024-01-01", periods=40)
    long = pd.concat(
        [
            pd.DataFrame({UNIQUE_ID: "old", DS: dates, Y: np.ones(40)}),
            pd.DataFrame({UNIQUE_ID: "week", DS: dates[-7:], Y: [2.0, 0, 0, 0, 0, 0, 0]}),
            pd.DataFrame({UNIQUE_ID: "day", DS: dates[-1:], Y: [2.0]}),
            pd.DataFrame({UNIQUE_ID: "launch", DS: dates[-5:], Y: [30.0, 10, 11, 9, 10]}),
        ]
    )
    level = fallback_forecast(long, 1, "D").set_index(UNIQUE_ID)["MA28"]
    assert level.to_dict() == pytest.approx(
        {"old": 1.0, "week": 2 / 28, "day": 2 / 28, "launch": 10.0}
    )
    as_old_as_the_data = long[long[UNIQUE_ID] == "week"]
    assert fallback_forecast(as_old_as_the_data, 1, "D")["MA28"].tolist() == [2 / 7]


def test_the_fallback_errs_over_its_own_history_as_a_backtest_measures_a_model() -> None:
    # Months, a 3-month mean: forecast 1 to `horizon` months after the three it averages.
    # 1, 2, 3 -> 2 errs by 2 on the 4th month (lead 1) and 3 on the 5th (lead 2); 2, 3, 4 -> 3
    # by 2 on the 5th: (2 + 2) / 2 at horizon 1, (2 + 2 + 3) / 3 at horizon 2. A series with
    # three months has no month to forecast and is left out.
    dates = pd.date_range("2020-01-01", periods=5, freq="MS")
    long = pd.concat(
        [
            pd.DataFrame({UNIQUE_ID: "ramp", DS: dates, Y: [1.0, 2.0, 3.0, 4.0, 5.0]}),
            pd.DataFrame({UNIQUE_ID: "new", DS: dates[:3], Y: [4.0, 0.0, 9.0]}),
        ]
    )
    assert fallback_mae(long, 1, "MS").to_dict() == {"ramp": 2.0}
    assert fallback_mae(long, 2, "MS").to_dict() == pytest.approx({"ramp": 7 / 3})


def test_intermittent_models_forecast_a_flat_rate_on_sparse_demand() -> None:
    y = np.zeros(120)
    y[9::10] = 5.0  # a sale of 5 every tenth day (the last day too): rate 0.5 a day
    sparse = pd.DataFrame({UNIQUE_ID: "s", DS: pd.date_range("2024-01-01", periods=120), Y: y})
    forecast = stat_forecast(sparse, ["CrostonOptimized", "TSB", "ADIDA", "IMAPA"], 7, "D")
    for model in ("CrostonOptimized", "TSB", "ADIDA", "IMAPA"):
        values = forecast[model].to_numpy()
        assert np.allclose(values, values[0])
        assert 0.25 < values[0] < 0.8, model  # TSB tracks the last gap, so loosely


@pytest.mark.parametrize("name", [LIGHTGBM, LIGHTGBM_DIRECT, LIGHTGBM_PLAIN])
def test_global_lightgbm_backtests_fits_and_predicts(long: pd.DataFrame, name: str) -> None:
    table = ml_cross_validation(long, name, horizon=7, n_windows=2, freq="D", seed=0)
    assert len(table) == 6 * 7 * 2 and (table[name] >= 0).all()
    model = ml_fit(long, name, horizon=7, freq="D", seed=0)
    forecast = ml_predict(model, long, horizon=7, freq="D")
    assert len(forecast) == 6 * 7 and (forecast[name] >= 0).all()
    assert forecast[DS].min() == long[DS].max() + pd.Timedelta(days=1)


def test_direct_model_has_one_part_per_week_of_the_horizon() -> None:
    assert horizon_groups(LIGHTGBM_DIRECT, "D", 28) == [7, 14, 21, 28]
    assert horizon_groups(LIGHTGBM_DIRECT, "D", 10) == [7, 10]
    assert horizon_groups(LIGHTGBM_DIRECT, "D", 7) == [7]
    assert horizon_groups(LIGHTGBM_DIRECT, "D", 90) == [23, 46, 69, 90]  # at most four parts
    assert horizon_groups(LIGHTGBM_DIRECT, "W", 8) == [8]  # a year of weeks: one part
    assert horizon_groups(LIGHTGBM, "D", 28) == [28]  # recursive: one model


def test_daily_plans_reach_last_year_where_it_is_known_at_the_origin() -> None:
    for plan in (lag_plan, direct_lag_plan):
        lags, transforms = plan(7, 28)
        assert 364 in lags and 350 in transforms  # same weekday, and the 4 weeks around it
    assert 364 not in lag_plan(52, 8)[0]  # weeks already reach a year back (lag 52)
    assert 350 not in direct_lag_plan(7, 360)[1]  # not known for every step of the horizon


def test_each_direct_part_sees_only_lags_known_for_its_steps(long: pd.DataFrame) -> None:
    model = ml_fit(long, LIGHTGBM_DIRECT, horizon=10, freq="D", seed=0)
    assert model.ends == (7, 10)
    assert [min(part.ts.lags) for part in model.parts] == [7, 10]
    forecast = ml_predict(model, long, horizon=10, freq="D")
    assert len(forecast) == 6 * 10 and not forecast.duplicated([UNIQUE_ID, DS]).any()
    table = ml_cross_validation(long, LIGHTGBM_DIRECT, horizon=10, n_windows=2, freq="D", seed=0)
    assert len(table) == 6 * 10 * 2 and not table.duplicated([UNIQUE_ID, CUTOFF, DS]).any()
    longer = ml_predict(model, long, horizon=12, freq="D")  # the last part goes on recursively
    assert len(longer) == 6 * 12 and np.isfinite(longer[LIGHTGBM_DIRECT]).all()


def test_lightgbm_uses_the_planned_future_prices(long: pd.DataFrame) -> None:
    model = ml_fit(long, LIGHTGBM, horizon=7, freq="D", seed=0)
    as_usual = ml_predict(model, long, 7, "D")
    planned = future_exogenous(long, 7, "D")
    planned[PRICE] = planned[PRICE] * 0.5  # a deep price cut, planned ahead
    cut = ml_predict(model, long, 7, "D", future=planned)
    assert not np.allclose(cut[LIGHTGBM], as_usual[LIGHTGBM])


def test_future_exogenous_rule_and_override(long: pd.DataFrame) -> None:
    future = future_exogenous(long, 3, "D")
    last = long.groupby(UNIQUE_ID).tail(1).set_index(UNIQUE_ID)
    first = future.groupby(UNIQUE_ID).head(1).set_index(UNIQUE_ID)
    pd.testing.assert_series_equal(first[PRICE], last.loc[first.index, PRICE])  # carried forward
    assert (future[PROMO] == 0).all()
    given = future.head(1).assign(**{PRICE: 99.0, PROMO: 1.0})
    overridden = future_exogenous(long, 3, "D", given=given)
    assert overridden[PRICE].iloc[0] == 99.0 and overridden[PROMO].iloc[0] == 1.0
    assert overridden[PRICE].iloc[1] == future[PRICE].iloc[1]


def test_trim_leading_zeros_drops_pre_launch_periods_only() -> None:
    frame = pd.DataFrame(
        {
            UNIQUE_ID: ["a"] * 4 + ["never"] * 2,
            DS: list(pd.date_range("2024-01-01", periods=4))
            + list(pd.date_range("2024-01-01", periods=2)),
            Y: [0.0, 0.0, 2.0, 0.0, 0.0, 0.0],
        }
    )
    trimmed = trim_leading_zeros(frame)
    assert trimmed[trimmed[UNIQUE_ID] == "a"][Y].tolist() == [2.0, 0.0]  # later zeros stay
    assert len(trimmed[trimmed[UNIQUE_ID] == "never"]) == 2  # never sold: kept whole
    # a zero with a price was a listed day without a sale: demand, kept
    priced = frame.assign(price=[np.nan, 1.5, 1.5, 1.5, np.nan, np.nan])
    trimmed = trim_leading_zeros(priced)
    assert trimmed[trimmed[UNIQUE_ID] == "a"][Y].tolist() == [0.0, 2.0, 0.0]


def test_ids_split_into_sku_and_location_at_the_first_separator() -> None:
    ids = pd.Series(["A|L1", "B|L2", "A|L1", "C|X|Y"])
    sku, location = split_ids(ids)
    assert sku.tolist() == ["A", "B", "A", "C"]
    assert location.tolist() == ["L1", "L2", "L1", "X|Y"]


def test_cross_series_levels_use_only_sales_a_horizon_back() -> None:
    days = pd.date_range("2024-01-01", periods=4)
    frame = pd.DataFrame(
        {
            UNIQUE_ID: ["A|L1"] * 4 + ["A|L2"] * 4,
            DS: list(days) * 2,
            Y: [1.0, 2.0, 3.0, np.nan, 3.0, 4.0, 5.0, np.nan],  # the last day is the future
        }
    )
    levels = cross_series_levels(frame, 2, *split_ids(frame[UNIQUE_ID]))
    first = levels[levels[UNIQUE_ID] == "A|L1"]
    # SKU A's mean per location: 2, 3, 4, (none); two days back, then averaged over 7 days.
    np.testing.assert_allclose(first["sku_level_7"], [np.nan, np.nan, 2.0, 2.5])
    np.testing.assert_allclose(first["location_level_7"], [np.nan, np.nan, 1.0, 1.5])


def test_a_day_without_a_price_keeps_the_series_last_one() -> None:
    # a week ingested without prices (the service stores what it is sent): NaN prices moved the
    # global model's forecasts by -22 % to +50 %; the future keeps the last price, so does this
    sales = pd.DataFrame(
        {
            SKU: ["A", "A", "A", "B", "B"],
            LOCATION: "S",
            "date": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-01", "2024-01-02"]
            ),
            "units": 1.0,
            PRICE: [2.0, np.nan, np.nan, np.nan, 3.0],
        }
    )
    # as a file is read (prepare_sales): before a series' first price, that price
    assert to_long(sales)[PRICE].tolist() == [2.0, 2.0, 2.0, 3.0, 3.0]
