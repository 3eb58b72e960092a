"""Stock and demand frames: unknown SKU or node, negative stock, empty demand name the item."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
import pytest

import allocation as al
from allocation.errors import AllocationInputError
from allocation.inputs import series_outside_network
from tests.allocation.conftest import demand_frame, stock_frame


@pytest.fixture
def network(one_lane: dict[str, Any]) -> al.Network:
    return al.Network.model_validate(one_lane)


def test_unknown_sku_in_stock_is_named(network: al.Network) -> None:
    with pytest.raises(AllocationInputError) as caught:
        al.validate_stock(stock_frame([("S", "CW", 1), ("NOPE", "CW", 1)]), network)
    assert (
        caught.value.item == "NOPE"
        and caught.value.field == "sku"
        and "row(s) [1]" in str(caught.value)
    )


def test_unknown_node_in_stock_is_named(network: al.Network) -> None:
    with pytest.raises(AllocationInputError) as caught:
        al.validate_stock(stock_frame([("S", "MARS", 1)]), network)
    assert caught.value.item == "MARS" and caught.value.field == "node"


def test_negative_stock_names_column_and_row(network: al.Network) -> None:
    with pytest.raises(AllocationInputError) as caught:
        al.validate_stock(stock_frame([("S", "CW", 1), ("S", "FW", -3)]), network)
    assert caught.value.field == "on_hand" and "[1]" in str(caught.value)


def test_in_transit_needs_an_arrival_date(network: al.Network) -> None:
    stock = stock_frame([("S", "CW", 1)]).assign(in_transit=[5.0])
    with pytest.raises(AllocationInputError) as caught:
        al.validate_stock(stock, network)
    assert caught.value.field == "arrival_date" and caught.value.item == "S@CW"


def test_empty_demand_is_an_error(network: al.Network) -> None:
    empty = demand_frame({("S", "FW"): 1.0}).iloc[0:0]
    with pytest.raises(AllocationInputError, match="demand is empty"):
        al.validate_demand(empty, network)


def test_unknown_demand_location_is_named(network: al.Network) -> None:
    # CW is a central warehouse: it has no demand of its own.
    with pytest.raises(AllocationInputError) as caught:
        al.validate_demand(demand_frame({("S", "CW"): 1.0}), network)
    assert caught.value.item == "CW" and caught.value.field == "location"
    assert "central warehouse 'CW'" in str(caught.value)  # it said "unknown"
    with pytest.raises(AllocationInputError, match="unknown demand location 'MARS'"):
        al.validate_demand(demand_frame({("S", "MARS"): 1.0}), network)


def test_numeric_keys_become_the_network_s_text_ids(one_lane: dict[str, Any]) -> None:
    network = al.Network.model_validate({**one_lane, "skus": [{"id": "7"}]})
    stock = al.validate_stock(stock_frame([(7, "CW", 1)]), network)  # type: ignore[list-item]
    demand = al.validate_demand(demand_frame({(7, "FW"): 1.0}, days=2), network)  # type: ignore[dict-item]
    assert stock["sku"].tolist() == ["7"] and demand["sku"].tolist() == ["7", "7"]
    # as floats (a Parquet column of them): "7.0" was an unknown SKU
    floats = demand_frame({(7.0, "FW"): 1.0}, days=2)  # type: ignore[dict-item]
    assert al.validate_demand(floats, network)["sku"].tolist() == ["7", "7"]
    from allocation.inputs import _keys_as_text

    huge = pd.DataFrame({"sku": [1e19, 2e19]})  # both read as int64's minimum
    _keys_as_text(huge, ("sku",), "demand")
    assert huge["sku"].tolist() == ["1e+19", "2e+19"]


def test_demand_in_network_leaves_out_what_the_network_lacks_by_its_text_ids(
    one_lane: dict[str, Any],
) -> None:
    """Numeric ids (a Parquet column of them) are the network's text ids before anything is
    left out: SKU 7 is planned, 8 is named with its rows and units."""
    network = al.Network.model_validate({**one_lane, "skus": [{"id": "7"}]})
    rates = {(7.0, "FW"): 1.0, (8.0, "FW"): 2.0, (7.0, "CW"): 0.5}
    kept, note = al.demand_in_network(demand_frame(rates, days=3), network)  # type: ignore[arg-type]
    assert kept["sku"].tolist() == ["7"] * 3 and kept["location"].tolist() == ["FW"] * 3
    assert kept.index.tolist() == [0, 1, 2]
    assert note == (
        "6 of 9 forecast rows (7.5 of 10.5 units) are outside the network and left out of the "
        "plan: 1 SKU(s) not in the network (3 rows, 6.0 units): 8 (3 rows, 6.0 units); "
        "1 location(s) that are no demand location of the network (3 rows, 1.5 units): CW is "
        "a central warehouse, not a demand location (3 rows, 1.5 units)"
    )
    outside = series_outside_network(al.validate_demand(kept, network), network)
    assert outside.empty and list(outside) == ["sku", "location", "why", "rows", "units"]
    everything, none_left = al.demand_in_network(demand_frame({(7, "FW"): 1.0}), network)  # type: ignore[dict-item]
    assert none_left is None and len(everything) == 28


def test_an_empty_key_names_its_rows(network: al.Network) -> None:
    demand = demand_frame({("S", "FW"): 1.0}, days=3)
    demand.loc[[0, 2], "location"] = None
    with pytest.raises(AllocationInputError) as caught:
        al.validate_demand(demand, network)
    assert caught.value.field == "location" and "row(s) [0, 2]" in str(caught.value)
    stock = stock_frame([("S", "CW", 1), ("S", "FW", 1)])
    stock.loc[1, "sku"] = None
    with pytest.raises(AllocationInputError, match=r"empty 'sku' at row\(s\) \[1\]"):
        al.validate_stock(stock, network)


def test_validation_leaves_the_caller_s_frame_as_it_was(network: al.Network) -> None:
    demand = demand_frame({("S", "FW"): 1.0}, days=3).set_axis([10, 11, 12])
    before = demand.copy()
    checked = al.validate_demand(demand, network)
    pd.testing.assert_frame_equal(demand, before)
    assert checked.index.tolist() == [0, 1, 2]


def test_stock_file_round_trip(network: al.Network, tmp_path) -> None:
    path = tmp_path / "stock.csv"
    pd.DataFrame({"sku": ["S"], "node": ["CW"], "on_hand": [4]}).to_csv(path, index=False)
    stock = al.load_stock(path, network)
    assert stock["in_transit"].tolist() == [0.0] and stock["on_hand"].tolist() == [4.0]


def test_amounts_beyond_what_the_solver_can_hold_and_parquet_named_csv_are_named(
    network: al.Network, tmp_path
) -> None:
    # 1e18 on hand left HiGHS with status 'Empty', naming no file, column or row.
    path = tmp_path / "stock.csv"
    pd.DataFrame({"sku": ["S"], "node": ["CW"], "on_hand": [1e18]}).to_csv(path, index=False)
    with pytest.raises(
        al.AllocationInputError, match=r"'on_hand' fails .*<= 1e\+15.*row\(s\) \[0\]"
    ):
        al.load_stock(path, network)
    pd.DataFrame({"sku": ["S"], "node": ["CW"], "on_hand": [1e15]}).to_parquet(path)
    with pytest.raises(al.AllocationInputError, match=r"it is a Parquet file: name it \.parquet"):
        al.load_stock(path, network)


def test_stock_arrival_dates_read_the_same_with_or_without_the_network(
    network: al.Network, tmp_path
) -> None:
    # Read without the network (as `allocate` reads its files), 20260301 was nanoseconds since
    # 1970: stock arriving in March was counted as there on the first day.
    path = tmp_path / "stock.csv"
    path.write_text("sku,node,on_hand,in_transit,arrival_date\nS,CW,0,100,20260301\n")
    for stock in (al.load_stock(path), al.load_stock(path, network)):
        assert stock["arrival_date"].tolist() == [pd.Timestamp("2026-03-01")]
    path.write_text("sku,node,on_hand,in_transit,arrival_date\nS,CW,0,100,next week\n")
    with pytest.raises(al.AllocationInputError, match=r"arrival_date.*'next week'.*YYYY-MM-DD"):
        al.load_stock(path)


def test_a_large_stock_file_with_late_arrival_dates_reads_without_a_dtype_warning(
    tmp_path,
) -> None:
    # Chunked type inference saw an empty arrival_date column first and dates later: mixed
    # types and a DtypeWarning on every large plan (10,000 SKUs x 50 locations).
    rows = 300_000
    path = tmp_path / "stock.csv"
    arrival = [""] * (rows - 1) + ["2026-12-03"]
    skus = [f"S{i}" for i in range(rows)]
    pd.DataFrame(
        {"sku": skus, "node": "CW", "on_hand": 1.0, "in_transit": 0.0, "arrival_date": arrival}
    ).to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.DtypeWarning)
        stock = al.load_stock(path)
    assert len(stock) == rows and stock["arrival_date"].notna().sum() == 1


def test_sku_ids_with_leading_zeros_stay_text_in_csv_files(
    one_lane: dict[str, Any], tmp_path
) -> None:
    network = al.Network.model_validate({**one_lane, "skus": [{"id": "001"}]})
    path = tmp_path / "stock.csv"
    path.write_text("sku,node,on_hand\n001,CW,4\n")
    assert al.load_stock(path, network)["sku"].tolist() == ["001"]
    forecast = tmp_path / "forecast.csv"
    demand_frame({("001", "FW"): 1.0}, days=2).to_csv(forecast, index=False)
    assert al.load_demand(forecast, network)["sku"].tolist() == ["001", "001"]


@pytest.mark.parametrize(
    "dates",
    [
        [20260101, 20260102],  # a number, as a CSV reader types it
        ["20260101", "20260102"],
        ["2026-01-01", "2026/01/02"],
        ["2026-01-01T00:00:00+08:00", "2026-01-02T00:00:00-05:00"],  # the local day as written
    ],
)
def test_forecast_dates_in_iso_or_yyyymmdd_are_read_as_those_days(
    network: al.Network, dates: list[Any]
) -> None:
    demand = demand_frame({("S", "FW"): 1.0}, days=2).assign(date=dates)
    checked = al.validate_demand(demand, network)
    assert checked["date"].tolist() == [pd.Timestamp("2026-01-01"), pd.Timestamp("2026-01-02")]


@pytest.mark.parametrize("bad", ["05.01.2026", 5, "soon"])
def test_a_forecast_date_that_is_not_iso_names_the_rows(network: al.Network, bad: Any) -> None:
    demand = demand_frame({("S", "FW"): 1.0}, days=3)
    demand["date"] = demand["date"].astype(object)
    demand.loc[[2, 1], "date"] = bad
    if isinstance(bad, int):
        demand["date"] = [20260101, bad, bad]
    with pytest.raises(AllocationInputError) as caught:
        al.validate_demand(demand, network)
    assert caught.value.field == "date" and "row(s) [1, 2]" in str(caught.value)
    assert str(bad) in str(caught.value)


def test_an_integer_arrival_date_is_a_day_not_nanoseconds(network: al.Network) -> None:
    stock = stock_frame([("S", "CW", 1)]).assign(in_transit=[5.0], arrival_date=[20260103.0])
    checked = al.validate_stock(stock, network)
    assert checked["arrival_date"].tolist() == [pd.Timestamp("2026-01-03")]


@pytest.mark.parametrize("column", ["forecast", "q0.9"])
def test_an_infinite_forecast_names_column_and_row(network: al.Network, column: str) -> None:
    demand = demand_frame({("S", "FW"): 1.0}, days=3)
    demand.loc[1, column] = float("inf")
    with pytest.raises(AllocationInputError) as caught:
        al.validate_demand(demand, network)
    assert caught.value.field == column and "row(s) [1]" in str(caught.value)


def test_infinite_stock_names_the_row(network: al.Network) -> None:
    with pytest.raises(AllocationInputError) as caught:
        al.validate_stock(stock_frame([("S", "CW", 1), ("S", "FW", float("inf"))]), network)
    assert caught.value.field == "on_hand" and "row(s) [1] (value inf)" in str(caught.value)


def test_each_shipment_to_a_node_takes_a_row_of_its_own(network: al.Network) -> None:
    stock = stock_frame([("S", "CW", 4), ("S", "CW", 0), ("S", "CW", 0)]).assign(
        in_transit=[0.0, 5.0, 3.0],
        arrival_date=[pd.NaT, pd.Timestamp("2026-01-07"), pd.Timestamp("2026-01-09")],
    )
    assert al.validate_stock(stock, network)["in_transit"].sum() == 8.0


def test_two_shipments_due_the_same_day_are_refused_saying_how_to_write_them(
    network: al.Network,
) -> None:
    stock = stock_frame([("S", "CW", 4), ("S", "CW", 0)]).assign(
        in_transit=[5.0, 3.0], arrival_date=pd.Timestamp("2026-01-07")
    )
    with pytest.raises(AllocationInputError) as caught:
        al.validate_stock(stock, network)
    message = str(caught.value)
    assert "rows [0, 1] repeat a (sku, node, arrival_date) key, e.g. ('S', 'CW', '2026-01-07')" in (
        message
    )
    assert "shipments due the same day: one row, their in_transit summed" in message
    assert caught.value.item == "S/CW/2026-01-07"
    # A time of day makes no other shipment: it is due that day (the service stores the day).
    stock["arrival_date"] = ["2026-01-07", "2026-01-07 10:00"]
    with pytest.raises(AllocationInputError, match="repeat a"):
        al.validate_stock(stock, network)


def test_on_hand_given_on_two_rows_of_a_node_is_refused(network: al.Network) -> None:
    # A positions-joined-to-shipments export repeats the on hand on each shipment's row.
    stock = stock_frame([("S", "CW", 4), ("S", "CW", 4)]).assign(
        in_transit=[5.0, 3.0],
        arrival_date=[pd.Timestamp("2026-01-07"), pd.Timestamp("2026-01-09")],
    )
    with pytest.raises(AllocationInputError) as caught:
        al.validate_stock(stock, network)
    assert "S at CW has on_hand on rows [0, 1]" in str(caught.value)
    assert caught.value.field == "on_hand" and caught.value.item == "S@CW"


def test_a_repeated_demand_key_is_named_with_its_rows(network: al.Network) -> None:
    demand = demand_frame({("S", "FW"): 1.0}, days=3)
    demand = pd.concat([demand, demand.iloc[[1]]], ignore_index=True)
    with pytest.raises(AllocationInputError) as caught:
        al.validate_demand(demand, network)
    assert "rows [1, 3] repeat a (sku, location, date) key" in str(caught.value)
    assert caught.value.item.startswith("S/FW/")


def test_rows_in_an_error_are_sorted_and_named_once(network: al.Network) -> None:
    demand = demand_frame({("S", "FW"): 1.0}, days=6)
    demand.loc[[5, 0, 3], "forecast"] = -1.0
    with pytest.raises(AllocationInputError, match=r"row\(s\) \[0, 3, 5\]"):
        al.validate_demand(demand, network)


def test_a_semicolon_separated_csv_is_named_as_such(network: al.Network, tmp_path) -> None:
    path = tmp_path / "stock.csv"
    path.write_text("sku;node;on_hand\nS;CW;4\n")
    with pytest.raises(AllocationInputError, match="separated by semicolons"):
        al.load_stock(path, network)


def test_crossing_quantiles_are_named_with_their_rows(network: al.Network) -> None:
    demand = demand_frame({("S", "FW"): 4.0}, days=3, spread=2.0)
    demand.loc[2, "q0.9"] = 3.0  # below q0.5 = 4
    with pytest.raises(AllocationInputError) as caught:
        al.validate_demand(demand, network)
    assert caught.value.field == "q0.9" and caught.value.item == "S/FW"
    assert "'q0.9' is below 'q0.5' at row(s) [2]" in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("q.50", "'q0.5' and 'q.50' are both level 0.5"),
        ("q0.0", "'q0.0' is level 0"),
        # left out without a word, the spread was taken as Poisson
        ("q95", "'q95' looks like a quantile .* e.g. q0.95"),
        ("q1.0", "'q1.0' looks like a quantile"),
        ("Q0.9", "'Q0.9' looks like a quantile"),
        ("q0.9 ", "'q0.9 ' looks like a quantile"),
        ("q_0.95", "'q_0.95' looks like a quantile"),
        ("p90", "'p90' looks like a quantile"),
        ("quantile_0.9", "'quantile_0.9' looks like a quantile"),
        ("0.9", "'0.9' looks like a quantile"),
    ],
)
def test_a_quantile_column_of_no_use_is_refused(
    network: al.Network, extra: str, expected: str
) -> None:
    demand = demand_frame({("S", "FW"): 4.0}, days=3, spread=2.0).assign(**{extra: 4.0})
    with pytest.raises(AllocationInputError, match=expected) as caught:
        al.validate_demand(demand, network)
    assert caught.value.field == extra


def test_a_day_past_what_a_plan_can_name_is_refused(network: al.Network) -> None:
    demand = demand_frame({("S", "FW"): 1.0}, days=3)
    demand["date"] = pd.to_datetime(["2262-03-01", "2262-03-02", "2262-03-03"])
    with pytest.raises(AllocationInputError, match="expected days from 1900-01-01 to 2200-12-31"):
        al.validate_demand(demand, network)  # a lead time from there overflowed pandas' dates
    stock = stock_frame([("S", "CW", 1)]).assign(in_transit=[5.0], arrival_date=["1850-10-14"])
    with pytest.raises(AllocationInputError, match="'arrival_date' holds 1850-10-14 at row"):
        al.validate_stock(stock, network)
    stock["arrival_date"] = "1066-10-14"  # before pandas' first day: not a date it can hold
    with pytest.raises(AllocationInputError, match=r"not a date; .* from 1900-01-01 to 2200-12-31"):
        al.validate_stock(stock, network)
    with pytest.raises(AllocationInputError, match="today 2262-01-01: expected a day"):
        al.plan(
            network,
            stock_frame([("S", "CW", 1)]),
            demand_frame({("S", "FW"): 1.0}),
            today="2262-01-01",
        )


@pytest.mark.parametrize(
    "column",
    ["In_Transit", " in_transit", "in transit", "IN-TRANSIT", "InTransit", "Qty In Transit"],
)
def test_a_column_named_nearly_as_ours_is_refused(network: al.Network, column: str) -> None:
    # Left out without a word, 360 units arriving tomorrow counted as none.
    stock = stock_frame([("S", "CW", 1)]).assign(**{column: [360.0]})
    with pytest.raises(
        AllocationInputError, match=r"read as no column of ours; name it 'in_transit'"
    ):
        al.validate_stock(stock, network)
    demand = demand_frame({("S", "FW"): 4.0}, days=3).rename(columns={"forecast": "Forecast"})
    with pytest.raises(AllocationInputError, match="name it 'forecast'") as caught:
        al.validate_demand(demand, network)
    assert caught.value.field == "Forecast"


def test_json_dates_are_read_as_written_not_guessed(network: al.Network, tmp_path) -> None:
    # pandas' own conversion read "02/03/2026" as 3 February, and day first from the 13th on.
    path = tmp_path / "forecast.json"
    path.write_text('[{"sku": "S", "location": "FW", "date": "02/03/2026", "forecast": 1}]')
    with pytest.raises(AllocationInputError, match="date"):
        al.load_demand(path, network)
    path.write_text('[{"sku": "S", "location": "FW", "date": "2026-03-02", "forecast": 1}]')
    demand = al.load_demand(path, network)
    assert demand["date"].tolist() == [pd.Timestamp("2026-03-02")]


def test_an_extra_column_beside_ours_is_kept_out_not_refused(network: al.Network) -> None:
    stock = stock_frame([("S", "CW", 1)]).assign(
        in_transit=[0.0], **{"In Transit note": ["late"], "on_hand_value": [9.0]}
    )
    assert al.validate_stock(stock, network)["on_hand"].tolist() == [1.0]


def test_a_frame_of_one_date_per_series_has_no_readable_period() -> None:
    one_each = pd.DataFrame(
        {"sku": ["A", "B"], "location": ["X", "X"], "date": pd.to_datetime(["2026-03-02"] * 2)}
    )
    with pytest.raises(al.AllocationInputError, match=r"'A' at 'X' on 2026-03-02") as error:
        al.require_readable_periods(one_each, "weekly.csv")
    assert error.value.field == "date" and str(error.value).startswith("weekly.csv: ")
    two_dates = pd.concat([one_each, one_each.iloc[:1].assign(date=pd.Timestamp("2026-03-09"))])
    al.require_readable_periods(two_dates)  # B takes A's period: a week
    al.require_readable_periods(one_each.iloc[:0])  # empty: validate_demand names it
