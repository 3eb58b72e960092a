"""Forecasting commands of the `allocast` CLI: train, forecast, backtest, models.

A thin shell over `forecasting.data`, `forecasting.forecaster` and `forecasting.tracking`:

    allocast train --sales sales.parquet --horizon 28            # backtest, fit, log, register
    allocast forecast --sales sales.parquet --out forecast.parquet --model champion
    allocast backtest --sales sales.parquet                      # ours vs baselines vs peers
    allocast models list                                         # versions, aliases, metrics
    allocast models promote --version 3 [--alias champion]       # move an alias by hand

Every command takes `--tracking-uri` (default: SQLite under `.allocast/`). Long steps show a
rich progress line on stderr; tables and the summary go to stdout. A failure is one line on
stderr and exit code 1, no traceback (set ALLOCAST_DEBUG=1 to see one).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import pandas as pd
import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from forecasting.columns import DATE, LOCATION, SKU, quantile_column
from forecasting.errors import ForecastingError
from forecasting.forecaster import (
    ENSEMBLE,
    ForecastConfig,
    HorizonWarning,
    SeriesFallbackWarning,
    trained_level,
)
from forecasting.metrics import SERIES_LEVEL, WEEK_LEVEL
from forecasting.models import BASELINES, LIGHTGBM_PLAIN, PEERS

__all__ = ["comparison_table", "register", "write_forecast"]

# Tables need ~105 columns; in a pipe (make demo, CI logs) rich would squeeze them into 80.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 120)
T = TypeVar("T")

# --- options shared by the commands -------------------------------------------------------------

SalesOpt = Annotated[
    Path, typer.Option("--sales", help="sales history, CSV or Parquet", show_default=False)
]
MapOpt = Annotated[
    str | None,
    typer.Option(
        "--map",
        help="rename input columns to ours: item_id=sku,store_id=location,sales=units,...",
    ),
]
FreqOpt = Annotated[str, typer.Option("--freq", help="period: D (days), W (weeks), MS (months)")]
LevelOpt = Annotated[
    str, typer.Option("--level", help="location, or region (sum locations into their region)")
]
HorizonOpt = Annotated[int, typer.Option("--horizon", min=1, help="periods to forecast")]
WindowsOpt = Annotated[int, typer.Option("--n-windows", min=1, help="backtest windows")]
QuantilesOpt = Annotated[
    str, typer.Option("--quantiles", help="quantile levels to forecast, comma separated")
]
ModelsOpt = Annotated[
    str | None,
    typer.Option("--models", help="candidate models, comma separated (default: all)"),
]
TrackingOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking/registry URI [default: sqlite:///.allocast/mlflow.db]",
        show_default=False,
    ),
]
ModelNameOpt = Annotated[str, typer.Option("--model-name", help="registered model name")]
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine", help="local, or dask (statsforecast and mlforecast on a Dask cluster)"
    ),
]
DaskOpt = Annotated[
    str | None,
    typer.Option(
        "--dask-address", help="Dask scheduler, tcp://host:8786 (default: a LocalCluster)"
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="random seed of the global model")]


# --- pure helpers -------------------------------------------------------------------------------


def role_of(model: str) -> str:
    """Where a model stands in the comparison: ours, baseline, peer or candidate."""
    if model == ENSEMBLE:
        return "ours"
    if model in BASELINES:
        return "baseline"
    if model in PEERS:
        return "peer"
    return "candidate"


def comparison_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """The backtest metrics with a `role` column, ours first, then baselines, peers, candidates."""
    table = metrics.copy()
    table.insert(1, "role", table["model"].map(role_of))
    order = {"ours": 0, "baseline": 1, "peer": 2, "candidate": 3}
    table["_order"] = table["role"].map(order)
    levels = {SERIES_LEVEL: 0, WEEK_LEVEL: 1}
    table["_level"] = table["level"].map(levels).fillna(2)
    table = table.sort_values(["_level", "_order", "model"], kind="stable")
    return table.drop(columns=["_order", "_level"]).reset_index(drop=True)


def improvement_lines(metrics: pd.DataFrame) -> list[str]:
    """Ours vs the best of the baselines and peers: weighted RMSSE at SKU-location-period, WAPE
    at SKU-region-week."""
    lines = []
    for level, measure, label in (
        (SERIES_LEVEL, "rmsse_weighted", "weighted RMSSE, SKU-location-period"),
        (WEEK_LEVEL, "wape", "WAPE, SKU-region-week"),
    ):
        rows = metrics[metrics["level"] == level].set_index("model")
        peers = [p for p in PEERS if p in rows.index]
        if ENSEMBLE not in rows.index or not peers or measure not in rows.columns:
            continue
        scores = {str(m): float(v) for m, v in rows[measure].items()}
        best = min(peers, key=lambda p: scores[p])
        ours, theirs = scores[ENSEMBLE], scores[best]
        if math.isfinite(ours) and math.isfinite(theirs) and theirs > 0:
            change = 100 * (ours - theirs) / theirs
            lines.append(
                f"{label}: ours {ours:.3f} vs {best} ({role_of(best)}) {theirs:.3f}, the best "
                f"of the baselines and peers ({change:+.1f} %)"
            )
    return lines


def write_forecast(frame: pd.DataFrame, path: Path) -> Path:
    """Write the forecast contract as Parquet (.parquet) or CSV (.csv), making the folder."""
    suffix = path.suffix.lower()
    if suffix not in {".parquet", ".csv"}:
        raise ForecastingError(f"--out {path}: give a .parquet or .csv file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def _floats(text: str, option: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise ForecastingError(f"{option} {text!r}: give numbers like 0.5,0.9,0.95") from error


def _names(text: str | None) -> tuple[str, ...] | None:
    """Model names of --models (None: not given). `--models ,` names none: an error, not the
    defaults."""
    if text is None:
        return None
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    if not names:
        raise ForecastingError(f"--models {text!r} names no model; give names like AutoETS,TSB")
    return names


def _level(text: str) -> Literal["location", "region"]:
    if text not in ("location", "region"):
        raise ForecastingError(f"--level {text!r}: choose location or region")
    return "location" if text == "location" else "region"


def _engine(text: str) -> Literal["local", "dask"]:
    if text not in ("local", "dask"):
        raise ForecastingError(f"--engine {text!r}: choose local or dask")
    return "local" if text == "local" else "dask"


def _config(**fields: Any) -> ForecastConfig:
    """A ForecastConfig from the options (None = the default), pydantic errors as one line."""
    given = {k: v for k, v in fields.items() if v is not None}
    try:
        return ForecastConfig(**given)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ForecastingError(f"--{where.replace('_', '-')}: {first['msg']}") from error


# --- running a command --------------------------------------------------------------------------


def _quiet() -> None:
    """Library chatter off: mlflow's INFO lines and download bars, python warnings (ours are
    collected in the forecaster's `warnings_` and printed in the summary)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic", "distributed", "fugue", "lightgbm"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.simplefilter("ignore")


