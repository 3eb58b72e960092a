"""Rolling-origin backtest: windows, all families on the same rows, failures named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.backtest import fill_missing_forecasts, run_backtest
from forecasting.columns import CUTOFF, DS, UNIQUE_ID, Y
from forecasting.models import to_long
from forecasting.sample import SampleSpec, generate_sales


@pytest.fixture(scope="module")
def long() -> pd.DataFrame:
    sales = generate_sales(SampleSpec(days=120))
    keep = sales["sku"].isin(["SKU-001", "SKU-003"]) & sales["location"].isin(["FW-S1", "D-N2"])
    return to_long(sales[keep].drop(columns="region").astype({"units": "float64"}))


def test_windows_are_the_last_k_horizons_without_overlap(long: pd.DataFrame) -> None:
    result = run_backtest(long, ["SeasonalNaive", "AutoETS", "LightGBM"], 14, 3, "D")
    last = long[DS].max()
    expected = [last - pd.Timedelta(days=14 * k) for k in (3, 2, 1)]
    assert sorted(result.table[CUTOFF].unique()) == expected
    assert result.models == ["SeasonalNaive", "MA28", "AutoETS", "LightGBM"]  # fallback added
    assert len(result.table) == 4 * 14 * 3
    assert np.isfinite(result.table[result.models].to_numpy()).all()
    # Every forecast is for a day after its cutoff and within the horizon.
    lead = (result.table[DS] - result.table[CUTOFF]).dt.days
    assert lead.between(1, 14).all()
    actual = result.table.merge(
        long[[UNIQUE_ID, DS, Y]], on=[UNIQUE_ID, DS], suffixes=("", "_true")
    )
    np.testing.assert_allclose(actual[Y], actual[f"{Y}_true"])


def test_the_fallback_has_a_value_where_fewer_periods_than_its_window_came_before(
    long: pd.DataFrame,
) -> None:
    short = long[long[DS] > long[DS].max() - pd.Timedelta(days=60)]  # 18 days before window 1
    table = run_backtest(short, ["SeasonalNaive"], 14, 3, "D").table
    assert np.isfinite(table[["SeasonalNaive", "MA28"]].to_numpy()).all()
    first = table[table[CUTOFF] == table[CUTOFF].min()]
    known = short[short[DS] <= first[CUTOFF].iloc[0]]
    expected = first[UNIQUE_ID].map(known.groupby(UNIQUE_ID)[Y].mean())  # all 18 days
    np.testing.assert_allclose(first["MA28"], expected)


def test_unknown_models_are_refused(long: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="unknown model 'Prophet'"):
        run_backtest(long, ["Prophet"], 7, 1, "D")


def test_missing_forecasts_fall_back_and_name_the_series() -> None:
    table = pd.DataFrame(
        {
            UNIQUE_ID: ["a|X", "a|X", "b|Y"],
            "MA28": [1.0, 2.0, 3.0],
            "AutoETS": [np.nan, 5.0, np.inf],
        }
    )
    warnings = fill_missing_forecasts(table, ["MA28", "AutoETS"], "MA28")
    assert table["AutoETS"].tolist() == [1.0, 5.0, 3.0]
    assert len(warnings) == 1 and "AutoETS" in warnings[0] and "a|X, b|Y" in warnings[0]
