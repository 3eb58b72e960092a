"""`allocast simulate` wiring: every policy replays the same demand, the comparison with min-max
reads the source's bar, results are written, and bad input exits with one clear line."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from allocation.plan_policy import to_plan_network
from allocation.replay_network import network_around
from allocation.simulate import SimulationError
from forecasting.data import SalesNote, prepare_sales
from serving.simulation import (
    ForecastCache,
    backtest_rows,
    best_at_equal_inventory,
    compare_to_min_max,
    for_simulate,
    register,
    run_simulation,
    write_outcome,
)


def weekly_sales(days: int = 210, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    rows = [
        (sku, loc, region, day, float(rng.poisson(rate)))
        for sku, rate in (("A", 6.0), ("B", 0.5))
        for loc, region in (("S1", "north"), ("S2", "north"), ("S3", "south"))
        for day in dates
    ]
    return pd.DataFrame(rows, columns=["sku", "location", "region", "date", "units"])


def moving_average_forecast(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """A 28-day mean with Poisson-like quantiles: a plain forecast_fn for the wiring tests."""
    last = history["date"].max()
    recent = history[history["date"] > last - pd.Timedelta(days=28)]
    mean = recent.groupby(["sku", "location"])["units"].mean().rename("forecast").reset_index()
    dates = pd.DataFrame({"date": pd.date_range(last + pd.Timedelta(days=1), periods=horizon)})
    frame = mean.merge(dates, how="cross")
    for level, z in ((0.5, 0.0), (0.9, 1.2816), (0.95, 1.6449)):
        frame[f"q{level:g}"] = frame["forecast"] + z * np.sqrt(frame["forecast"])
    return frame


def test_run_simulation_compares_every_policy_on_the_same_demand(tmp_path: Path) -> None:
    outcome = run_simulation(
        weekly_sales(),
        weeks=4,
        service_targets=(0.9, 0.95),
        forecast_fn=moving_average_forecast,
    )
    summary = outcome.summary
    assert summary["policy"].tolist() == [
        "push",
        *[
            "min-max",
            "forecast order-up-to",
            "ours: forecast + plan",
            "ours: forecast + plan, stocked echelon",
        ]
        * 2,
    ]
    demand = {result.kpis["demand_units"] for result in outcome.results.values()}
    assert len(demand) == 1
    assert summary["fill_rate"].between(0, 1).all()
    versus = outcome.versus_min_max
    assert versus["service_target"].tolist() == [0.9] * 3 + [0.95] * 3
    equal = outcome.at_equal_inventory
    for row in equal.itertuples(index=False):
        assert row.avg_inventory_ratio <= 1.0
    assert outcome.setup["train_end"] < outcome.setup["start"]
    # Poisson demand well inside a supply cap of 1.5 x the mean: nothing is supply-constrained.
    assert outcome.setup["supply_constrained_skus"] == []
    assert outcome.setup["stockout_floor"] == 0
    assert (summary["stockout_rate_supplied"] == summary["stockout_rate"]).all()

    paths = write_outcome(outcome, tmp_path / "out")
    assert {p.name for p in paths} == {
        "summary.csv",
        "versus_min_max.csv",
        "at_equal_inventory.csv",
        "daily.parquet",
        "inventory.parquet",
        "shipments.parquet",
        "simulation.json",
    }
    written = json.loads((tmp_path / "out" / "simulation.json").read_text())
    assert len(written["summary"]) == 9
    # Average inventory recomputed from the files: on hand at every node at the end of each day,
    # plus what is between two of them (not what the supplier has yet to deliver). The stores'
    # on hand alone (daily.parquet) could not give it.
    inventory = pd.read_parquet(tmp_path / "out" / "inventory.parquet")
    shipped = pd.read_parquet(tmp_path / "out" / "shipments.parquet")
    for label, result in outcome.results.items():
        held = inventory[inventory["policy"] == label].groupby("date")["on_hand"].sum()
        moving = shipped[(shipped["policy"] == label) & (shipped["origin"] != "supplier")]
        between = [
            moving.loc[
                (moving["ship_date"] <= day) & (moving["arrival_date"] > day), "quantity"
            ].sum()
            for day in held.index
        ]
        assert (held + between).mean() == pytest.approx(result.kpis["avg_inventory"])


def test_compare_to_min_max_reads_the_bar() -> None:
    summary = pd.DataFrame(
        {
            "policy": ["min-max", "ours", "ours"],
            "service_target": [0.95, 0.95, 0.95],
            "stockout_rate": [0.10, 0.03, 0.05],
            "stockout_rate_supplied": [0.05, 0.01, 0.04],
            "turnover": [10.0, 15.0, 15.0],
            "avg_inventory": [100.0, 90.0, 90.0],
            "fill_rate": [0.90, 0.97, 0.95],
        }
    )
    versus = compare_to_min_max(summary)
    assert versus["stockout_rate_change"].tolist() == pytest.approx([-0.7, -0.5])
    assert versus["stockout_rate_supplied_change"].tolist() == pytest.approx([-0.8, -0.2])
    assert versus["turnover_change"].tolist() == pytest.approx([0.5, 0.5])
    assert versus["avg_inventory_ratio"].tolist() == pytest.approx([0.9, 0.9])
    assert versus["meets_bar"].tolist() == [True, False]


def test_changes_against_a_min_max_without_stockouts_are_numbers() -> None:
    # Small replays often leave min-max without a stockout: x / 0 printed "+nan%" and wrote
    # empty cells. No change where both are 0, +inf where only ours has some.
    summary = pd.DataFrame(
        {
            "policy": ["min-max", "ours", "ours"],
            "service_target": [0.9, 0.9, 0.9],
            "stockout_rate": [0.0, 0.0, 0.01],
            "stockout_rate_supplied": [0.0, 0.0, 0.01],
            "turnover": [0.0, 0.0, 3.0],
            "avg_inventory": [0.0, 0.0, 5.0],
            "fill_rate": [1.0, 1.0, 0.99],
        }
    )
    for frame in (compare_to_min_max(summary), best_at_equal_inventory(summary)):
        assert not frame.isna().any().any()
    versus = compare_to_min_max(summary)
    assert versus["stockout_rate_change"].tolist() == [0.0, math.inf]
    assert versus["turnover_change"].tolist() == [0.0, math.inf]
    assert versus["avg_inventory_ratio"].tolist() == [1.0, math.inf]
    assert versus["meets_bar"].tolist() == [False, False]


def test_best_at_equal_inventory_prefers_a_point_that_meets_the_bar() -> None:
    summary = pd.DataFrame(
        {
            "policy": ["min-max", "ours", "ours", "ours"],
            "service_target": [0.9, 0.8, 0.9, 0.99],
            "stockout_rate": [0.10, 0.04, 0.03, 0.02],
            "stockout_rate_supplied": [0.05, 0.02, 0.01, 0.01],
            "turnover": [10.0, 16.0, 14.0, 12.0],
            "avg_inventory": [100.0, 70.0, 90.0, 120.0],
            "fill_rate": [0.90, 0.95, 0.96, 0.97],
        }
    )
    best = best_at_equal_inventory(summary).iloc[0]
    # 0.99 holds more than min-max; 0.9 has fewer stockouts but +40 % turnover; 0.8 meets the bar.
    assert best["service_target"] == 0.8
    assert bool(best["meets_bar"])
    without = best_at_equal_inventory(summary[summary["service_target"] != 0.8]).iloc[0]
    assert without["service_target"] == 0.9 and not bool(without["meets_bar"])


def test_backtest_rows_name_the_series_and_the_forecast_origin() -> None:
    table = pd.DataFrame(
        {
            "unique_id": ["A|S1", "A|S1", "B|S2"],
            "ds": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-02"]),
            "cutoff": pd.to_datetime(["2024-01-01"] * 3),
            "y": [3.0, 1.0, 0.0],
            "Ensemble": [2.0, 2.5, 0.4],
            "q0.9": [4.0, 4.5, 1.0],
        }
    )
    rows = backtest_rows(table)
    assert rows.columns.tolist() == [
        "sku",
        "location",
        "origin_date",
        "date",
        "units",
        "forecast",
    ]
    assert rows[["sku", "location", "units", "forecast"]].values.tolist() == [
        ["A", "S1", 3.0, 2.0],
        ["A", "S1", 1.0, 2.5],
        ["B", "S2", 0.0, 0.4],
    ]
    assert (rows["origin_date"] == pd.Timestamp("2024-01-01")).all()


def test_cli_names_what_is_missing(tmp_path: Path) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, as the full CLI is, whatever else is registered
    register(app)
    path = tmp_path / "sales.csv"
    weekly_sales(days=60).drop(columns="region").to_csv(path, index=False)
    result = CliRunner().invoke(app, ["simulate", "--sales", str(path), "--weeks", "2"])
    assert result.exit_code == 2
    assert "region" in result.output
    assert "Traceback" not in result.output


def test_cli_refuses_a_service_target_outside_zero_one(tmp_path: Path) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    path = tmp_path / "sales.csv"
    weekly_sales(days=60).to_csv(path, index=False)
    args = ["simulate", "--sales", str(path), "--service-target", "0.9", "--service-target", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "--service-target 1: expected a level between 0 and 1" in result.output
    assert "Traceback" not in result.output


def test_a_location_that_does_not_carry_a_sku_holds_none_of_it() -> None:
    # No rows at all for (B, S3): a store's range, not missing data. It starts with no stock
    # of B, and every policy replays; before, its starting stock was NaN, the baselines' KPIs
    # NaN and the plan refused the stock.
    sales = weekly_sales()
    sales = sales[~((sales["sku"] == "B") & (sales["location"] == "S3"))]
    outcome = run_simulation(sales, weeks=2, forecast_fn=moving_average_forecast)
    summary = outcome.summary
    assert len(summary) == 5
    kpis = summary[["fill_rate", "stockout_rate", "avg_inventory", "turnover", "total_cost"]]
    assert np.isfinite(kpis.to_numpy()).all()
    assert summary["fill_rate"].between(0, 1).all()


def test_a_service_target_given_twice_is_replayed_once() -> None:
    outcome = run_simulation(
        weekly_sales(), weeks=2, service_targets=(0.9, 0.9), forecast_fn=moving_average_forecast
    )
    assert outcome.summary["service_target"].dropna().tolist() == [0.9] * 4
    assert len(outcome.versus_min_max) == 3


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--seed", "-1"], "greater than or equal to 0"),
        (["--out", "{file}"], "a file is there; expected a directory"),
        # it failed only after the whole replay, with a traceback, the results lost
        (["--out", "{file}/results"], "cannot make this directory"),
    ],
)
def test_cli_refuses_a_negative_seed_and_an_out_path_that_is_a_file(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    path = tmp_path / "sales.csv"
    weekly_sales(days=60).to_csv(path, index=False)
    args = [arg.replace("{file}", str(path)) for arg in args]
    result = CliRunner().invoke(app, ["simulate", "--sales", str(path), *args])
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output


def test_a_history_with_no_sales_is_refused_before_any_replay() -> None:
    sales = weekly_sales(days=120)
    sales.loc[sales["date"] < sales["date"].max() - pd.Timedelta(days=13), "units"] = 0.0
    with pytest.raises(SimulationError, match=r"nothing sold on or before 2024-04-15"):
        run_simulation(sales, weeks=2, forecast_fn=moving_average_forecast)
    # More weeks than the sales span: it was "no history on or before" from the network's draw.
    with pytest.raises(SimulationError, match=r"the sales start on .*fewer --weeks"):
        run_simulation(weekly_sales(days=120), weeks=200, forecast_fn=moving_average_forecast)


def test_a_history_too_short_for_the_forecaster_is_refused_before_any_replay() -> None:
    # 26 days before the replay; the forecaster needs one 28-day backtest window after 14 days.
    # This used to fail only after push and min-max had replayed, naming options simulate does
    # not have.
    with pytest.raises(
        SimulationError,
        match=r"26 days of history.*needs 42 \(a 28-day backtest window after "
        r"14 days\).*at least 49 days",
    ):
        run_simulation(weekly_sales(days=40), weeks=2, on_progress=pytest.fail)
    # where fewer replayed weeks leave enough history, it says how many
    with pytest.raises(SimulationError, match=r"32 days of history.*fewer --weeks \(at most 2\)"):
        run_simulation(weekly_sales(days=60), weeks=4, on_progress=pytest.fail)


def test_a_history_with_room_for_one_backtest_window_replays_on_it() -> None:
    # 46 days before the replay: one 28-day window after 14 days, not the three the forecaster
    # asks by default. The pre-check refused it ("needs 98"), where `allocast train` fits on
    # the one window the history holds; the replay now does too, and says so.
    said: list[str] = []
    outcome = run_simulation(weekly_sales(days=60), weeks=2, on_progress=said.append)
    assert any("room for 1 backtest window(s)" in line for line in said), said
    assert outcome.results  # every policy replayed, ours on the forecaster's forecasts
    ours = outcome.summary[outcome.summary["policy"] == "ours: forecast + plan"]
    assert len(ours) and ours["fill_rate"].between(0, 1).all()


def test_skus_and_locations_without_history_are_left_out_and_said() -> None:
    sales = weekly_sales()
    last = sales["date"].max()
    late = pd.DataFrame(
        [("NEW", "S1", "north", last, 4.0), ("A", "S9", "south", last, 2.0)],
        columns=sales.columns,
    )
    said: list[str] = []
    outcome = run_simulation(
        pd.concat([sales, late], ignore_index=True),
        weeks=2,
        forecast_fn=moving_average_forecast,
        on_progress=said.append,
    )
    assert outcome.setup["left_out"] == "1 SKU(s) (NEW); 1 location(s) (S9)"
    assert any("left out of the replay" in line for line in said)
    assert {result.kpis["demand_units"] for result in outcome.results.values()} == {
        sales[sales["date"] > last - pd.Timedelta(days=14)]["units"].sum()
    }


def test_a_location_named_like_a_replay_node_is_refused() -> None:
    sales = weekly_sales().replace({"location": {"S1": "CW"}})
    with pytest.raises(SimulationError, match=r"location 'CW' has the name of a node"):
        run_simulation(sales, weeks=2, forecast_fn=moving_average_forecast)


@pytest.mark.parametrize(
    ("column", "value", "text"),
    [
        ("sku", "Cafe mug", "without spaces"),
        ("sku", "A|B", "no '|'"),
        ("location", "S" * 70, "1 to 64"),
        # a region may be any text; its warehouse RW-<region> must still be at most 64 long
        ("region", "R" * 62, "1 to 64"),
    ],
)
def test_an_id_the_replay_network_cannot_hold_is_refused_before_any_replay(
    column: str, value: str, text: str
) -> None:
    sales = weekly_sales()
    first = sales[column].iloc[0]
    sales[column] = sales[column].replace({first: value})
    # it used to fail in the plan's network, after push and min-max had replayed
    with pytest.raises(
        SimulationError,
        match=rf"sales: {column} .*cannot be an id of the replay's network.*{text}",
    ):
        run_simulation(sales, weeks=2, forecast_fn=moving_average_forecast, on_progress=pytest.fail)


def test_the_floor_names_each_supply_constrained_sku_with_its_days() -> None:
    sales = weekly_sales()
    replay = (sales["sku"] == "B") & (sales["date"] > sales["date"].max() - pd.Timedelta(days=14))
    sales.loc[replay, "units"] = 40.0  # 80 times its history's rate: far over its supply cap
    outcome = run_simulation(
        sales, weeks=2, forecast_fn=moving_average_forecast, policies=("push",)
    )
    assert outcome.setup["supply_constrained_skus"] == ["B"]
    lost, demand = outcome.setup["unavoidable_days"]["B"]
    assert demand == 3 * 14 and 0 < lost <= demand
    cells = 14 * 3 * 2  # days x stores x SKUs
    assert outcome.setup["stockout_floor"] == pytest.approx(lost / cells)


def test_push_and_min_max_alone_need_no_forecaster_history() -> None:
    # 26 days before the replay, too few for the forecaster (42), which neither push nor
    # min-max reads: they replay, and no forecaster is built.
    outcome = run_simulation(weekly_sales(days=40), weeks=2, policies=("push", "min-max"))
    assert outcome.summary["policy"].tolist() == ["push", "min-max"]
    assert "forecaster_fits" not in outcome.setup
    # a forecasting policy still asks for the forecaster's history
    with pytest.raises(SimulationError, match=r"26 days of history.*needs 42"):
        run_simulation(weekly_sales(days=40), weeks=2, policies=("push", "forecast order-up-to"))


def test_a_region_named_with_spaces_replays_under_its_own_label() -> None:
    # "North East" was refused as an id; only its warehouse needs one: RW-North_East.
    sales = weekly_sales().replace({"region": {"north": "North East", "south": "South / Wales"}})
    outcome = run_simulation(sales, weeks=2, forecast_fn=moving_average_forecast)
    assert len(outcome.summary) == 5
    assert outcome.summary["fill_rate"].between(0, 1).all()
    network = network_around(sales, train_end=pd.Timestamp("2024-07-14")).network
    nodes = network.nodes
    regional = nodes[nodes["kind"] == "regional"].set_index("node")["region"]
    assert regional.to_dict() == {
        "RW-North_East": "North East",
        "RW-South___Wales": "South / Wales",
    }
    # the plan's network, whose regions are ids, holds them as such
    planned = {w.id: w.region for w in to_plan_network(network).warehouses}
    assert planned["S1"] == planned["RW-North_East"] == "North_East"
    # two regions that would share a warehouse id are refused, naming both
    clash = weekly_sales().replace({"region": {"north": "North East", "south": "North_East"}})
    with pytest.raises(SimulationError, match=r"regions 'North East' and 'North_East' both make"):
        run_simulation(clash, weeks=2, forecast_fn=moving_average_forecast, on_progress=pytest.fail)


def test_cli_says_what_a_simulate_user_can_do_with_weekly_totals(tmp_path: Path) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    path = tmp_path / "weekly.csv"
    sales = weekly_sales(days=140)
    sales[sales["date"].dt.dayofweek == 0].to_csv(path, index=False)
    result = CliRunner().invoke(app, ["simulate", "--sales", str(path), "--weeks", "4"])
    assert result.exit_code == 2
    assert "not daily" in result.output
    assert "simulate replays days" in result.output
    assert "--freq" not in result.output  # an option of train and forecast, not of simulate


def test_the_forecasters_warnings_reach_the_progress_in_simulates_words() -> None:
    # q0.999 needs 5000 backtest errors; 6 series x 3 windows x 28 days give 504. The warning
    # came as a raw Python warning line, suggesting --n-windows, which simulate does not have.
    said: list[str] = []
    cache = ForecastCache(quantiles=(0.5, 0.999), refit_every=1, on_progress=said.append)
    history = weekly_sales(days=120)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache(history, 28)
        cache(history[history["date"] < history["date"].max()], 28)  # refitted: warned again
    assert not [w for w in caught if w.category.__module__.startswith("forecasting")]
    quantile_notes = [line for line in said if "backtest errors" in line]
    assert len(quantile_notes) == 1  # said once, not at every forecast
    assert quantile_notes[0].startswith("note: ")
    assert "less extreme --service-target" in quantile_notes[0]
    assert not [line for line in said if "--n-windows" in line or "--horizon" in line]


def test_the_weekly_totals_note_reads_in_simulates_words() -> None:
    # The forecaster's own note, made by its own check: a hint rewritten by text, so the test
    # fails when the forecaster words it otherwise and the rewrite no longer applies.
    days = pd.date_range("2024-01-01", periods=70, freq="D")
    daily = pd.DataFrame({"sku": "A", "location": "S", "date": days, "units": 1.0})
    mondays = pd.DataFrame({"sku": "W1", "location": "S", "date": days[::7], "units": 70.0})
    with pytest.warns(SalesNote) as noted:
        prepare_sales(pd.concat([daily, mondays]))
    said = for_simulate(str(noted[0].message))
    assert "simulate cannot replay them: give their daily sales" in said and "--freq" not in said