def _run(body: Callable[[], T]) -> T:
    """Run a command body: expected failures become one line on stderr and exit code 1."""
    _quiet()
    try:
        return body()
    except typer.Exit:
        raise
    except ForecastingError as error:
        _fail(str(error))
    except Exception as error:
        # ValueError: bad option values reaching pandas / pydantic, but an internal fault as
        # well, so ALLOCAST_DEBUG shows its traceback too (it printed the one line alone).
        if os.environ.get("ALLOCAST_DEBUG"):
            raise
        if isinstance(error, ValueError):
            _fail(str(error))
        if isinstance(error, OSError):
            _fail(f"{type(error).__name__}: {error}")
        _fail(f"{type(error).__name__}: {error} (set ALLOCAST_DEBUG=1 for the traceback)")
    raise AssertionError("unreachable")


def _fail(message: str) -> None:
    line = " ".join(message.split())
    err.print(f"[bold red]error:[/] {line}", soft_wrap=True)
    raise typer.Exit(code=1)


@contextmanager
def _progress(title: str) -> Iterator[Callable[[str], None]]:
    """A rich progress line on stderr; yields the callback the forecaster reports steps to."""
    started = time.perf_counter()
    if not err.is_terminal:  # a log, not a live display: one line per step

        def log_step(message: str) -> None:
            err.print(f"[dim]{time.perf_counter() - started:6.1f} s[/]  {title}: {message}")

        yield log_step
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(title)

        def step(message: str) -> None:
            elapsed = time.perf_counter() - started
            progress.console.print(f"[dim]{elapsed:6.1f} s[/]  {message}")
            progress.update(task, description=f"{title}: {message}")

        yield step


