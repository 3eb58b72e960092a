"""The real `allocast` CLI on small data: train, forecast, backtest, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from forecasting.columns import DATE, LOCATION, SKU
from serving.cli import app

CONTRACT = ["sku", "location", "date", "forecast", "q0.5", "q0.9", "q0.95"]
FAST = ["--models", "MA28,SeasonalNaive,TSB", "--horizon", "7", "--n-windows", "2"]
M5_MAP = "item_id=sku,store_id=location,sales=units,state_id=region,sell_price=price"


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def store(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'mlflow.db'}"


@pytest.fixture(scope="module")
def sales_csv(repo_root: Path, workdir: Path) -> Path:
    """Six series of the repository's sample as a CSV file, the last ten months."""
    sales = pd.read_parquet(repo_root / "data" / "samples" / "sales.parquet")
    keep = (
        sales[SKU].isin(["SKU-001", "SKU-004", "SKU-009"])
        & sales[LOCATION].isin(["D-N1", "FW-S1"])
        & (sales[DATE] >= "2025-03-01")
    )
    path = workdir / "sales.csv"
    sales[keep].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(runner: CliRunner, sales_csv: Path, store: str) -> str:
    result = runner.invoke(
        app, ["train", "--sales", str(sales_csv), *FAST, "--tracking-uri", store]
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_train_prints_the_backtest_and_where_the_run_is(trained: str, store: str) -> None:
    assert "Ensemble" in trained and "baseline" in trained
    assert "version 1 (challenger, champion)" in trained
    assert f"at {store}" in trained
    run_id = trained.split("MLflow run", 1)[1].split()[0]
    run = MlflowClient(tracking_uri=store).get_run(run_id)
    assert run.data.tags["kind"] == "train"


@pytest.mark.slow
def test_forecast_writes_the_contract_after_the_history(
    runner: CliRunner, trained: str, sales_csv: Path, store: str, workdir: Path
) -> None:
    out = workdir / "forecast.csv"
    result = runner.invoke(
        app,
        [
            "forecast",
            "--sales",
            str(sales_csv),
            "--model",
            "champion",
            "--horizon",
            "5",
            "--tracking-uri",
            store,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    forecast = pd.read_csv(out, parse_dates=[DATE])
    assert list(forecast.columns) == CONTRACT
    assert len(forecast) == 6 * 5
    history_end = pd.read_csv(sales_csv, parse_dates=[DATE])[DATE].max()
    assert forecast[DATE].min() == history_end + pd.Timedelta(days=1)
    assert forecast[DATE].max() == history_end + pd.Timedelta(days=5)
    assert (forecast["q0.95"] >= forecast["q0.9"] - 1e-9).all()
    assert str(out) in result.output
    # weekly sums fed to a daily model forecast weeks' worth of units a day: refused
    args = ["forecast", "--sales", str(sales_csv), "--freq", "W", "--tracking-uri", store]
    weekly = runner.invoke(app, [*args, "--out", str(workdir / "weekly.csv")])
    assert weekly.exit_code == 1
    assert "--freq W: version 1 forecasts 'D' periods" in weekly.output
    assert not (workdir / "weekly.csv").exists()
    # a location model fed region totals (or the other way round): refused the same way
    args = ["forecast", "--sales", str(sales_csv), "--level", "region", "--tracking-uri", store]
    regional = runner.invoke(app, [*args, "--out", str(workdir / "region.csv")])
    assert regional.exit_code == 1
    assert "--level region: version 1 forecasts location-level series" in regional.output


@pytest.mark.slow
@pytest.mark.m5
def test_forecast_maps_m5_columns(
    runner: CliRunner, trained: str, m5_tiny_path: Path, store: str, workdir: Path
) -> None:
    m5 = pd.read_parquet(m5_tiny_path)
    few = m5[m5["item_id"].isin(m5["item_id"].unique()[:2]) & m5["store_id"].isin(["CA_1", "TX_2"])]
    source = workdir / "m5_few.parquet"
    few.to_parquet(source, index=False)
    out = workdir / "m5_forecast.parquet"
    result = runner.invoke(
        app,
        [
            "forecast",
            "--sales",
            str(source),
            "--map",
            # the model was trained on the sample's price, promo and event: it needs those
            # columns by name (SNAP stands in for promo here; it was matched by position)
            f"{M5_MAP},snap=promo",
            "--horizon",
            "28",
            "--tracking-uri",
            store,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    forecast = pd.read_parquet(out)
    assert list(forecast.columns) == CONTRACT
    assert set(forecast[LOCATION]) == {"CA_1", "TX_2"}
    assert forecast[DATE].min() == pd.Timestamp("2016-04-25")
    assert len(forecast) == 4 * 28
    # 28 days of a model backtested 7 ahead: its intervals past day 7 were never measured
    assert "28 periods asked of a model backtested 7 ahead" in " ".join(result.output.split())


@pytest.mark.slow
def test_backtest_compares_ours_with_baselines_and_peers_and_logs_it(
    runner: CliRunner, sales_csv: Path, store: str
) -> None:
    result = runner.invoke(
        app,
        [
            "backtest",
            "--sales",
            str(sales_csv),
            "--models",
            "MA28,SeasonalNaive,AutoETS",
            "--horizon",
            "7",
            "--n-windows",
            "2",
            "--tracking-uri",
            store,
        ],
    )
    assert result.exit_code == 0, result.output
    for word in ("ours", "baseline", "peer", "LightGBMPlain", "the best of the baselines and"):
        assert word in result.output
    run_id = result.output.split("MLflow run", 1)[1].split()[0]
    client = MlflowClient(tracking_uri=store)
    assert "tables/comparison.csv" in {f.path for f in client.list_artifacts(run_id, "tables")}
    assert client.get_run(run_id).data.tags["kind"] == "backtest"


def test_bad_sales_file_is_one_line_and_exit_1(
    runner: CliRunner, tmp_path: Path, store: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "sku,location,date,units\nA,L1,2025-01-01,3\nA,L1,2025-01-02,-2\nA,L1,2025-01-03,1\n"
    )
    result = runner.invoke(app, ["train", "--sales", str(bad), "--tracking-uri", store])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error:")
    assert "units" in lines[-1] and "2" in lines[-1]
    assert "Traceback" not in result.output + result.stderr


def test_unknown_model_alias_is_one_line_and_exit_1(
    runner: CliRunner, tmp_path: Path, sales_csv: Path
) -> None:
    empty_store = f"sqlite:///{tmp_path / 'empty.db'}"
    result = runner.invoke(
        app,
        [
            "forecast",
            "--sales",
            str(sales_csv),
            "--tracking-uri",
            empty_store,
            "--out",
            str(tmp_path / "f.parquet"),
        ],
    )
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: no model")


def test_allocast_debug_shows_the_traceback_of_a_value_error_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import typer

    from forecasting.cli import _run

    def broken() -> None:
        raise ValueError("not enough values to unpack (expected 2, got 0)")

    monkeypatch.setenv("ALLOCAST_DEBUG", "")
    with pytest.raises(typer.Exit):  # one line, exit code 1
        _run(broken)
    monkeypatch.setenv("ALLOCAST_DEBUG", "1")
    with pytest.raises(ValueError, match="unpack"):  # it printed the one line all the same
        _run(broken)


def test_real_process_fails_without_a_traceback(tmp_path: Path, repo_root: Path) -> None:
    env = {**os.environ, "ALLOCAST_DEBUG": ""}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "serving.cli",
            "train",
            "--sales",
            str(tmp_path / "missing.csv"),
            "--tracking-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
        ],
        capture_output=True,
        text=True,
        cwd=repo_root,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'missing.csv'}: no such file"
    )


# --- models list / promote ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_versions(runner: CliRunner, sales_csv: Path, workdir: Path) -> str:
    """A registry of its own with two trained versions (the second stays challenger)."""
    registry = f"sqlite:///{workdir / 'registry.db'}"
    for _ in range(2):
        result = runner.invoke(
            app, ["train", "--sales", str(sales_csv), *FAST, "--tracking-uri", registry]
        )
        assert result.exit_code == 0, result.output
    return registry


def _registry(store: str) -> MlflowClient:
    return MlflowClient(tracking_uri=store, registry_uri=store)


def _aliases(store: str) -> dict[str, list[str]]:
    client = _registry(store)
    versions = client.search_model_versions("name = 'allocast-forecaster'")
    return {
        str(v.version): sorted(client.get_model_version(v.name, str(v.version)).aliases)
        for v in versions
    }


def test_a_versions_table_is_printed_whole_in_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from forecasting.cli import print_whole, versions_table

    info = SimpleNamespace(
        version="12",
        aliases=["challenger", "champion"],
        created=pd.Timestamp("2026-12-07 07:31"),
        run_id="c6d797fe660e4115b632759faeb73693",
        horizon=28,
        freq="D",
        level="location",
        metrics={},
    )
    print_whole(versions_table([info], "allocast-forecaster"))
    printed = capsys.readouterr().out
    assert "challenger, champion" in printed and "2026-12-07 07:31" in printed
    assert "…" not in printed and "28 x D, location" in printed


@pytest.mark.slow
def test_models_list_shows_versions_aliases_and_backtest(
    runner: CliRunner, two_versions: str
) -> None:
    result = runner.invoke(app, ["models", "list", "--tracking-uri", two_versions])
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    rows = {line.split()[0]: line for line in lines if line[:1].isdigit()}
    assert set(rows) == {"1", "2"}
    assert "champion" in rows["1"] and "challenger" in rows["2"]
    client = _registry(two_versions)
    run_id = client.get_model_version("allocast-forecaster", "1").run_id
    gate = client.get_run(run_id).data.metrics["series/Ensemble/rmsse_weighted"]
    assert run_id in rows["1"] and f"{gate:.3f}" in rows["1"]
    assert "7 x D, location" in rows["1"]  # what it forecasts: --horizon 7, days, per location


@pytest.mark.slow
def test_models_promote_moves_the_alias(runner: CliRunner, two_versions: str) -> None:
    result = runner.invoke(
        app, ["models", "promote", "--version", "2", "--tracking-uri", two_versions]
    )
    assert result.exit_code == 0, result.output
    assert "champion -> allocast-forecaster version 2 (was version 1)" in result.output
    assert _aliases(two_versions) == {"1": [], "2": ["challenger", "champion"]}
    staging = ["--version", "1", "--alias", "staging", "--tracking-uri", two_versions]
    result = runner.invoke(app, ["models", "promote", *staging])
    assert result.exit_code == 0, result.output
    assert _aliases(two_versions) == {"1": ["staging"], "2": ["challenger", "champion"]}


def test_promoting_a_missing_version_is_one_line_and_exit_1(
    runner: CliRunner, tmp_path: Path
) -> None:
    empty_store = f"sqlite:///{tmp_path / 'empty.db'}"
    result = runner.invoke(
        app, ["models", "promote", "--version", "7", "--tracking-uri", empty_store]
    )
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: model 'allocast-forecaster' has no version '7'")


# --- pure helpers --------------------------------------------------------------------------------


def test_comparison_puts_ours_first_then_baselines_peers_candidates() -> None:
    from forecasting.cli import comparison_table

    metrics = pd.DataFrame(
        {
            "level": ["series"] * 5,
            "model": ["TSB", "AutoETS", "Ensemble", "MA28", "SeasonalNaive"],
            "wape": [0.5, 0.4, 0.3, 0.6, 0.7],
        }
    )
    table = comparison_table(metrics)
    assert list(table["model"]) == ["Ensemble", "MA28", "SeasonalNaive", "AutoETS", "TSB"]
    assert list(table["role"]) == ["ours", "baseline", "baseline", "peer", "candidate"]


def test_improvement_is_measured_against_the_best_peer() -> None:
    from forecasting.cli import improvement_lines

    metrics = pd.DataFrame(
        {
            "level": ["series"] * 3 + ["sku_region_week"] * 3,
            "model": ["Ensemble", "AutoETS", "MA28"] * 2,
            "rmsse_weighted": [0.9, 1.0, 1.2, 0.5, 0.6, 0.7],
            "wape": [0.5, 0.6, 0.7, 0.2, 0.25, 0.4],
        }
    )
    lines = improvement_lines(metrics)
    best = "the best of the baselines and peers"
    assert f"ours 0.900 vs AutoETS (peer) 1.000, {best} (-10.0 %)" in lines[0]
    assert f"ours 0.200 vs AutoETS (peer) 0.250, {best} (-20.0 %)" in lines[1]


def test_forecast_refuses_to_write_over_its_sales_file(
    runner: CliRunner, sales_csv: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "sales.csv"
    victim.write_bytes(sales_csv.read_bytes())
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["forecast", "--sales", str(victim), "--tracking-uri", store]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "." / "sales.csv")])
    assert result.exit_code != 0 and "is the --sales file" in result.output
    assert victim.read_bytes() == sales_csv.read_bytes()  # it held 21 forecast rows after


