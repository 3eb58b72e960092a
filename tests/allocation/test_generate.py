"""The seeded instance generator and the CLI that writes and plans it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import allocation as al
from allocation.generate import example_network, write_instance
from serving.cli import app


def test_generator_is_seeded_and_consistent() -> None:
    first = example_network(12, 5, 6, seed=4)
    again = example_network(12, 5, 6, seed=4)
    pd.testing.assert_frame_equal(first.demand, again.demand)
    pd.testing.assert_frame_equal(first.stock, again.stock)
    assert len(first.network.skus) == 12
    assert sum(w.kind == "forward" for w in first.network.warehouses) == 5
    assert len(first.network.distributors) == 6
    al.validate_stock(first.stock, first.network)
    al.validate_demand(first.demand, first.network)


@pytest.mark.parametrize(
    ("extra", "method"),
    [([], "pulp"), (["--decompose-above", "0", "--workers", "1"], "decomposed")],
)
def test_written_instance_plans_through_the_cli(
    tmp_path: Path, extra: list[str], method: str
) -> None:
    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            "example-network",
            "--skus",
            "8",
            "--locations",
            "4",
            "--distributors",
            "5",
            "--seed",
            "2",
            "--out",
            str(tmp_path / "inst"),
        ],
    )
    assert made.exit_code == 0, made.output
    result = runner.invoke(
        app,
        [
            "allocate",
            "--network",
            str(tmp_path / "inst/network.yaml"),
            "--stock",
            str(tmp_path / "inst/stock.csv"),
            "--forecast",
            str(tmp_path / "inst/forecast.parquet"),
            "--policy",
            str(tmp_path / "inst/policy.yaml"),
            "--out",
            str(tmp_path / "plan"),
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "plan optimal (highs" in result.output
    assert ("decomposed within" in result.output) == (method == "decomposed")
    facts = json.loads((tmp_path / "plan/plan.json").read_text())["solver"]
    assert facts["method"] == method


def _allocate(paths: dict[str, Path], out: Path, *options: str) -> list[str]:
    """`allocast allocate` on a written instance (no policy file), plan to `out`."""
    files = [f"--{name}={paths[name]}" for name in ("network", "stock", "forecast")]
    return ["allocate", *files, f"--out={out}", *options]


@pytest.mark.parametrize(
    ("broken", "column", "rows"),
    [
        ("stock", "node", [0]),
        ("stock", "sku", [0]),  # as the service refuses stock of a SKU the network lacks
        ("forecast", "location", slice(None)),  # one such row is left out: see below
    ],
)
def test_cli_bad_input_is_one_line_naming_the_file_and_non_zero(
    tmp_path: Path, broken: str, column: str, rows: list[int] | slice
) -> None:
    instance = example_network(3, 2, 2, seed=1)
    paths = write_instance(instance, tmp_path)
    path = paths[broken]
    frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    frame.loc[rows, column] = "NOWHERE"
    frame.to_csv(path, index=False) if path.suffix == ".csv" else frame.to_parquet(path)
    result = CliRunner().invoke(app, _allocate(paths, tmp_path / "plan"))
    assert result.exit_code != 0
    assert "NOWHERE" in result.output and "Traceback" not in result.output
    assert str(path) in result.output.replace("\n", "")
    assert "earlier run" not in result.output
    # an earlier run's plan in --out is named as such: it could be taken for this run's
    (tmp_path / "plan" / "plan.json").write_text("{}")
    again = CliRunner().invoke(app, _allocate(paths, tmp_path / "plan"))
    assert "plan.json is an earlier run's plan" in again.output.replace("\n", "")


def _with_series_outside(paths: dict[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add to the written forecast one series' rows again under a SKU the network lacks (at a
    demand location and at a store it lacks), at a store it lacks and at its central warehouse
    (last): a forecast of a whole catalogue fed to a network that carries part of it. Returns
    the forecast as written first and the series copied."""
    first = pd.read_parquet(paths["forecast"])
    one = first[(first["sku"] == first["sku"].iloc[0]) & (first["location"] == "FW-001")]
    outside = [
        one.assign(sku="FOODS_2_181"),
        one.assign(sku="FOODS_2_181", location="CA_1"),
        one.assign(location="CA_1"),
        one.assign(location="CW"),
    ]
    pd.concat([first, *outside], ignore_index=True).to_parquet(paths["forecast"])
    return first, one