def _load(sales: Path, mapping: str | None, freq: str, level: str) -> pd.DataFrame:
    from forecasting.data import SalesNote, load_sales, parse_mapping, period_starts

    with _progress("loading sales") as step, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SalesNote)
        step(f"reading {sales}")
        frame = load_sales(sales, parse_mapping(mapping), freq=freq, level=_level(level))
    for notice in caught:
        if issubclass(notice.category, SalesNote):
            out.print(f"[yellow]note[/] {notice.message}")
        else:  # recorded only to pick the notes out: shown as they would have been
            warnings.warn_explicit(notice.message, notice.category, notice.filename, notice.lineno)
    n_series = frame.groupby([SKU, LOCATION], sort=False).ngroups
    # periods by their first day, as forecasts are dated (pandas labels a week by its Sunday)
    starts = period_starts(frame[DATE], freq)
    out.print(
        f"[bold]sales[/] {sales}: {n_series} series, {len(frame):,} rows, "
        f"{starts.min():%Y-%m-%d} .. {starts.max():%Y-%m-%d} ({freq})"
    )
    return frame


HEADERS = {"rmsse_weighted": "wRMSSE", "wape": "WAPE", "rmsse": "RMSSE"}


def _header(column: str) -> str:
    if column.startswith("coverage_"):
        return "cov " + column.removeprefix("coverage_")
    return HEADERS.get(column, column)