@pytest.mark.parametrize("models", [",", " , ", ""])
def test_models_naming_no_model_is_refused(
    runner: CliRunner, sales_csv: Path, tmp_path: Path, models: str
) -> None:
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["train", "--sales", str(sales_csv), "--models", models, "--tracking-uri", store]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "names no model" in result.output  # it trained anyway


def test_forecast_file_must_be_parquet_or_csv(tmp_path: Path) -> None:
    from forecasting.cli import write_forecast
    from forecasting.errors import ForecastingError

    with pytest.raises(ForecastingError, match=r"\.parquet or \.csv"):
        write_forecast(pd.DataFrame({"sku": ["A"]}), tmp_path / "forecast.xlsx")


def test_weekly_sales_are_summed_up_by_their_weeks_first_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Monday 2024-01-01 .. Sunday 2024-01-28: four whole weeks, shown by their Mondays as
    # forecasts are dated (pandas labels them by their Sundays, 01-07 .. 01-28)
    from forecasting.cli import _load

    days = pd.date_range("2024-01-01", "2024-01-28", freq="D")
    pd.DataFrame({SKU: "A", LOCATION: "S", DATE: days, "units": 1.0}).to_csv(
        tmp_path / "s.csv", index=False
    )
    _load(tmp_path / "s.csv", None, "W", "location")
    assert "2024-01-01 .. 2024-01-22 (W)" in " ".join(capsys.readouterr().out.split())