def test_a_forecast_with_series_the_network_lacks_plans_the_rest_and_names_them(
    tmp_path: Path,
) -> None:
    """`allocate` refused a forecast naming any SKU or location the network lacks, where the
    service plans the series the network knows and names the others in `demand_note`."""
    paths = write_instance(example_network(3, 2, 2, seed=1), tmp_path / "inst")
    first, one = _with_series_outside(paths)
    rows, units = len(one), one["forecast"].sum()
    result = CliRunner().invoke(app, _allocate(paths, tmp_path / "plan"))
    assert result.exit_code == 0, result.output
    note = (
        f"{4 * rows} of {len(first) + 4 * rows} forecast rows ({4 * units:,.1f} of "
        f"{first['forecast'].sum() + 4 * units:,.1f} units) are outside the network and left "
        f"out of the plan: 1 SKU(s) not in the network ({2 * rows} rows, {2 * units:,.1f} "
        f"units): FOODS_2_181 ({2 * rows} rows, {2 * units:,.1f} units); 2 location(s) that "
        f"are no demand location of the network ({2 * rows} rows, {2 * units:,.1f} units): "
        f"CA_1 is not in the network ({rows} rows, {units:,.1f} units), CW is a central "
        f"warehouse, not a demand location ({rows} rows, {units:,.1f} units)"
    )
    assert f"note: {note}" in result.output.replace("\n", "")
    document = json.loads((tmp_path / "plan/plan.json").read_text())
    assert document["solver"]["demand_note"] == note
    # the plan is the plan of the forecast without them
    first.to_parquet(paths["forecast"])
    alone = CliRunner().invoke(app, _allocate(paths, tmp_path / "alone"))
    assert alone.exit_code == 0, alone.output
    again = json.loads((tmp_path / "alone/plan.json").read_text())
    assert again["solver"]["demand_note"] is None and "note:" not in alone.output
    assert again["objective"] == document["objective"]
    for table in ("transfers", "replenishment", "unmet", "alerts"):
        assert again[table] == document[table]


def test_a_forecast_of_nothing_the_network_knows_is_still_refused(tmp_path: Path) -> None:
    """An empty plan would hide a wrong file (another network's forecast)."""
    paths = write_instance(example_network(3, 2, 2, seed=1), tmp_path)
    frame = pd.read_parquet(paths["forecast"])
    frame.assign(sku="FOODS_" + frame["sku"]).to_parquet(paths["forecast"])
    result = CliRunner().invoke(app, _allocate(paths, tmp_path / "plan"))
    assert result.exit_code != 0 and "Traceback" not in result.output
    said = result.output.replace("\n", "")
    assert "unknown SKU 'FOODS_SKU-00001'" in said and str(paths["forecast"]) in said
    assert "no row names a SKU and a demand location of the network" in said
    assert not (tmp_path / "plan/plan.json").exists()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("forecast", -1.0, "column 'forecast' fails"),
        ("date", "05.01.2026", "'05.01.2026' at row(s) [{row}], not a date"),
        ("q0.9", 0.0, "at row(s) [{row}]"),  # below its q0.5: crossing quantiles
    ],
)
def test_a_bad_row_of_a_series_left_out_is_refused_as_before(
    tmp_path: Path, column: str, value: object, message: str
) -> None:
    """Rows outside the network are left out, not left unchecked: a broken file stays refused,
    naming the row of the file."""
    paths = write_instance(example_network(3, 2, 2, seed=1), tmp_path)
    _with_series_outside(paths)
    frame = pd.read_parquet(paths["forecast"])
    if column == "date":
        frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    row = len(frame) - 1  # at the central warehouse: left out
    frame.loc[row, column] = value
    frame.to_parquet(paths["forecast"])
    result = CliRunner().invoke(app, _allocate(paths, tmp_path / "plan"))
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert message.format(row=row) in result.output.replace("\n", ""), result.output