def _metrics_table(metrics: pd.DataFrame, title: str) -> Table:
    """Backtest measures, one section per level, ours first (lower is better but coverage)."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    quantile_measures = [c for c in metrics.columns if c.startswith("coverage_q")]
    columns = ["level", "model", "role", "wape", "rmsse", "rmsse_weighted", "bias"]
    columns += quantile_measures
    for column in columns:
        left = column in {"level", "model", "role"}
        table.add_column(_header(column), justify="left" if left else "right", no_wrap=True)
    last_level = None
    for row in comparison_table(metrics).to_dict("records"):
        level = str(row["level"])
        if last_level is not None and level != last_level:
            table.add_section()
        last_level = level
        style = "bold green" if row["role"] == "ours" else None
        cells = [level, str(row["model"]), str(row["role"])]
        for column in columns[3:]:
            value = row.get(column)
            number = float(value) if value is not None else math.nan
            cells.append(f"{number:.3f}" if math.isfinite(number) else "")
        table.add_row(*cells, style=style)
    return table


def _print_warnings(messages: list[str], shown: int = 5, run: bool = True) -> None:
    """The first `shown` warnings; a training run keeps them all (`run`), a forecast does not."""
    if not messages:
        return
    where = " (all in the run's tables/warnings.txt)" if run else ""
    out.print(f"[yellow]{len(messages)} warning(s)[/]{where}:")
    for message in messages[:shown]:
        out.print(f"  [yellow]-[/] {message}")


def _ui_hint(tracking_uri: str) -> str:
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {tracking_uri}"
    return f"mlflow ui --backend-store-uri {tracking_uri}"


# --- commands -----------------------------------------------------------------------------------


def train(
    sales: SalesOpt,
    mapping: MapOpt = None,
    freq: FreqOpt = "D",
    level: LevelOpt = "location",
    horizon: HorizonOpt = 28,
    n_windows: WindowsOpt = 3,
    quantiles: QuantilesOpt = "0.5,0.9,0.95",
    models: ModelsOpt = None,
    tracking_uri: TrackingOpt = None,
    model_name: ModelNameOpt = "allocast-forecaster",
    engine: EngineOpt = "local",
    dask_address: DaskOpt = None,
    seed: SeedOpt = 0,
) -> None:
    """Backtest every model, fit the chosen forecaster, log it to MLflow and register it.

    The new version gets the alias `challenger`, and `champion` when its backtest beats the
    current champion's (sales-weighted RMSSE of the ensemble).
    """

    def body() -> None:
        from forecasting import tracking

        config = _config(
            horizon=horizon,
            freq=freq,
            n_windows=n_windows,
            quantiles=_floats(quantiles, "--quantiles"),
            models=_names(models),
            level=_level(level),
            engine=_engine(engine),
            dask_address=dask_address,
            seed=seed,
        )
        frame = _load(sales, mapping, freq, level)
        with _progress("training") as step:
            outcome = tracking.train_and_register(
                frame,
                config,
                tracking_uri,
                model_name,
                progress=step,
                source=str(sales),
            )
        out.print(_metrics_table(outcome.forecaster.metrics_, "backtest (lower is better)"))
        for line in improvement_lines(outcome.forecaster.metrics_):
            out.print(f"  {line}")
        _print_warnings(outcome.forecaster.warnings_)
        aliases = "challenger, champion" if outcome.promoted else "challenger"
        out.print(f"[bold]gate[/]      {outcome.gate}")
        out.print(f"[bold]model[/]     {outcome.model_name} version {outcome.version} ({aliases})")
        out.print(
            f"[bold]MLflow run[/] {outcome.run_id} (experiment {outcome.experiment_id}) "
            f"at {outcome.tracking_uri}"
        )
        out.print(f"           see it with: {_ui_hint(outcome.tracking_uri)}")

    _run(body)


def forecast(
    sales: SalesOpt,
    out_path: Annotated[
        Path, typer.Option("--out", help="forecast file, .parquet or .csv", show_default=False)
    ],
    mapping: MapOpt = None,
    freq: Annotated[
        str | None,
        typer.Option("--freq", help="period of the sales: the model's (another is refused)"),
    ] = None,
    level: Annotated[
        str | None,
        typer.Option("--level", help="location or region: the model's (another is refused)"),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", help="alias (champion, challenger) or version number")
    ] = "champion",
    horizon: Annotated[
        int | None, typer.Option("--horizon", min=1, help="periods (default: the model's)")
    ] = None,
    tracking_uri: TrackingOpt = None,
    model_name: ModelNameOpt = "allocast-forecaster",
) -> None:
    """Forecast the periods right after the sales history with a registered model.

    Writes `sku, location, date, forecast, q0.5, q0.9, q0.95` (units per period).
    """

    def body() -> None:
        from forecasting import tracking

        if out_path.resolve() == Path(sales).resolve():
            # it was written over: the history gone, 21 forecast rows in its place
            raise ForecastingError(
                f"--out {out_path} is the --sales file: the forecast would replace the sales "
                "history; give another file name"
            )
        with _progress("loading the model") as step:
            step(f"{model_name} {model} from {tracking_uri or tracking.default_tracking_uri()}")
            loaded = tracking.load_model(tracking_uri, model_name, model)
        config = loaded.config
        if freq is not None and freq != config.freq:
            # other periods than the model's: daily models fed weekly sums forecast 4x the demand
            raise ForecastingError(
                f"--freq {freq}: version {loaded.version} forecasts {config.freq!r} periods; "
                f"leave --freq out, or use a model trained with --freq {freq}"
            )
        trained = trained_level(config)
        if level is not None and _level(level) != trained:
            # a region model applied to one location's sales forecast it its region's demand
            raise ForecastingError(
                f"--level {level}: version {loaded.version} forecasts {trained}-level series; "
                f"leave --level out, or use a model trained with --level {level}"
            )
        frame = _load(sales, mapping, config.freq, trained)
        steps = horizon or config.horizon
        with _progress("forecasting") as step:
            step(f"{steps} periods after {frame[DATE].max():%Y-%m-%d}")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = loaded.predict(frame, horizon=steps)
        path = write_forecast(result, out_path)
        ours = (SeriesFallbackWarning, HorizonWarning)
        notes = [str(w.message) for w in caught if issubclass(w.category, ours)]
        unplanned = loaded.forecaster.unplanned_note(frame)
        _print_warnings([*notes, unplanned] if unplanned else notes, run=False)
        columns = [c for c in result.columns if c.startswith("q")]
        out.print(
            f"[bold]model[/]    {model_name} version {loaded.version} "
            f"({loaded.alias or 'by version'}), run {loaded.run_id}"
        )
        out.print(
            f"[bold]forecast[/] {result.groupby([SKU, LOCATION]).ngroups} series x {steps} "
            f"periods, {result[DATE].min():%Y-%m-%d} .. {result[DATE].max():%Y-%m-%d}, "
            f"columns forecast, {', '.join(columns)}"
        )
        total = result["forecast"].sum()
        upper = result[quantile_column(max(config.quantiles))].sum()
        out.print(
            f"           total {total:,.0f} units expected "
            f"(sum of q{max(config.quantiles):g}: {upper:,.0f})"
        )
        out.print(f"[bold]written[/]  {path}")

    _run(body)


def backtest(
    sales: SalesOpt,
    mapping: MapOpt = None,
    freq: FreqOpt = "D",
    level: LevelOpt = "location",
    horizon: HorizonOpt = 28,
    n_windows: WindowsOpt = 3,
    quantiles: QuantilesOpt = "0.5,0.9,0.95",
    models: ModelsOpt = None,
    peers: Annotated[
        bool, typer.Option(help="also backtest the plain mlforecast LightGBM peer")
    ] = True,
    tracking_uri: TrackingOpt = None,
    engine: EngineOpt = "local",
    dask_address: DaskOpt = None,
    seed: SeedOpt = 0,
) -> None:
    """Backtest ours (the chosen ensemble) vs the baselines and peers; print and log the table."""

    def body() -> None:
        from forecasting import tracking
        from forecasting.forecaster import DEFAULT_MODELS

        candidates = _names(models) or DEFAULT_MODELS
        if peers and LIGHTGBM_PLAIN not in candidates:
            candidates = (*candidates, LIGHTGBM_PLAIN)
        config = _config(
            horizon=horizon,
            freq=freq,
            n_windows=n_windows,
            quantiles=_floats(quantiles, "--quantiles"),
            models=candidates,
            level=_level(level),
            engine=_engine(engine),
            dask_address=dask_address,
            seed=seed,
        )
        frame = _load(sales, mapping, freq, level)
        with _progress("backtesting") as step:
            outcome = tracking.log_backtest(
                frame, config, tracking_uri, progress=step, source=str(sales)
            )
        with _progress("logging") as step:
            step("comparison table")
            tracking.log_table(
                outcome.tracking_uri, outcome.run_id, comparison_table(outcome.metrics)
            )
        out.print(_metrics_table(outcome.metrics, "backtest: ours vs baselines vs peers"))
        for line in improvement_lines(outcome.metrics):
            out.print(f"  {line}")
        _print_warnings(outcome.forecaster.warnings_)
        out.print(f"[bold]MLflow run[/] {outcome.run_id} at {outcome.tracking_uri}")
        out.print(f"           see it with: {_ui_hint(outcome.tracking_uri)}")

    _run(body)


def versions_table(versions: list[Any], model_name: str) -> Table:
    """Registered versions, newest first: aliases, creation time, run and backtest measures."""
    from forecasting.tracking import metric_key

    measures = {
        "wRMSSE": metric_key(SERIES_LEVEL, ENSEMBLE, "rmsse_weighted"),
        "week WAPE": metric_key(WEEK_LEVEL, ENSEMBLE, "wape"),
    }
    table = Table(title=f"{model_name}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("version", "aliases", "created (UTC)", "run", "forecasts", *measures):
        table.add_column(column, justify="right" if column in measures else "left", no_wrap=True)
    for info in versions:
        values = [info.metrics.get(key) for key in measures.values()]
        table.add_row(
            info.version,
            ", ".join(info.aliases),
            f"{info.created:%Y-%m-%d %H:%M}",
            info.run_id,
            # what a promote would make the service forecast: it serves days per location
            f"{info.horizon or '?'} x {info.freq or '?'}, {info.level or '?'}",
            *(f"{v:.3f}" if v is not None and math.isfinite(v) else "" for v in values),
            style="bold green" if "champion" in info.aliases else None,
        )
    return table


def models_list(
    tracking_uri: TrackingOpt = None,
    model_name: ModelNameOpt = "allocast-forecaster",
) -> None:
    """List the registered versions with their aliases and backtest measures (lower is better)."""

    def body() -> None:
        from forecasting import tracking

        uri = tracking_uri or tracking.default_tracking_uri()
        versions = tracking.list_versions(uri, model_name)
        if not versions:
            _fail(
                f"no versions of {model_name!r} in the registry at {uri}: "
                "train one with `allocast train` (or pass --tracking-uri)"
            )
        print_whole(versions_table(versions, model_name))

    _run(body)


def print_whole(table: Table) -> None:
    """Print a table without cutting its cells: in a pipe or a log (no terminal to fit) as wide
    as it is; at 120 columns a version's "challenger, champion" read "challenger, champi…"."""
    if sys.stdout.isatty():
        out.print(table)
        return
    unbounded = out.options.update_width(10_000)  # measured against the console, it fit 120
    width = max(out.width, Measurement.get(out, unbounded, table).maximum)
    Console(highlight=False, width=width).print(table)  # `out` caps any width at its own


