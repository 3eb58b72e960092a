"""The seeded sales sample: reproducible, realistic, and what the repository ships."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecasting.columns import DATE, LOCATION, PROMO, REGION, SKU, UNITS
from forecasting.data import load_sales
from forecasting.sample import LOCATIONS, SKUS, SampleSpec, generate_sales


def test_sample_is_seeded_and_follows_the_contract() -> None:
    spec = SampleSpec(days=120)
    first, second = generate_sales(spec), generate_sales(spec)
    pd.testing.assert_frame_equal(first, second)
    assert set(first[SKU]) == set(SKUS) and set(first[LOCATION]) == set(LOCATIONS)
    assert set(first[REGION]) == {"north", "east", "south"}
    assert all(first[LOCATION].str[-2] == first[REGION].str[0].str.upper())
    assert not generate_sales(SampleSpec(days=120, seed=8)).equals(first)


def test_sample_has_fast_and_intermittent_skus_weekly_pattern_and_promos() -> None:
    sales = generate_sales(SampleSpec(days=364))
    zero_share = sales.groupby(SKU)[UNITS].apply(lambda u: (u == 0).mean())
    assert zero_share.min() < 0.1 and zero_share.max() > 0.6
    by_weekday = sales.groupby(sales[DATE].dt.dayofweek)[UNITS].mean()
    assert by_weekday[5] > 1.2 * by_weekday[0]  # Saturday busier than Monday
    assert 0 < sales[PROMO].mean() < 0.2


def test_shipped_sample_loads_and_is_small(repo_root: Path) -> None:
    path = repo_root / "data" / "samples" / "sales.parquet"
    assert path.stat().st_size < 1_000_000
    pd.testing.assert_frame_equal(pd.read_parquet(path), generate_sales(SampleSpec()))
    sales = load_sales(path)
    assert len(sales) == len(SKUS) * len(LOCATIONS) * SampleSpec().days


def test_a_sample_too_short_for_its_price_changes_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 91 days, not 30"):
        SampleSpec(days=30)
