"""Conformal quantiles: near-nominal coverage on fresh draws, never crossing, never negative."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.calibration import fit_calibration, local_scale, quantile_forecasts
from forecasting.columns import CUTOFF, DS, UNIQUE_ID, Y
from forecasting.models import fallback_mae

LEVELS = (0.5, 0.9, 0.95)


def _draw(rng: np.random.Generator, n_per_series: int) -> pd.DataFrame:
    """Poisson demand around known means: 20 series from 0.3 to 40 units a day."""
    means = np.geomspace(0.3, 40, 20)
    ids = np.repeat([f"s{i}|L" for i in range(20)], n_per_series)
    mean = np.repeat(means, n_per_series)
    return pd.DataFrame({UNIQUE_ID: ids, "f": mean, Y: rng.poisson(mean).astype(float)})


def test_coverage_is_near_nominal_out_of_sample() -> None:
    rng = np.random.default_rng(0)
    calibration = fit_calibration(_draw(rng, 200), "f", {}, LEVELS)
    fresh = _draw(rng, 200)
    quantiles = quantile_forecasts(fresh, "f", {}, calibration)
    for level in LEVELS[1:]:
        share = float(np.mean(fresh[Y].to_numpy() <= quantiles[level]))
        assert share == pytest.approx(level, abs=0.03)


def test_quantiles_are_ordered_and_not_negative() -> None:
    rng = np.random.default_rng(1)
    backtest = _draw(rng, 50)
    segments = {
        uid: ("slow" if i < 10 else "fast") for i, uid in enumerate(backtest[UNIQUE_ID].unique())
    }
    calibration = fit_calibration(backtest, "f", segments, LEVELS, min_points=100)
    assert {"all", "slow", "fast"} <= set(calibration.multipliers.index)
    quantiles = quantile_forecasts(backtest, "f", segments, calibration)
    assert (quantiles[0.5] >= 0).all()
    assert (quantiles[0.5] <= quantiles[0.9]).all() and (quantiles[0.9] <= quantiles[0.95]).all()


def test_small_segments_use_the_pooled_multiplier() -> None:
    rng = np.random.default_rng(2)
    backtest = _draw(rng, 20)
    calibration = fit_calibration(backtest, "f", {"s0|L": "rare"}, LEVELS, min_points=200)
    assert "rare" not in calibration.multipliers.index
    assert calibration.multiplier("rare", 0.9) == calibration.multiplier("all", 0.9)


def test_unseen_series_get_a_scale_from_their_own_level() -> None:
    rng = np.random.default_rng(3)
    calibration = fit_calibration(_draw(rng, 100), "f", {}, LEVELS)
    new = pd.DataFrame({UNIQUE_ID: ["new|L"] * 3, "f": [10.0, 10.0, 10.0]})
    quantiles = quantile_forecasts(new, "f", {}, calibration)
    assert np.all(quantiles[0.9] > 10.0) and np.all(np.isfinite(quantiles[0.95]))


def test_local_scale_widens_with_the_forecast() -> None:
    scale = local_scale(np.array([2.0, 2.0, 2.0]), np.array([1.0, 4.0, 100.0]), np.array([1.0] * 3))
    np.testing.assert_allclose(scale, [2.0, 4.0, 6.0])  # sqrt ratio, clipped at 3


def test_an_unseen_series_is_as_uncertain_as_the_seen_ones_of_its_segment() -> None:
    rng = np.random.default_rng(4)
    means = np.concatenate([np.geomspace(0.3, 1.0, 10), np.geomspace(20, 40, 10)])
    ids = [f"s{i}|L" for i in range(20)]
    backtest = pd.DataFrame(
        {
            UNIQUE_ID: np.repeat(ids, 200),
            "f": np.repeat(means, 200),
            Y: rng.poisson(np.repeat(means, 200)).astype(float),
        }
    )
    segments = {uid: ("slow" if i < 10 else "fast") for i, uid in enumerate(ids)}
    calibration = fit_calibration(backtest, "f", segments, LEVELS)
    frame = pd.DataFrame({UNIQUE_ID: ["s19|L", "new|L"], "f": [40.0, 40.0]})
    upper = quantile_forecasts(frame, "f", {**segments, "new|L": "fast"}, calibration)[0.95]
    seen, new = upper - 40.0
    # the median relative error of all series (half of them slow, Poisson-noisy) made it 4x
    assert new == pytest.approx(seen, rel=0.25)


def test_coverage_holds_with_few_backtest_errors_a_series() -> None:
    # Months: 3 windows x 3 periods = 9 errors a series, whose spread drifts from one window to
    # the next as demand's does. Divided by a MAE that holds it, a residual looks closer than a
    # future error (no more than 9 MAEs away, and never off a window's own drift): the 90 %
    # interval held 76 % of the next months on M5 summed to SKU-state-months (helper-54), here
    # the 95 % quantile 92.7 %. Scaled by the MAE of the other windows, each residual is spread
    # as a future error is.
    rng = np.random.default_rng(3)
    means = np.geomspace(5, 500, 400)

    def draw(cutoffs: int) -> pd.DataFrame:
        n = 3 * cutoffs
        ids = np.repeat([f"s{i}|L" for i in range(len(means))], n)
        cutoff = np.tile(np.repeat(np.arange(cutoffs), 3), len(means))
        drift = np.repeat(rng.lognormal(0.0, 0.5, (len(means), cutoffs)).ravel(), 3)
        mean = np.repeat(means, n)
        y = np.maximum(0.0, rng.normal(mean, 0.2 * mean * drift))
        return pd.DataFrame({UNIQUE_ID: ids, CUTOFF: cutoff, "f": mean, Y: y})

    calibration = fit_calibration(draw(3), "f", {}, LEVELS)
    fresh = draw(5)
    quantiles = quantile_forecasts(fresh, "f", {}, calibration)
    for level in LEVELS[1:]:
        share = float(np.mean(fresh[Y].to_numpy() <= quantiles[level]))
        assert share == pytest.approx(level, abs=0.015)


def test_an_unseen_series_that_errs_more_than_the_typical_one_gets_its_own_scale() -> None:
    # A young series (a launch ramping up) errs more than the established ones the backtest
    # measured: scaled by their typical relative error its 90 % interval held 74 % of the next
    # months on the M5 slice. Its fallback's error over its own history sets the scale where
    # that is the larger; a calm one keeps the typical floor.
    rng = np.random.default_rng(5)
    means = np.repeat(np.geomspace(20, 40, 20), 200)  # Poisson: a relative error of 0.15-0.2
    backtest = pd.DataFrame(
        {UNIQUE_ID: np.repeat([f"s{i}|L" for i in range(20)], 200), "f": means}
    ).assign(**{Y: rng.poisson(means).astype(float)})
    calibration = fit_calibration(backtest, "f", {}, LEVELS)
    history = pd.DataFrame(
        {
            UNIQUE_ID: "new|L",
            DS: pd.date_range("2024-01-01", periods=120),
            Y: np.maximum(0.0, rng.normal(20.0, 12.0, 120)).round(),
        }
    )
    own = fallback_mae(history, 7, "D")
    fresh = pd.DataFrame({UNIQUE_ID: "new|L", "f": np.full(4000, 20.0)})
    actual = np.maximum(0.0, rng.normal(20.0, 12.0, 4000)).round()
    typical = quantile_forecasts(fresh, "f", {}, calibration)[0.95]
    scaled = quantile_forecasts(fresh, "f", {}, calibration, own)[0.95]
    assert float(np.mean(actual <= typical)) < 0.8
    assert float(np.mean(actual <= scaled)) == pytest.approx(0.95, abs=0.03)
    calm = pd.Series({"new|L": 0.01})
    np.testing.assert_allclose(quantile_forecasts(fresh, "f", {}, calibration, calm)[0.95], typical)


def test_series_that_never_err_do_not_collapse_the_intervals_of_the_others() -> None:
    # 40 SKU-locations that sold nothing and were forecast nothing beside 4 that sell (a
    # catalogue with dead listings): their residuals, 0 over a scale of nothing, were 91 % of
    # the pool, so every quantile's multiplier was 0 and q0.5 = q0.9 = q0.95 = the forecast of
    # the selling series (allocate then held no safety stock). They say nothing of how far a
    # forecast errs and are left out of the pool.
    rng = np.random.default_rng(6)
    rows = []
    for i, mean in enumerate([1.0, 3.0, 6.0, 12.0]):
        for cutoff in range(3):
            y = rng.poisson(mean, 14).astype(float)
            rows.append(pd.DataFrame({UNIQUE_ID: f"s{i}|L", CUTOFF: cutoff, "f": mean, Y: y}))
    for i in range(40):
        for cutoff in range(3):
            rows.append(
                pd.DataFrame({UNIQUE_ID: f"z{i}|L", CUTOFF: cutoff, "f": 0.0, Y: [0.0] * 14})
            )
    backtest = pd.concat(rows, ignore_index=True)
    calibration = fit_calibration(backtest, "f", {}, LEVELS)
    selling = backtest[backtest[UNIQUE_ID].str.startswith("s")]
    quantiles = quantile_forecasts(selling, "f", {}, calibration)
    assert np.all(quantiles[0.9] > selling["f"].to_numpy() + 0.5)
    share = float(np.mean(selling[Y].to_numpy() <= quantiles[0.9]))
    assert share == pytest.approx(0.9, abs=0.05)
    zero = quantile_forecasts(backtest[backtest[UNIQUE_ID] == "z0|L"], "f", {}, calibration)
    assert np.all(zero[0.95] < 0.01)  # a dead listing keeps an interval of nothing


def test_a_relaunch_after_silent_windows_does_not_blow_up_every_series_interval() -> None:
    # A listing silent for two backtest windows sells 172 units in the third (M5's
    # HOUSEHOLD_1_272 at CA_1). Scaled by its quiet windows' error alone, those residuals reached
    # 267 and set q0.95 of the only other series (0.9 a day, never above 4) at 234 a day.
    rng = np.random.default_rng(6)
    days = 28
    steady = pd.DataFrame(
        {
            UNIQUE_ID: "steady|L",
            CUTOFF: np.repeat([0, 1, 2], days),
            "f": 0.9,
            Y: rng.poisson(0.9, 3 * days).astype(float),
        }
    )
    relaunch = np.r_[np.zeros(2 * days), rng.poisson(6.0, days)].astype(float)
    forecast = np.r_[np.full(days, 0.1), np.full(days, 0.01), np.full(days, 0.01)]
    back = pd.DataFrame(
        {UNIQUE_ID: "back|L", CUTOFF: np.repeat([0, 1, 2], days), "f": forecast, Y: relaunch}
    )
    calibration = fit_calibration(pd.concat([steady, back], ignore_index=True), "f", {}, LEVELS)
    assert calibration.multiplier("all", 0.95) < 20.0
    upper = quantile_forecasts(steady.head(1), "f", {}, calibration)[0.95]
    assert float(upper[0]) < 15.0