def models_promote(
    version: Annotated[
        int, typer.Option("--version", min=1, help="version to promote", show_default=False)
    ],
    alias: Annotated[str, typer.Option("--alias", help="alias to move to it")] = "champion",
    tracking_uri: TrackingOpt = None,
    model_name: ModelNameOpt = "allocast-forecaster",
) -> None:
    """Move an alias (default: champion) to a version by hand, skipping the champion gate."""

    def body() -> None:
        from forecasting import tracking

        uri = tracking_uri or tracking.default_tracking_uri()
        before = {v.version: v.aliases for v in tracking.list_versions(uri, model_name)}
        held = [v for v, aliases in before.items() if alias in aliases]
        tracking.promote(uri, model_name, str(version), alias=alias)
        was = f" (was version {held[0]})" if held else ""
        out.print(f"[bold]{alias}[/] -> {model_name} version {version}{was} at {uri}")

    _run(body)


def register(app: typer.Typer) -> None:
    """Add the forecasting commands to the top-level app (`models` as a sub-app)."""
    app.command("train")(train)
    app.command("forecast")(forecast)
    app.command("backtest")(backtest)
    models_app = typer.Typer(help="Registered forecaster versions: list them, move an alias.")
    models_app.command("list")(models_list)
    models_app.command("promote")(models_promote)
    app.add_typer(models_app, name="models")
