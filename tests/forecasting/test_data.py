"""Loading, mapping, validation errors, zero-fill and aggregation of sales input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.columns import DATE, EVENT, LOCATION, PRICE, PROMO, SKU, UNITS
from forecasting.data import (
    PartialPeriodWarning,
    SalesNote,
    load_sales,
    parse_mapping,
    prepare_sales,
)
from forecasting.errors import SalesValidationError


def _raw(**overrides: list) -> pd.DataFrame:
    frame = {
        "item": ["A", "A", "A", "B"],
        "store": ["S1", "S1", "S1", "S2"],
        "day": ["2024-01-01", "2024-01-02", "2024-01-04", "2024-01-02"],
        "qty": [3, 0, 5, 1],
    }
    frame.update(overrides)
    return pd.DataFrame(frame)


MAPPING = {"item": "sku", "store": "location", "day": "date", "qty": "units"}


def test_parse_mapping_reads_the_cli_syntax() -> None:
    assert parse_mapping("item_id=sku, store_id=location,sales=units") == {
        "item_id": "sku",
        "store_id": "location",
        "sales": "units",
    }
    assert parse_mapping(None) == {}
    with pytest.raises(SalesValidationError, match="source=canonical"):
        parse_mapping("item_id")
    # pairs separated by something else than a comma are not one strange name
    with pytest.raises(SalesValidationError, match="'item_id=sku;store_id=location' is not"):
        parse_mapping("item_id=sku;store_id=location")


def test_mapping_zero_fills_missing_days_to_the_last_day() -> None:
    sales = prepare_sales(_raw(), mapping=MAPPING)
    a = sales[sales[SKU] == "A"]
    assert a[DATE].dt.strftime("%m-%d").tolist() == ["01-01", "01-02", "01-03", "01-04"]
    assert a[UNITS].tolist() == [3.0, 0.0, 0.0, 5.0]
    b = sales[sales[SKU] == "B"]  # starts on its first row, runs to the data set's last day
    assert b[DATE].dt.strftime("%m-%d").tolist() == ["01-02", "01-03", "01-04"]
    assert b[UNITS].tolist() == [1.0, 0.0, 0.0]


def test_missing_required_column_names_it_and_the_fix() -> None:
    with pytest.raises(SalesValidationError, match=r"'units' is missing.*--map") as info:
        prepare_sales(_raw(), mapping={"item": "sku", "store": "location", "day": "date"})
    assert info.value.column == UNITS


def test_unknown_mapping_source_is_named() -> None:
    with pytest.raises(SalesValidationError, match="'nope'"):
        prepare_sales(_raw(), mapping={**MAPPING, "nope": "price"})


def test_empty_input_is_refused() -> None:
    with pytest.raises(SalesValidationError, match="empty"):
        prepare_sales(_raw().iloc[0:0], mapping=MAPPING)


def test_negative_units_name_rows_and_fix() -> None:
    with pytest.raises(SalesValidationError, match=r"negative.*rows 2, 4.*from 0 to") as info:
        prepare_sales(_raw(qty=[3, -1, 5, -2]), source="sales.csv", mapping=MAPPING)
    assert (info.value.source, info.value.column, info.value.rows) == ("sales.csv", UNITS, [2, 4])


@pytest.mark.parametrize("huge", [float("inf"), 1e308, "inf"])
def test_infinite_or_overflowing_units_are_refused(huge: object) -> None:
    # They were accepted and made infinite forecasts.
    with pytest.raises(SalesValidationError, match=r"values above 1e\+12.*rows 3") as info:
        prepare_sales(_raw(qty=[3, 0, huge, 1]), source="sales.csv", mapping=MAPPING)
    assert (info.value.column, info.value.rows) == (UNITS, [3])


def test_non_numeric_units_name_rows() -> None:
    with pytest.raises(SalesValidationError, match=r"non-numeric.*'lots'.*rows 3") as info:
        prepare_sales(_raw(qty=[3, 0, "lots", 1]), mapping=MAPPING)
    assert info.value.rows == [3]


def test_unparsable_dates_name_rows_and_format() -> None:
    with pytest.raises(SalesValidationError, match=r"unparsable dates.*rows 2.*YYYY-MM-DD") as info:
        prepare_sales(
            _raw(day=["2024-01-01", "someday", "2024-01-04", "2024-01-02"]), mapping=MAPPING
        )
    assert info.value.column == DATE


def test_duplicate_keys_name_rows() -> None:
    day = ["2024-01-01", "2024-01-01", "2024-01-04", "2024-01-02"]
    with pytest.raises(SalesValidationError, match=r"duplicate.*rows 1, 2.*one row per") as info:
        prepare_sales(_raw(day=day), mapping=MAPPING)
    assert info.value.rows == [1, 2]


def test_empty_key_cells_are_named() -> None:
    with pytest.raises(SalesValidationError, match="'sku' is empty in rows 2"):
        prepare_sales(_raw(item=["A", None, "A", "B"]), mapping=MAPPING)


def test_weekly_aggregation_sums_and_drops_partial_weeks() -> None:
    days = pd.date_range("2024-01-01", "2024-01-24", freq="D")  # Monday .. Wednesday week 4
    raw = pd.DataFrame({SKU: "A", LOCATION: "S", DATE: days, UNITS: 1.0})
    with pytest.warns(
        PartialPeriodWarning,
        match=r"2024-01-22 \.\. 2024-01-28 .* 3 of its 7 days.*allocate --today 2024-01-25",
    ):
        weekly = prepare_sales(raw, freq="W")
    # Weeks end on Sunday; the week of 22-24 January is incomplete and dropped.
    assert weekly[DATE].dt.strftime("%m-%d").tolist() == ["01-07", "01-14", "01-21"]
    assert weekly[UNITS].tolist() == [7.0, 7.0, 7.0]


def test_a_period_that_lacks_only_days_the_shop_is_closed_is_whole() -> None:
    # Closed on Sundays, the file ends on a Saturday: its last week was dropped as 6 of 7 days.
    days = pd.date_range("2024-01-01", "2024-01-27", freq="D")
    days = days[days.dayofweek != 6]
    raw = pd.DataFrame({SKU: "A", LOCATION: "S", DATE: days, UNITS: 1.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error", PartialPeriodWarning)
        weekly = prepare_sales(raw, freq="W")
    assert weekly[UNITS].tolist() == [6.0, 6.0, 6.0, 6.0]
    # A Saturday left out too is a day of data missing: that week is partial.
    with pytest.warns(PartialPeriodWarning, match="5 of its 7 days"):
        prepare_sales(raw[raw[DATE] < "2024-01-27"], freq="W")


def test_a_partial_first_month_is_named_when_left_out() -> None:
    days = pd.date_range("2024-01-10", "2024-03-31", freq="D")
    raw = pd.DataFrame({SKU: "A", LOCATION: "S", DATE: days, UNITS: 1.0})
    with pytest.warns(PartialPeriodWarning, match=r"first period 2024-01-01 .* 22 of its 31"):
        monthly = prepare_sales(raw, freq="MS")
    assert monthly[UNITS].tolist() == [29.0, 31.0]


@pytest.mark.parametrize(
    ("freq", "labels"),
    [
        ("W", pd.date_range("2024-01-01", periods=4, freq="W-MON")),  # weeks by their Monday
        ("MS", pd.date_range("2024-01-01", periods=4, freq="MS")),  # months by their 1st
    ],
)
def test_totals_per_period_keep_their_newest_period(freq: str, labels: pd.DatetimeIndex) -> None:
    raw = pd.DataFrame({SKU: "A", LOCATION: "S", DATE: labels, UNITS: [5.0, 6.0, 7.0, 8.0]})
    periods = prepare_sales(raw, freq=freq)
    # the newest total was taken for a period cut short and dropped, then forecast again
    assert periods[UNITS].tolist() == [5.0, 6.0, 7.0, 8.0]


def test_region_level_sums_locations_and_needs_regions() -> None:
    raw = _raw(day=["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-02"], item=["A"] * 4)
    raw["state"] = ["CA", "CA", "CA", "CA"]
    sales = prepare_sales(raw, mapping={**MAPPING, "state": "region"}, level="region")
    assert sales[LOCATION].unique().tolist() == ["CA"]
    assert sales[UNITS].tolist() == [3.0, 1.0, 5.0]
    with pytest.raises(SalesValidationError, match="needs a 'region' column"):
        prepare_sales(_raw(), mapping=MAPPING, level="region")


def test_exogenous_price_carried_forward_flags_zero_filled_events_derived() -> None:
    raw = _raw(
        item=["A"] * 4,
        store=["S1"] * 4,
        day=["2024-01-01", "2024-01-02", "2024-01-04", "2024-01-05"],
    )
    raw["price"] = [2.0, None, 2.5, 2.5]
    raw["promo"] = [0, 1, 0, 0]
    raw["snap"] = [1, 0, 1, 0]
    raw["event_name_1"] = [None, "Easter", None, None]
    raw["week_code"] = [11101, 11101, 11101, 11102]  # not a flag, not known ahead: dropped
    sales = prepare_sales(raw, mapping=MAPPING)
    assert list(sales.columns) == [SKU, LOCATION, DATE, UNITS, PRICE, PROMO, "snap", EVENT]
    assert sales[PRICE].tolist() == [2.0, 2.0, 2.0, 2.5, 2.5]
    assert sales[PROMO].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert sales["snap"].tolist() == [1.0, 0.0, 0.0, 1.0, 0.0]
    assert sales[EVENT].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]


def test_a_price_is_not_invented_before_a_series_was_listed() -> None:
    # M5 leaves an item's price empty before its launch; filled backward, every pre-launch zero
    # looked listed. A sold day before the first price takes that price (it was on sale).
    raw = _raw(
        item=["A"] * 4 + ["B"] * 3,
        store=["S1"] * 7,
        day=[f"2024-01-0{d}" for d in (1, 2, 3, 4, 2, 3, 4)],
        qty=[0, 0, 2, 1, 4, 0, 1],
    )
    raw["price"] = [None, None, None, 3.0, None, 2.0, None]
    prices = prepare_sales(raw, mapping=MAPPING).groupby(SKU)[PRICE].apply(list)
    assert np.isnan(prices["A"][:2]).all()  # not listed yet: no price, no sale
    assert prices["A"][2:] == [3.0, 3.0]  # sold before its first price: that price
    assert prices["B"] == [2.0, 2.0, 2.0]


def test_days_apart_inside_a_stored_daily_span_are_an_update_not_a_weekly_file() -> None:
    days = ["2024-01-01", "2024-01-03", "2024-01-05", "2024-01-07"]
    raw = _raw(item=["A"] * 4, store=["S1"] * 4, day=days, qty=[1, 2, 3, 4])
    with pytest.raises(SalesValidationError, match="2 or more days apart"):
        prepare_sales(raw, mapping=MAPPING)
    span = (pd.Timestamp("2023-12-01"), pd.Timestamp("2024-01-10"))
    taken = prepare_sales(raw, mapping=MAPPING, only_days_sent=True, daily_span=span)
    assert taken[UNITS].tolist() == [1.0, 2.0, 3.0, 4.0]
    # a series dated only whole weeks apart is still refused, span or not
    mondays = _raw(
        item=["A"] * 4, store=["S1"] * 4, day=[f"2024-01-{d:02d}" for d in (8, 15, 22, 29)]
    )
    with pytest.raises(SalesValidationError, match="7 or more days apart"):
        prepare_sales(mondays, mapping=MAPPING, only_days_sent=True, daily_span=span)
    # nor month-end totals, whose steps (29, 31, 30 days) have no common week
    month_ends = _raw(
        item=["A"] * 4,
        store=["S1"] * 4,
        day=["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"],
    )
    long_span = (pd.Timestamp("2023-06-01"), pd.Timestamp("2024-05-31"))
    with pytest.raises(SalesValidationError, match="A at S1 29 or more days apart"):
        prepare_sales(month_ends, mapping=MAPPING, only_days_sent=True, daily_span=long_span)


def test_load_sales_reads_csv_and_parquet_alike(tmp_path: Path) -> None:
    raw = _raw()
    raw.to_csv(tmp_path / "s.csv", index=False)
    raw.to_parquet(tmp_path / "s.parquet", index=False)
    from_csv = load_sales(tmp_path / "s.csv", MAPPING)
    from_parquet = load_sales(tmp_path / "s.parquet", MAPPING)
    pd.testing.assert_frame_equal(from_csv, from_parquet)
    with pytest.raises(SalesValidationError, match="no such file"):
        load_sales(tmp_path / "absent.csv")
    (tmp_path / "s.xlsx").write_text("x")
    with pytest.raises(SalesValidationError, match="unsupported file type"):
        load_sales(tmp_path / "s.xlsx")


def test_m5_slice_maps_with_the_documented_map(m5_tiny_path: Path) -> None:
    mapping = parse_mapping(
        "item_id=sku,store_id=location,sales=units,state_id=region,sell_price=price"
    )
    sales = load_sales(m5_tiny_path, mapping, freq="W", level="region")
    assert set(sales[LOCATION]) == {"CA", "TX", "WI"}
    assert {"snap", EVENT, PRICE} <= set(sales.columns)
    assert sales.groupby([SKU, LOCATION]).size().nunique() == 1


def test_dates_given_as_numbers_are_refused() -> None:
    # 20240101 would be read as nanoseconds since 1970: "no history before 1969-12-18".
    with pytest.raises(SalesValidationError, match=r"holds numbers \(20240101 in row 1\)"):
        prepare_sales(_raw(day=[20240101, 20240102, 20240104, 20240102]), mapping=MAPPING)


@pytest.mark.parametrize(
    "day",
    [
        ["01/01/2024", "02/01/2024", "13/01/2024", "14/01/2024"],
        ["01.01.24", "02.01.24", "13.01.24", "14.01.24"],
    ],
)
def test_day_first_dates_are_read_day_first_where_a_day_above_12_says_so(day: list[str]) -> None:
    # Read in the order of the first row, 13/01 could not be a date; with a two-digit year
    # pandas read row by row, 02/01/24 as 1 February and 13/01/24 as 13 January.
    sales = prepare_sales(_raw(day=day), mapping=MAPPING)
    assert sales[DATE].min() == pd.Timestamp("2024-01-01")
    assert sales[DATE].max() == pd.Timestamp("2024-01-14")


def test_dates_no_order_of_day_and_month_fits_name_the_rows() -> None:
    day = ["01/01/2024", "02/01/2024", "13/01/2024", "01/14/2024"]
    with pytest.raises(SalesValidationError, match=r"'13/01/2024'.*rows 3"):
        prepare_sales(_raw(day=day), mapping=MAPPING)


@pytest.mark.parametrize("separator", ["/", ".", "-"])
def test_dates_whose_day_and_month_cannot_be_told_apart_are_refused(separator: str) -> None:
    # Monthly totals dated the 1st, day first: read month first, a year's months fell on
    # 1-12 January without a word.
    day = [f"01{separator}{month:02d}{separator}2024" for month in (1, 2, 3, 4)]
    with pytest.raises(SalesValidationError, match=r"day and month cannot be told apart.*ISO"):
        prepare_sales(_raw(day=day, item=["A"] * 4, store=["S1"] * 4), mapping=MAPPING, freq="MS")
    # One value over 12 settles the order: month first here.
    day = ["01/02/2024", "01/13/2024", "01/20/2024", "02/03/2024"]
    sales = prepare_sales(_raw(day=day), mapping=MAPPING)
    assert sales[DATE].min() == pd.Timestamp("2024-01-02")


def test_times_of_day_are_refused_rather_than_made_periods() -> None:
    day = ["2024-01-01 09:30", "2024-01-02", "2024-01-04 17:00", "2024-01-02"]
    with pytest.raises(SalesValidationError, match=r"times of day.*rows 1, 3.*one row per") as info:
        prepare_sales(_raw(day=day), mapping=MAPPING)
    assert info.value.rows == [1, 3]


def test_dates_with_a_time_zone_keep_their_local_day() -> None:
    raw = _raw()
    raw["day"] = pd.to_datetime(raw["day"]).dt.tz_localize("US/Pacific")
    sales = prepare_sales(raw, mapping=MAPPING)
    assert sales[DATE].dt.strftime("%m-%d").tolist()[:4] == ["01-01", "01-02", "01-03", "01-04"]


def test_text_dates_across_a_daylight_saving_change_keep_their_local_day() -> None:
    # Written by pandas from Europe/Berlin: +01:00 up to 03-30, +02:00 from 03-31. Read as UTC
    # the midnights were 23:00 the day before, refused as "times of day (2024-03-29 23:00)".
    day = [
        "2024-03-30 00:00:00+01:00",
        "2024-03-31T00:00:00+02:00",
        "2024-04-01 00:00:00+0200",
        "2024-03-31T00:00:00Z",
    ]
    sales = prepare_sales(_raw(day=day), mapping=MAPPING)
    a = sales[sales[SKU] == "A"]
    assert a[DATE].dt.strftime("%m-%d").tolist() == ["03-30", "03-31", "04-01"]
    assert sales[sales[SKU] == "B"][DATE].dt.strftime("%m-%d").tolist() == ["03-31", "04-01"]
    hours = ["2024-03-30T00:00:00+01", "2024-03-31T00:00:00+02", "2024-04-01T00:00:00+02"]
    hours_only = prepare_sales(_raw(day=[*hours, hours[1]]), mapping=MAPPING)
    assert hours_only[DATE].dt.strftime("%m-%d").unique().tolist() == ["03-30", "03-31", "04-01"]
    one_offset = [f"2024-03-{d}T00:00:00+01" for d in (27, 28, 29, 28)]  # one zone throughout
    assert prepare_sales(_raw(day=one_offset), mapping=MAPPING)[DATE].dt.hour.eq(0).all()
    bad = [
        day[0],
        day[0].replace("30", "31"),
        "2024-04-01 00:00:00+02:00",
        "2024-13-01 00:00+01:00",
    ]
    with pytest.raises(
        SalesValidationError, match=r"unparsable dates \('2024-13-01 00:00\+01:00'\)"
    ):
        prepare_sales(_raw(day=bad), mapping=MAPPING)


def test_ids_stored_as_whole_floats_read_as_the_integers_they_are() -> None:
    # A Parquet file's float sku 7.0 was the series "7.0", matching no "7" of a network file
    sales = prepare_sales(
        _raw(item=[7.0, 7.0, 7.0, 8.0], store=[1.0, 1.0, 1.0, 2.5]), mapping=MAPPING
    )
    assert sorted(set(sales[SKU])) == ["7", "8"] and sorted(set(sales[LOCATION])) == ["1.0", "2.5"]
    huge = prepare_sales(_raw(item=[1e19, 1e19, 1e19, 2e19]), mapping=MAPPING)  # two SKUs
    assert sorted(set(huge[SKU])) == ["1e+19", "2e+19"]


def test_a_sku_with_the_series_key_separator_is_refused() -> None:
    with pytest.raises(SalesValidationError, match=r"'\|' in 'A\|1'.*rows 1, 2, 3"):
        prepare_sales(_raw(item=["A|1", "A|1", "A|1", "B"]), mapping=MAPPING)


def test_a_location_in_two_regions_is_refused_at_any_level() -> None:
    raw = _raw(region=["north", "north", "south", "east"])
    with pytest.raises(
        SalesValidationError, match=r"'S1' belongs to several regions.*'north', 'south'"
    ):
        prepare_sales(raw, mapping=MAPPING)


@pytest.mark.parametrize(("step", "shown"), [("7D", "7 or more days apart"), ("MS", "29 or more")])
def test_weekly_or_monthly_totals_are_not_read_as_days(step: str, shown: str) -> None:
    day = pd.date_range("2024-01-07", periods=4, freq=step).strftime("%Y-%m-%d").tolist()
    with pytest.raises(SalesValidationError, match=rf"{shown}.*not daily.*--freq W or MS"):
        prepare_sales(_raw(day=day, item=["A"] * 4, store=["S1"] * 4), mapping=MAPPING)


def test_monthly_totals_are_not_read_as_weeks() -> None:
    # Each month's sales fell in one week, the other weeks zero-filled.
    day = pd.date_range("2024-01-01", periods=4, freq="MS").strftime("%Y-%m-%d").tolist()
    raw = _raw(day=day, item=["A"] * 4, store=["S1"] * 4)
    with pytest.raises(SalesValidationError, match=r"29 or more days apart.*not weeks.*--freq MS"):
        prepare_sales(raw, mapping=MAPPING, freq="W")
    assert len(prepare_sales(raw, mapping=MAPPING, freq="MS")) == 4
    weekly = _raw(day=["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"], item=["A"] * 4,
                  store=["S1"] * 4)  # fmt: skip
    assert len(prepare_sales(weekly, mapping=MAPPING, freq="W")) == 4


def test_sparse_daily_rows_are_still_daily() -> None:
    day = ["2024-01-01", "2024-01-03", "2024-01-08", "2024-01-10"]
    sales = prepare_sales(_raw(day=day, item=["A"] * 4, store=["S1"] * 4), mapping=MAPPING)
    assert len(sales) == 10


def test_csv_ids_keep_their_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text("item,store,day,qty\n000,007,2024-01-01,3\n010,007,2024-01-01,1\n")
    sales = load_sales(path, mapping=MAPPING)
    assert sorted(sales[SKU]) == ["000", "010"]
    assert set(sales[LOCATION]) == {"007"}


def test_two_columns_mapped_to_one_name_are_refused() -> None:
    with pytest.raises(SalesValidationError, match=r"'item_id' and 'dept_id' both to 'sku'"):
        parse_mapping("item_id=sku,dept_id=sku,store_id=location")
    # one column mapped twice kept the last, then missed the first ("'sku' is missing")
    with pytest.raises(SalesValidationError, match=r"'item_id' twice, to 'sku' and to 'region'"):
        parse_mapping("item_id=sku,store_id=location,item_id=region")


@pytest.mark.parametrize("mapped_first", [True, False])
def test_the_mapped_column_wins_over_one_of_its_name_wherever_it_stands(
    mapped_first: bool,
) -> None:
    # `sales` mapped to units beside a `units` column of its own (a pack size, say): the file's
    # order decided which one was read, and with `units` last the forecast used the pack size.
    raw = _raw().rename(columns={"qty": "sales"})
    raw["units"] = 1.0
    if not mapped_first:
        raw = raw[[c for c in raw.columns if c != "sales"] + ["sales"]]
    mapping = {"item": "sku", "store": "location", "day": "date", "sales": "units"}
    sales = prepare_sales(raw, mapping=mapping)
    assert sales[UNITS].sum() == raw["sales"].sum()


@pytest.mark.parametrize(
    ("columns", "hint"),
    [
        (["SKU", "store", "day", "qty"], r"--map SKU=sku \(names are case-sensitive\)"),
        (["sku;location;date;units"], "separated by ';'"),
    ],
)
def test_a_missing_column_hints_at_case_or_separator(columns: list[str], hint: str) -> None:
    frame = pd.DataFrame([["x"] * len(columns)], columns=columns)
    with pytest.raises(SalesValidationError, match=hint):
        prepare_sales(
            frame,
            mapping={"store": "location", "day": "date", "qty": "units"}
            if len(columns) > 1
            else None,
        )
    if len(columns) == 1:  # with --map too: it said only which mapped column was missing
        with pytest.raises(SalesValidationError, match=r"not in the input.*separated by ';'"):
            prepare_sales(frame, mapping={"item": "sku"})


def test_weekly_totals_dated_on_another_weekday_per_series_are_not_read_as_days() -> None:
    # Together the dates looked daily; each series was weekly, 86 % of its days zero-filled.
    frames = [
        _raw(
            day=pd.date_range(start, periods=5, freq="7D").strftime("%Y-%m-%d").tolist(),
            item=[sku] * 5,
            store=["S1"] * 5,
            qty=[70] * 5,
        )
        for sku, start in (("A", "2024-01-01"), ("B", "2024-01-04"), ("C", "2024-01-06"))
    ]
    with pytest.raises(SalesValidationError, match=r"7 or more days apart \(A at S1: 2024-01-01"):
        prepare_sales(pd.concat(frames, ignore_index=True), mapping=MAPPING)
    # A series that sells on Mondays only, beside a daily one, is daily history.
    daily = _raw(
        day=pd.date_range("2024-01-01", periods=10).strftime("%Y-%m-%d").tolist(),
        item=["D"] * 10,
        store=["S1"] * 10,
        qty=[1] * 10,
    )
    assert len(prepare_sales(pd.concat([frames[0], daily]), mapping=MAPPING)) > 0
    # Sparse daily rows whose series happen to be two days apart are daily history too.
    sparse = _raw(
        day=[
            *("2024-01-01", "2024-01-03", "2024-01-05", "2024-01-09"),  # A
            *("2024-01-02", "2024-01-04", "2024-01-08", "2024-01-10"),  # B
        ],
        item=["A"] * 4 + ["B"] * 4,
        store=["S1"] * 8,
        qty=[1] * 8,
    )
    assert len(prepare_sales(sparse, mapping=MAPPING)) == 10 + 9  # each from its first day


def test_a_series_dated_only_whole_weeks_apart_among_daily_ones_is_noted() -> None:
    # 70 every Monday for ten weeks beside daily series: read as daily (a market day) it is a
    # third of a weekly total's demand, so it is said; a daily series alone says nothing.
    days = pd.date_range("2024-01-01", periods=70, freq="D")
    daily = pd.DataFrame({SKU: "A", LOCATION: "S", DATE: days, UNITS: 1.0})
    mondays = pd.DataFrame({SKU: "W1", LOCATION: "S", DATE: days[::7], UNITS: 70.0})
    with pytest.warns(SalesNote, match=r"1 series have dates only whole weeks apart \(W1 at S\)"):
        prepare_sales(pd.concat([daily, mondays]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SalesNote)
        prepare_sales(daily)