def test_a_forecast_of_one_date_per_series_is_refused_not_read_as_days(tmp_path: Path) -> None:
    """One weekly row per series was read as one day's demand, scaled up to the cover period:
    seven times the week's units over a seven-day cover period, without a word."""
    paths = write_instance(example_network(3, 2, 2, seed=1), tmp_path)
    frame = pd.read_parquet(paths["forecast"])
    first = frame[frame["date"] == frame["date"].min()]
    first.to_parquet(paths["forecast"])
    result = CliRunner().invoke(app, _allocate(paths, tmp_path / "plan"))
    assert result.exit_code != 0 and "Traceback" not in result.output
    said = result.output.replace("\n", "")
    assert "every series has a single date" in said and str(paths["forecast"]) in said
    # one series with two dates gives the others their period: planned
    second = frame[frame["date"] == sorted(frame["date"].unique())[1]].iloc[:1]
    pd.concat([first, second]).to_parquet(paths["forecast"])
    again = CliRunner().invoke(app, _allocate(paths, tmp_path / "plan"))
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--today", "2026-13-01"], "--today '2026-13-01': expected a date"),
        (["--today", "tomorrow"], "--today 'tomorrow': expected a date"),
        (["--today", "01/05/2026"], "expected a date as YYYY-MM-DD"),  # not May or January
        (["--time-limit", "-5"], "--time-limit -5: expected a number of seconds above 0"),
        (["--time-limit", "inf"], "--time-limit inf: expected a number of seconds above 0"),
        (["--out-is-a-file"], "a file is there; expected a directory"),
        (["--out-under-a-file"], "cannot make this directory (Not a directory)"),
    ],
)
def test_cli_bad_options_are_one_line_errors_before_any_solve(
    tmp_path: Path, option: list[str], message: str
) -> None:
    paths = write_instance(example_network(3, 2, 2, seed=1), tmp_path)
    out = tmp_path / "plan"
    if option == ["--out-is-a-file"]:
        out.write_text("not a directory")
        option = []
    if option == ["--out-under-a-file"]:  # was a traceback after the whole solve
        out.write_text("not a directory")
        out, option = out / "sub", []
    result = CliRunner().invoke(app, _allocate(paths, out, *option))
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert "solving" not in result.output


def test_a_negative_seed_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    made = CliRunner().invoke(app, ["example-network", "--seed", "-1", "--out", str(tmp_path)])
    assert made.exit_code == 2 and "Traceback" not in made.output
    assert "--seed" in made.output and not any(tmp_path.iterdir())


def test_sample_stock_is_regenerated_from_the_sales_sample(repo_root: Path) -> None:
    from allocation.generate import sample_stock

    sales = pd.read_parquet(repo_root / "data/samples/sales.parquet")
    committed = pd.read_csv(repo_root / "data/samples/stock.csv")
    regenerated = sample_stock(sales)
    assert (
        regenerated[["sku", "node", "on_hand"]].values.tolist()
        == committed[["sku", "node", "on_hand"]].values.tolist()
    )
    network = al.load_network(repo_root / "data/samples/network.yaml")
    al.validate_stock(committed, network)


@pytest.mark.parametrize(("usable", "expected"), [({0}, 1), ({0, 1}, 2), (set(range(64)), 8)])
def test_allocate_prices_in_a_worker_per_usable_cpu_up_to_eight(
    monkeypatch: pytest.MonkeyPatch, usable: set[int], expected: int
) -> None:
    from allocation import cli

    monkeypatch.setattr(cli.os, "sched_getaffinity", lambda _pid: usable, raising=False)
    assert cli.default_workers() == expected


def test_a_forecast_whose_quantiles_equal_its_mean_plans_with_a_note(tmp_path: Path) -> None:
    """A point forecast written into q0.5, q0.9, q0.95 planned no safety stock at any service
    target and said nothing; the plan is the same, with a note in the summary and plan.json."""
    paths = write_instance(example_network(3, 2, 2, seed=1), tmp_path / "inst")
    forecast = pd.read_parquet(paths["forecast"])
    for column in ("q0.5", "q0.9", "q0.95"):
        forecast[column] = forecast["forecast"]
    forecast.to_parquet(paths["forecast"])
    result = CliRunner().invoke(app, _allocate(paths, tmp_path / "plan"))
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "plan/plan.json").read_text())
    series = forecast[forecast["forecast"] > 0].groupby(["sku", "location"]).ngroups
    note = document["solver"]["demand_note"]
    assert note.startswith(f"{series} of {series} series with demand")
    assert "no spread to set safety stock from" in note
    assert f"note: {note}" in result.output.replace("\n", "")
    assert (pd.DataFrame(document["replenishment"])["safety_stock"] == 0).all()
