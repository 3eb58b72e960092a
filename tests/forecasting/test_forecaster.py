"""Forecaster end to end on small real-shaped slices: contract, choice, warnings, new history."""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from allocation.safety import cover_demand
from forecasting.columns import CUTOFF, DATE, FORECAST, LOCATION, SKU, UNITS
from forecasting.data import load_sales, parse_mapping, prepare_sales
from forecasting.errors import ForecastingError, NotFittedError, SalesValidationError
from forecasting.forecaster import (
    ENSEMBLE,
    ForecastConfig,
    Forecaster,
    SeriesFallbackWarning,
    unplanned_flags,
)
from forecasting.sample import SampleSpec, generate_sales

FAST_MODELS = ("SeasonalNaive", "MA28", "AutoETS", "CrostonOptimized", "LightGBM")


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    frame = generate_sales(SampleSpec(days=200))
    keep = frame[SKU].isin(["SKU-001", "SKU-002", "SKU-004", "SKU-009"]) & frame[LOCATION].isin(
        ["FW-N1", "D-E1", "D-S1"]
    )
    return frame[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def config() -> ForecastConfig:
    return ForecastConfig(horizon=7, n_windows=2, models=FAST_MODELS)


@pytest.fixture(scope="module")
def fitted(sales: pd.DataFrame, config: ForecastConfig) -> Forecaster:
    return Forecaster(config).fit(sales)


def test_predict_follows_the_forecast_contract(fitted: Forecaster, sales: pd.DataFrame) -> None:
    forecast = fitted.predict()
    assert list(forecast.columns) == [SKU, LOCATION, DATE, FORECAST, "q0.5", "q0.9", "q0.95"]
    assert len(forecast) == 12 * 7
    assert forecast[DATE].min() == sales[DATE].max() + pd.Timedelta(days=1)
    values = forecast[[FORECAST, "q0.5", "q0.9", "q0.95"]].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all()
    assert (forecast["q0.5"] <= forecast["q0.9"]).all()
    assert (forecast["q0.9"] <= forecast["q0.95"]).all()


def test_fit_records_backtest_metrics_and_choice(fitted: Forecaster) -> None:
    assert set(fitted.backtest_["cutoff"].unique()).__len__() == 2
    models = set(fitted.metrics_["model"])
    assert {ENSEMBLE, "SeasonalNaive", "MA28", "LightGBM"} <= models
    assert set(fitted.metrics_["level"]) == {"series", "sku_region_week"}
    ensemble = fitted.metrics_[(fitted.metrics_["model"] == ENSEMBLE)].iloc[0]
    assert 0 < ensemble["wape"] < 2 and 0.6 < ensemble["coverage_q0.9"] <= 1
    assert len(fitted.choice_) == 12 and fitted.choice_["reason"].str.len().min() > 10
    assert fitted.warnings_ == []


def test_predict_from_newer_history_and_other_horizon(
    fitted: Forecaster, sales: pd.DataFrame
) -> None:
    newer = sales.copy()
    extra = newer[newer[DATE] == newer[DATE].max()].assign(
        **{DATE: newer[DATE].max() + pd.Timedelta(days=1)}
    )
    newer = pd.concat([newer, extra], ignore_index=True)
    forecast = fitted.predict(newer, horizon=3)
    assert len(forecast) == 12 * 3
    assert forecast[DATE].min() == newer[DATE].max() + pd.Timedelta(days=1)


def test_short_series_fall_back_with_a_warning_naming_it(
    sales: pd.DataFrame, config: ForecastConfig
) -> None:
    newcomer = pd.DataFrame(
        {
            SKU: "SKU-NEW",
            LOCATION: "FW-N1",
            "region": "north",
            DATE: pd.date_range(end=sales[DATE].max(), periods=5),
            UNITS: [1.0, 0.0, 2.0, 1.0, 3.0],
        }
    )
    with_new = pd.concat([sales, newcomer], ignore_index=True)
    with pytest.warns(SeriesFallbackWarning, match=r"SKU-NEW\|FW-N1"):
        forecaster = Forecaster(config).fit(with_new)
    forecast = forecaster.predict()
    new_rows = forecast[forecast[SKU] == "SKU-NEW"]
    # launched inside the history: the mean of the 4 days after the sale that started it
    assert np.allclose(new_rows[FORECAST], 6.0 / 4.0)
    assert any("SKU-NEW|FW-N1" in w for w in forecaster.warnings_)
    # said once, as too short: not again by every model that did not forecast it
    assert not any("SKU-NEW|FW-N1" in w and "gave no usable" in w for w in forecaster.warnings_)


def test_a_listed_series_is_forecast_from_its_listed_days(sales: pd.DataFrame) -> None:
    # Priced (listed) for 200 days, sold 5 five days ago and 3 on the last: trimmed to its first
    # sale, its history was those six days, read as a launch. Listed, its 28-day mean is 8 / 28.
    # Without a price before its first sale it is a launch (M5 leaves an item's price empty
    # before it is sold): the days after that sale, 3 in 5. MA28 alone, so the forecast is that
    # mean.
    config = ForecastConfig(horizon=7, n_windows=2, models=("MA28",))
    days = pd.date_range(end=sales[DATE].max(), periods=200)
    units = [0.0] * 194 + [5.0, 0.0, 0.0, 0.0, 0.0, 3.0]
    listed = pd.DataFrame(
        {SKU: "SKU-SLOW", LOCATION: "FW-N1", "region": "north", DATE: days, UNITS: units}
    ).assign(price=4.0)
    launched = listed.assign(**{SKU: "SKU-LAUNCH", "price": [np.nan] * 194 + [4.0] * 6})
    with_two = prepare_sales(pd.concat([sales, listed, launched], ignore_index=True))
    assert with_two.loc[with_two[SKU] == "SKU-LAUNCH", "price"].isna().sum() == 194
    with pytest.warns(SeriesFallbackWarning, match=r"SKU-LAUNCH\|FW-N1"):
        forecast = Forecaster(config).fit(with_two).predict()
    mean = forecast.groupby(SKU)[FORECAST].mean()
    assert mean["SKU-SLOW"] == pytest.approx(8.0 / 28.0)  # was 8 / 6
    assert mean["SKU-LAUNCH"] == pytest.approx(3.0 / 5.0)


def test_a_forecast_that_takes_recurring_promotions_as_zero_says_so(sales: pd.DataFrame) -> None:
    # The backtest reads the real flags of its test windows, the forecast 0 where none are
    # planned: promoted on 8 % of the days, a week's forecast erred by -15 %, and nothing said it.
    fitted = Forecaster(ForecastConfig(horizon=7, n_windows=1, models=("LightGBM",))).fit(sales)
    assert "promo" in fitted.input_columns()
    note = fitted.unplanned_note()
    assert note is not None and re.search(
        r"promo and event taken as 0 .* promo was 1 on 4\.1%", note
    )
    assert fitted.unplanned_note(sales) == note  # the same history given
    keys = sales.drop_duplicates([SKU, LOCATION])[[SKU, LOCATION]]
    days = pd.DataFrame({DATE: pd.date_range(sales[DATE].max(), periods=8)[1:]})
    planned = keys.merge(days, how="cross").assign(promo=0.0, event=0.0)
    assert fitted.unplanned_note(future=planned) is None  # planned, if only as none
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # predict itself says nothing of it, each time
        fitted.predict()


def test_a_flag_that_is_hardly_ever_on_is_not_told() -> None:
    long = pd.DataFrame({"unique_id": "a|X", "y": 1.0, "promo": np.r_[np.ones(3), np.zeros(397)]})
    assert unplanned_flags(long, ["promo"], 364) is None  # 1 of 364 recent days
    assert "promo was 1 on 50.0% of them, which sold 50.0% of the units" in str(
        unplanned_flags(long.assign(promo=np.arange(400) % 2), ["promo"], 364)
    )


def test_series_the_model_never_saw_are_named_when_forecast(
    fitted: Forecaster, sales: pd.DataFrame
) -> None:
    # A model trained on other series gave them another kind's quantiles without a word.
    other = sales[sales[SKU] == "SKU-001"].assign(**{SKU: "SKU-077"})
    with pytest.warns(SeriesFallbackWarning, match=r"3 series were not in the history.*SKU-077"):
        fitted.predict(sales=pd.concat([sales, other], ignore_index=True), horizon=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeriesFallbackWarning)
        fitted.predict(sales=sales, horizon=3)  # the series it was trained on: nothing to say


def test_quantiles_on_a_handful_of_backtest_errors_are_said_to_be_unreliable(
    sales: pd.DataFrame,
) -> None:
    # 1 window x 1 day x 3 series: 3 errors, and every quantile came out one number, silently
    few = sales[sales[SKU] == "SKU-001"]
    config = ForecastConfig(horizon=1, n_windows=1, models=("MA28", "SeasonalNaive"))
    with pytest.warns(SeriesFallbackWarning, match=r"on 3 backtest errors, fewer than the 100"):
        Forecaster(config).fit(few)


@pytest.mark.parametrize(
    ("freq", "message"), [("h", "shorter than a day"), ("15min", "shorter"), ("xyz", "no pandas")]
)
def test_a_frequency_finer_than_days_or_unknown_is_refused(freq: str, message: str) -> None:
    # --freq h zero-filled 23 hours a day of daily sales and trained on 1.4 units an hour
    with pytest.raises(ValidationError, match=message):
        ForecastConfig(freq=freq)
    assert ForecastConfig(freq="W-SAT").freq == "W-SAT"


@pytest.mark.parametrize(("freq", "periods"), [("D", 728), ("W", 416), ("MS", 96)])
def test_local_models_fit_on_two_years_and_at_least_eight_seasons(freq: str, periods: int) -> None:
    # Two years of months are 24 points for a 12-month season: AutoETS fitted on them lost to
    # the same AutoETS fitted on the whole history (weighted RMSSE 1.27 against 1.00 on the M5
    # slice summed to SKU-state-months, helper-54).
    assert ForecastConfig(freq=freq).local_history() == periods
    assert ForecastConfig(freq=freq, input_size=30).local_history() == 30


def test_predict_before_fit_and_bad_frames_are_refused(config: ForecastConfig) -> None:
    with pytest.raises(NotFittedError):
        Forecaster(config).predict()
    with pytest.raises(SalesValidationError, match="lacks column 'units'"):
        Forecaster(config).fit(pd.DataFrame({SKU: ["a"], LOCATION: ["b"], DATE: ["2024-01-01"]}))


def test_a_frame_whose_series_end_on_different_days_is_refused_naming_one(
    fitted: Forecaster, sales: pd.DataFrame
) -> None:
    last = sales[DATE].max()
    first_sku = sales[SKU].iloc[0]
    first_location = sales[LOCATION].iloc[0]
    ragged = sales[
        ~(
            (sales[SKU] == first_sku)
            & (sales[LOCATION] == first_location)
            & (sales[DATE] > last - pd.Timedelta(days=5))
        )
    ]
    # its forecast would have started five days before the others', on days that have passed
    expected = f"{first_sku} at {first_location} on {(last - pd.Timedelta(days=5)).date()}"
    with pytest.raises(SalesValidationError, match=expected):
        fitted.predict(ragged, horizon=3)


def test_exogenous_columns_are_matched_by_name_not_position(sales: pd.DataFrame) -> None:
    # the global model alone: it is the one that read its features by position
    fitted = Forecaster(ForecastConfig(horizon=7, n_windows=1, models=("LightGBM",))).fit(sales)
    expected = fitted.predict(sales, horizon=3)
    ids = [SKU, LOCATION, "region", DATE, UNITS]
    reordered = sales[[*ids, "event", "promo", "price"]]
    pd.testing.assert_frame_equal(fitted.predict(reordered, horizon=3), expected)
    # a column it was not fitted on is left out; one it was fitted on must be there
    extra = sales.assign(snap=1.0)
    pd.testing.assert_frame_equal(fitted.predict(extra, horizon=3), expected)
    renamed = sales.rename(columns={"promo": "snap"})
    with pytest.raises(SalesValidationError, match=r"missing \['promo'\] \(given: \["):
        fitted.predict(renamed, horizon=3)
    # statistical models alone read the sales, not the columns beside them: nothing to ask for
    local = Forecaster(ForecastConfig(horizon=7, n_windows=1, models=("MA28",))).fit(sales)
    pd.testing.assert_frame_equal(
        local.predict(renamed, horizon=3), local.predict(sales, horizon=3)
    )


def test_weekly_forecasts_are_dated_by_their_first_day_as_allocate_reads_periods() -> None:
    daily = generate_sales(SampleSpec(days=800))
    daily = daily[daily[SKU].isin(["SKU-001", "SKU-012"]) & daily[LOCATION].isin(["FW-N1", "D-E1"])]
    weekly = prepare_sales(daily, freq="W")  # weeks Monday..Sunday, labelled by the Sunday
    config = ForecastConfig(freq="W", horizon=4, n_windows=1, models=("SeasonalNaive", "MA28"))
    forecast = Forecaster(config).fit(weekly).predict()
    first_monday = weekly[DATE].max() + pd.Timedelta(days=1)
    assert forecast[DATE].min() == first_monday and (forecast[DATE].dt.dayofweek == 0).all()
    # a plan made on that Monday covering one week reads the first forecast week whole
    cover = cover_demand(forecast, first_monday, pd.Series(7.0, index=forecast[LOCATION].unique()))
    first_week = forecast[forecast[DATE] == first_monday].set_index([SKU, LOCATION])[FORECAST]
    read = cover.set_index([SKU, LOCATION])["mean"]
    pd.testing.assert_series_equal(read, first_week.loc[read.index], check_names=False)


def test_two_years_of_weekly_sales_train_with_every_series_backtested() -> None:
    # 104 weeks: two seasons of weeks before a 3 x 8 backtest asked 128, and training refused
    # ("no series has the 128 periods"); weeks need one season (a year) before the windows.
    daily = generate_sales(SampleSpec(days=7 * 104))
    daily = daily[daily[SKU].isin(["SKU-001", "SKU-012"]) & daily[LOCATION].isin(["FW-N1", "D-E1"])]
    weekly = prepare_sales(daily, freq="W")
    assert weekly.groupby([SKU, LOCATION]).size().max() <= 105
    models = ("SeasonalNaive", "MA28", "AutoETS", "Theta", "LightGBM")
    config = ForecastConfig(freq="W", horizon=8, n_windows=3, models=models)
    forecaster = Forecaster(config).fit(weekly)
    assert forecaster.short_series_ == set()
    forecast = forecaster.predict()
    assert len(forecast) == 4 * 8 and (forecast[FORECAST] >= 0).all()
    assert forecaster.backtest_[CUTOFF].nunique() == 3


def test_fitted_forecaster_pickles_to_the_same_forecast(fitted: Forecaster) -> None:
    clone = pickle.loads(pickle.dumps(fitted))
    pd.testing.assert_frame_equal(clone.predict(horizon=5), fitted.predict(horizon=5))


@pytest.mark.m5
@pytest.mark.slow
def test_m5_slice_trains_and_forecasts(m5_tiny_path: Path) -> None:
    mapping = parse_mapping(
        "item_id=sku,store_id=location,sales=units,state_id=region,sell_price=price"
    )
    sales = load_sales(m5_tiny_path, mapping)
    sales = sales[sales[SKU].isin(sales[SKU].unique()[:3]) & sales[LOCATION].isin(["CA_1", "TX_1"])]
    sales = sales[sales[DATE] > sales[DATE].max() - pd.Timedelta(days=400)]
    forecaster = Forecaster(ForecastConfig(horizon=14, n_windows=2, models=FAST_MODELS)).fit(sales)
    forecast = forecaster.predict()
    assert len(forecast) == 6 * 14
    series = forecaster.metrics_[forecaster.metrics_["level"] == "series"].set_index("model")
    # Not a target, a sanity bound: the chosen forecast is no worse than the seasonal naive.
    assert series.loc[ENSEMBLE, "rmsse"] <= series.loc["SeasonalNaive", "rmsse"]


def test_predict_covers_a_series_unseen_at_fit(fitted: Forecaster, sales: pd.DataFrame) -> None:
    newcomer = sales[(sales[SKU] == "SKU-001") & (sales[LOCATION] == "FW-N1")].assign(
        **{LOCATION: "D-N9"}
    )
    forecast = fitted.predict(pd.concat([sales, newcomer], ignore_index=True), horizon=7)
    mine = forecast[forecast[LOCATION] == "D-N9"]
    assert len(mine) == 7 and np.isfinite(mine[["forecast", "q0.9"]].to_numpy()).all()
    assert (mine["q0.9"] >= mine["q0.5"]).all()


def test_a_history_with_no_sales_at_all_is_refused(
    sales: pd.DataFrame, config: ForecastConfig
) -> None:
    # Every series all zero used to end in a traceback from the RMSSE of an empty backtest.
    with pytest.raises(ForecastingError, match="every series sold nothing"):
        Forecaster(config).fit(sales.assign(**{UNITS: 0.0}))


def test_a_series_that_never_sold_in_a_year_forecasts_zero(sales: pd.DataFrame) -> None:
    # The global model, learning from the other series, gave one that sold nothing 3.4 a day.
    # ("A year" here is the config's segment_lookback: 56 days, so 200 days of history hold it.)
    config = ForecastConfig(horizon=7, n_windows=2, models=FAST_MODELS, segment_lookback=56)
    fitted = Forecaster(config).fit(sales)
    silent = sales[(sales[SKU] == "SKU-001") & (sales[LOCATION] == "FW-N1")].assign(
        **{LOCATION: "D-N9", UNITS: 0.0}
    )
    forecast = fitted.predict(pd.concat([sales, silent], ignore_index=True), horizon=7)
    mine = forecast[forecast[LOCATION] == "D-N9"]
    assert len(mine) == 7
    assert (mine.drop(columns=[SKU, LOCATION, DATE]).to_numpy() == 0.0).all()
    others = forecast[forecast[LOCATION] != "D-N9"]
    assert (others[FORECAST] > 0).any()
    # Twenty days without a sale (a SKU listed there last month) are not yet "never": its
    # models forecast it (the fallback's spread here), not the rule.
    recent = silent[silent[DATE] > silent[DATE].max() - pd.Timedelta(days=20)]
    forecast = fitted.predict(pd.concat([sales, recent], ignore_index=True), horizon=7)
    assert (forecast.loc[forecast[LOCATION] == "D-N9", "q0.95"] > 0).all()


def test_a_history_shorter_than_the_weeks_before_a_window_says_more_history_is_the_only_fix() -> (
    None
):
    # Less than the 24 weeks the models need before any window: no horizon helps (the error
    # once advised a shorter one).
    daily = generate_sales(SampleSpec(days=7 * 22))
    weekly = prepare_sales(daily[daily[SKU] == "SKU-001"], freq="W")
    config = ForecastConfig(freq="W", horizon=1, n_windows=1, models=("MA28",))
    with pytest.raises(ForecastingError, match=r"24 'W' periods before .*give more history$"):
        Forecaster(config).fit(weekly)


def test_a_year_of_weekly_sales_is_backtested_and_forecast_by_the_models() -> None:
    # 52 weeks, a 3 x 8 backtest: the models need 24 weeks before the windows, not the year
    # SeasonalNaive repeats (which asked 76 and refused every series). SeasonalNaive, with no
    # year to repeat, gives way to the fallback and says so.
    weekly = prepare_sales(generate_sales(SampleSpec(days=7 * 52)), freq="W")
    config = ForecastConfig(freq="W", horizon=8, models=("SeasonalNaive", "AutoETS"))
    fitted = Forecaster(config).fit(weekly)
    series = weekly.groupby([SKU, LOCATION]).ngroups
    assert len(fitted.short_series_) <= series // 10  # only those that first sold weeks later
    assert any("SeasonalNaive gave no usable forecast" in w for w in fitted.warnings_)
    assert "AutoETS" in fitted.selection_.models_used()
    forecast = fitted.predict()
    assert len(forecast) == 8 * series
    assert forecast[FORECAST].notna().all() and (forecast[FORECAST] >= 0).all()


def test_two_years_of_monthly_sales_are_backtested_and_forecast_by_the_models() -> None:
    # 24 months, a 3 x 3 backtest: the models need one year before the windows, not the two
    # seasons a 12-month season once asked (33 months, which refused every series). ETS and
    # Theta fit the season where a window has two years before it and fit without it where not.
    daily = generate_sales(SampleSpec(days=760))
    monthly = prepare_sales(daily, freq="MS")
    assert monthly[DATE].nunique() == 24
    config = ForecastConfig(freq="MS", horizon=3, models=("SeasonalNaive", "AutoETS", "Theta"))
    fitted = Forecaster(config).fit(monthly)
    series = monthly.groupby([SKU, LOCATION]).ngroups
    assert len(fitted.short_series_) <= series // 10  # only those that first sold months later
    assert set(fitted.selection_.models_used()) & {"SeasonalNaive", "AutoETS", "Theta"}
    forecast = fitted.predict()
    assert len(forecast) == 3 * series
    assert forecast[FORECAST].notna().all() and (forecast[FORECAST] >= 0).all()
    assert (forecast["q0.95"] >= forecast[FORECAST]).all()


def test_a_history_too_short_for_the_windows_asked_backtests_on_those_it_holds() -> None:
    # 60 days and a 28-day horizon: 14 days before the windows leave room for one window, not
    # three. It was refused outright ("no series has the 98 periods a 3 x 28 backtest needs").
    sample = generate_sales(SampleSpec(days=91))
    sales = sample[sample[DATE] > sample[DATE].max() - pd.Timedelta(days=60)]
    config = ForecastConfig(horizon=28, models=("MA28", "AutoETS"))
    fitted = Forecaster(config).fit(sales)
    assert fitted.config.n_windows == 1 and config.n_windows == 3
    assert any("room for 1 backtest window(s) of 28" in w for w in fitted.warnings_)
    assert fitted.backtest_[CUTOFF].nunique() == 1
    forecast = fitted.predict()
    assert len(forecast) == 28 * sales.groupby([SKU, LOCATION]).ngroups
    # 40 days hold no 28-day window after the 14 days: the horizon is the fix, not the windows
    with pytest.raises(ForecastingError, match=r"the longest has 40: lower --horizon or give"):
        Forecaster(config).fit(sales[sales[DATE] > sales[DATE].max() - pd.Timedelta(days=40)])
