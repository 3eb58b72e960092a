"""MLflow tracking and the model registry: the one forecasting module that imports mlflow.

    outcome = train_and_register(sales, ForecastConfig(horizon=28))   # fit, log, register, gate
    model = load_model(alias="champion")                               # any tracking URI works
    forecast = model.predict(sales, horizon=28)

Every training run logs its parameters (the `ForecastConfig`, the data's shape and span), a data
fingerprint (a hash of the canonical sales frame), the backtest metrics per model and level as
`<level>/<model>/<measure>` (e.g. `series/Ensemble/rmsse_weighted`), the artifacts (backtest
table, metrics, per-series model choice, warnings, plots of forecast vs actual for the best,
typical and worst series, LightGBM feature importance) and the fitted `Forecaster` as an MLflow
pyfunc model, registered under one name.

The champion gate: each new version gets the alias `challenger`; it also becomes `champion`
when there is no champion yet, or when its `GATE_METRIC` (sales-weighted RMSSE of the chosen
ensemble at SKU-location-period, M5's measure; lower is better) beats the champion's, both out
of sample on the same days: the new version's backtest days after the champion's history, which
the champion forecasts from the sales known at each cutoff, or, on the champion's own history,
both backtests (`_scores_on_the_same_windows`); a version whose history ends before the
champion's, or that forecasts other periods or another level, is not compared and stays
challenger. The decision and the numbers behind it are
recorded in the run (tags `gate.*`, metrics `gate/candidate` and `gate/champion_before`). A
version can also be promoted by hand (`promote`).

The embedded default store is SQLite at `.allocast/mlflow.db` with artifacts under
`.allocast/mlartifacts`; any other tracking URI (another SQLite file, an MLflow server) works
the same way, so a retraining job and a forecast run can point at one registry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import logging
import math
import pickle
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.pyfunc import PythonModel
from mlflow.tracking._model_registry import utils as mlflow_registry_state
from mlflow.tracking._tracking_service import utils as mlflow_tracking_state
from mlflow.types.schema import AnyType, ColSpec, Schema
from pandas.tseries.offsets import BaseOffset

from forecasting.columns import (
    CUTOFF,
    DATE,
    DS,
    EVENT,
    FORECAST,
    KEY_SEP,
    LOCATION,
    PRICE,
    PROMO,
    SKU,
    UNIQUE_ID,
    UNITS,
    Y,
)
from forecasting.data import period_starts, prepare_sales
from forecasting.errors import ForecastingError, ModelFormatError, SalesValidationError
from forecasting.forecaster import (
    ENSEMBLE,
    ForecastConfig,
    Forecaster,
    check_format,
    trained_level,
)
from forecasting.metrics import SERIES_LEVEL, evaluate

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DEFAULT_MODEL_NAME",
    "EXPERIMENT",
    "GATE_METRIC",
    "BacktestOutcome",
    "LoadedForecaster",
    "ModelVersionInfo",
    "TrainOutcome",
    "data_fingerprint",
    "default_tracking_uri",
    "gate_decision",
    "list_versions",
    "load_model",
    "log_backtest",
    "log_table",
    "metric_key",
    "promote",
    "resolve_model",
    "train_and_register",
]

STATE_DIR = Path(".allocast")
DEFAULT_MODEL_NAME = "allocast-forecaster"
EXPERIMENT = "allocast-forecasting"
CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_ARTIFACT = "forecaster"  # name of the logged pyfunc model inside its run
PICKLE_NAME = "forecaster.pkl"
# mlflow's nags about type hints on PythonModel.predict and about input examples: the signature
# is given explicitly instead (an input example would make mlflow load and run the model).
_MLFLOW_NAGS = ".*([Tt]ype hint|input example).*"
PLOT_HISTORY = 112  # periods of history shown before the backtest windows in the plots
Progress = Callable[[str], None]


def metric_key(level: str, model: str, measure: str) -> str:
    """MLflow key of a measure: ("series", "Ensemble", "wape") -> "series/Ensemble/wape"."""
    return f"{level}/{model}/{measure}"


GATE_METRIC = metric_key(SERIES_LEVEL, ENSEMBLE, "rmsse_weighted")  # lower is better


# --- tracking URI and experiment -----------------------------------------------------------------


def default_tracking_uri() -> str:
    """The embedded store: SQLite at `.allocast/mlflow.db` (relative to the working directory)."""
    return f"sqlite:///{STATE_DIR / 'mlflow.db'}"


def _sqlite_path(tracking_uri: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(tracking_uri[len(prefix) :]) if tracking_uri.startswith(prefix) else None


def _artifact_location(tracking_uri: str) -> str | None:
    """Artifacts of a SQLite store live beside it (`mlartifacts/`); servers choose their own."""
    db = _sqlite_path(tracking_uri)
    if db is None:
        return None
    return (db.parent / "mlartifacts").resolve().as_uri()


def _prepare_store(tracking_uri: str) -> None:
    db = _sqlite_path(tracking_uri)
    if db is not None and str(db) != ":memory:":
        db.parent.mkdir(parents=True, exist_ok=True)


def _client(tracking_uri: str) -> MlflowClient:
    _prepare_store(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _experiment_id(client: MlflowClient, tracking_uri: str, name: str = EXPERIMENT) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    try:
        return str(
            client.create_experiment(name, artifact_location=_artifact_location(tracking_uri))
        )
    except MlflowException:  # created meanwhile by another process
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


@contextlib.contextmanager
def _using(tracking_uri: str) -> Iterator[None]:
    """Point mlflow's fluent API (runs, log_model) at `tracking_uri`, restoring it afterwards."""
    # Restore exactly what was set before, None included. Restoring the *resolved* default
    # (sqlite:///mlflow.db in the working directory) would pin every later fluent call to a
    # stray store there. MLflow keeps the explicitly set URIs in these module globals.
    before_tracking = mlflow_tracking_state._tracking_uri
    before_registry = mlflow_registry_state._registry_uri
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield
    finally:
        # None (never set) is a valid value here: it unsets, as before.
        mlflow.set_tracking_uri(before_tracking)  # type: ignore[arg-type]
        mlflow.set_registry_uri(before_registry)  # type: ignore[arg-type]


def _quiet_store_logs() -> None:
    """SQLite stores run their migrations on first use and log every step; keep that quiet."""
    for name in ("alembic", "mlflow.store.db.utils", "mlflow.tracking.fluent", "mlflow.models"):
        logging.getLogger(name).setLevel(logging.WARNING)


# --- the pyfunc model ----------------------------------------------------------------------------


class ForecasterModel(PythonModel):
    """The fitted `Forecaster` as an MLflow pyfunc model.

    Input: the sales history to forecast from, in the canonical columns; it is validated and
    zero-filled here (`forecasting.data.prepare_sales`, at the model's period), as a generic
    client (`mlflow models serve`) sends rows as they come: text dates, days without sales left
    out. Params: `horizon` (periods). Output: the forecast contract.
    """

    # No type-hint validation: the schema is the signature given when logging.
    _skip_type_hint_validation = True

    def load_context(self, context: Any) -> None:
        path = context.artifacts[MODEL_ARTIFACT]
        with open(path, "rb") as handle:
            stored = pickle.load(handle)
        self.forecaster: Forecaster = check_format(stored, f"the model file {path}")

    # Unannotated on purpose: mlflow would derive a (wrong) schema from the annotations.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        horizon = (params or {}).get("horizon")
        config = self.forecaster.config
        sales = prepare_sales(
            pd.DataFrame(model_input),
            source="model input",
            freq=config.freq,
            level=trained_level(config),
        )
        return self.forecaster.predict(sales, horizon=int(horizon) if horizon else None)


def _requirements() -> list[str]:
    """Pinned versions of what unpickling and running the forecaster needs (no slow inference)."""
    packages = (
        "mlflow",
        "pandas",
        "numpy",
        "statsforecast",
        "mlforecast",
        "lightgbm",
        "utilsforecast",
        "scikit-learn",
        "pandera",
        "pydantic",
        "pyarrow",
    )
    pins = []
    for package in packages:
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pins.append(package)
    return pins


def _log_model(forecaster: Forecaster, sales: pd.DataFrame, workdir: Path) -> str:
    """Log the forecaster as a pyfunc model in the active run; returns its model URI."""
    path = workdir / PICKLE_NAME
    with open(path, "wb") as handle:
        pickle.dump(forecaster, handle, protocol=pickle.HIGHEST_PROTOCOL)
    example = sales.head(5)
    inferred = infer_signature(
        example, forecaster.predict().head(5), params={"horizon": forecaster.config.horizon}
    )
    # Every column of any type: `ForecasterModel.predict` validates and converts what it is sent
    # (int units, bool promo, dates as text) and names the rows it refuses, where MLflow's own
    # check refused integer units, even the sample's, as "not safely convertible to float64".
    inputs = Schema([ColSpec(AnyType(), str(column)) for column in example.columns])
    signature = ModelSignature(inputs=inputs, outputs=inferred.outputs, params=inferred.params)
    # Models from code: a two-line script names the class, so nothing is cloudpickled.
    entry = workdir / "forecaster_model.py"
    entry.write_text(
        "import mlflow\n"
        "from forecasting.tracking import ForecasterModel\n\n"
        "mlflow.models.set_model(ForecasterModel())\n"
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_MLFLOW_NAGS, category=UserWarning)
        info = _log_pyfunc(entry, path, signature)
    return str(info.model_uri)


def _log_pyfunc(entry: Path, pickled: Path, signature: Any) -> Any:
    return mlflow.pyfunc.log_model(
        name=MODEL_ARTIFACT,
        python_model=str(entry),
        artifacts={MODEL_ARTIFACT: str(pickled)},
        code_paths=[str(Path(__file__).resolve().parent)],
        signature=signature,
        pip_requirements=_requirements(),
    )


# --- what a run logs ----------------------------------------------------------------------------


def data_fingerprint(sales: pd.DataFrame) -> str:
    """SHA-256 (first 16 hex digits) of a sales frame's columns and values, order-independent."""
    ordered = sales.sort_values([c for c in (SKU, LOCATION, DATE) if c in sales.columns])
    ordered = ordered[sorted(ordered.columns)].reset_index(drop=True)
    digest = hashlib.sha256(",".join(ordered.columns).encode())
    digest.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _data_params(sales: pd.DataFrame) -> dict[str, Any]:
    dates = pd.to_datetime(sales[DATE])
    return {
        "data.rows": len(sales),
        "data.series": int(sales.groupby([SKU, LOCATION], sort=False).ngroups),
        "data.start": dates.min().date().isoformat(),
        "data.end": dates.max().date().isoformat(),
        "data.columns": ",".join(sales.columns),
        "data.units_total": float(sales[UNITS].sum()),
    }


def _config_params(config: ForecastConfig) -> dict[str, Any]:
    return {
        name: ",".join(map(str, value)) if isinstance(value, tuple) else value
        for name, value in config.model_dump().items()
    }


def _metric_values(metrics: pd.DataFrame) -> dict[str, float]:
    """Every finite measure of the metrics table as `<level>/<model>/<measure>`."""
    values: dict[str, float] = {}
    for row in metrics.to_dict("records"):
        for measure, value in row.items():
            if measure in ("level", "model") or not isinstance(value, int | float):
                continue
            if math.isfinite(float(value)):
                values[metric_key(str(row["level"]), str(row["model"]), str(measure))] = float(
                    value
                )
    return values


def _series_wape(backtest: pd.DataFrame, model: str) -> pd.Series:
    """WAPE per series over the backtest windows, only for series that sold something."""
    error = (backtest[Y] - backtest[model]).abs().groupby(backtest[UNIQUE_ID]).sum()
    volume = backtest[Y].abs().groupby(backtest[UNIQUE_ID]).sum()
    return (error / volume)[volume > 0].sort_values(kind="stable")


def pick_plot_series(backtest: pd.DataFrame, model: str = ENSEMBLE) -> dict[str, str]:
    """Best, typical (median) and worst series by backtest WAPE: {"best": unique_id, ...}."""
    scores = _series_wape(backtest, model)
    if scores.empty:
        return {}
    return {
        "best": str(scores.index[0]),
        "typical": str(scores.index[len(scores) // 2]),
        "worst": str(scores.index[-1]),
    }


def _plot_backtests(forecaster: Forecaster, outdir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from utilsforecast.plotting import plot_series

    backtest = forecaster.backtest_
    picks = pick_plot_series(backtest)
    if not picks:
        return []
    models = [m for m in (ENSEMBLE, "SeasonalNaive", "MA28") if m in backtest.columns]
    start = backtest[CUTOFF].min()
    history = forecaster.history_
    paths = []
    for label, unique_id in picks.items():
        series = history[history[UNIQUE_ID] == unique_id]
        series = series[series[DS] > start - PLOT_HISTORY * _period(forecaster.config.freq)]
        forecasts = backtest.loc[backtest[UNIQUE_ID] == unique_id, [UNIQUE_ID, DS, *models]]
        figure = plot_series(
            df=series[[UNIQUE_ID, DS, Y]], forecasts_df=forecasts, ids=[unique_id], models=models
        )
        figure.suptitle(f"{label} series by backtest WAPE: {unique_id}")
        path = outdir / f"backtest_{label}.png"
        figure.savefig(path, dpi=90, bbox_inches="tight")
        plt.close(figure)
        paths.append(path)
    return paths


def _period(freq: str) -> BaseOffset:
    return pd.tseries.frequencies.to_offset(freq)


def feature_importance(forecaster: Forecaster) -> pd.DataFrame:
    """Gain-free split importance of each fitted LightGBM: `model, feature, importance`."""
    rows = []
    for name, fitted in getattr(forecaster, "ml_models_", {}).items():
        for end, part in zip(fitted.ends, fitted.parts, strict=True):
            regressor = part.models_.get(name)
            importances = getattr(regressor, "feature_importances_", None)
            if importances is None:
                continue
            label = name if len(fitted.parts) == 1 else f"{name}_to_step_{end}"
            rows += [
                {"model": label, "feature": f, "importance": float(v)}
                for f, v in zip(part.ts.features_order_, importances, strict=True)
            ]
    frame = pd.DataFrame(rows, columns=["model", "feature", "importance"])
    return frame.sort_values(["model", "importance"], ascending=[True, False], kind="stable")


def _plot_importance(importance: pd.DataFrame, outdir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for name, rows in importance.groupby("model", sort=True):
        top = rows.head(20).iloc[::-1]
        figure, axis = plt.subplots(figsize=(7, 0.3 * len(top) + 1))
        axis.barh(top["feature"], top["importance"])
        axis.set_xlabel("splits")
        axis.set_title(f"{name}: feature importance")
        path = outdir / f"feature_importance_{name}.png"
        figure.savefig(path, dpi=90, bbox_inches="tight")
        plt.close(figure)
        paths.append(path)
    return paths


def _log_run_contents(forecaster: Forecaster, sales: pd.DataFrame, workdir: Path) -> None:
    """Params, fingerprint, metrics and artifacts of a fitted forecaster, in the active run."""
    mlflow.log_params({**_config_params(forecaster.config), **_data_params(sales)})
    fingerprint = data_fingerprint(sales)
    mlflow.set_tag("data.fingerprint", fingerprint)
    mlflow.log_param("data.fingerprint", fingerprint)
    mlflow.log_metrics(_metric_values(forecaster.metrics_))
    mlflow.log_metric("warnings", len(forecaster.warnings_))
    tables = workdir / "tables"
    plots = workdir / "plots"
    tables.mkdir()
    plots.mkdir()
    forecaster.backtest_.to_parquet(tables / "backtest.parquet", index=False)
    forecaster.metrics_.to_csv(tables / "metrics.csv", index=False)
    forecaster.choice_.to_csv(tables / "choice.csv", index=False)
    (tables / "warnings.txt").write_text("\n".join(forecaster.warnings_) + "\n")
    importance = feature_importance(forecaster)
    if not importance.empty:
        importance.to_csv(tables / "feature_importance.csv", index=False)
    _plot_backtests(forecaster, plots)
    _plot_importance(importance, plots)
    mlflow.log_artifacts(str(tables), "tables")
    mlflow.log_artifacts(str(plots), "plots")


# --- the champion gate ----------------------------------------------------------------------------


def gate_decision(candidate: float | None, champion: float | None) -> tuple[bool, str]:
    """Does a new version with backtest `candidate` replace the champion scoring `champion`?

    Both are `GATE_METRIC` values (lower is better); None = not measured (or, for `candidate`,
    not comparable) / no champion.
    Returns (promote, reason).
    """
    if champion is None:
        return True, f"no champion yet: promoted ({GATE_METRIC} {_fmt(candidate)})"
    if candidate is None or not math.isfinite(candidate):
        return False, f"{GATE_METRIC} of this version not compared: stays challenger"
    if not math.isfinite(champion) or candidate < champion:
        return (
            True,
            f"{GATE_METRIC} {candidate:.4f} beats the champion's {_fmt(champion)}: promoted",
        )
    return False, f"{GATE_METRIC} {candidate:.4f} does not beat the champion's {champion:.4f}"


CHAMPION_COLUMN = "Champion"


def _other_forecasts(champion: ForecastConfig, candidate: ForecastConfig) -> str:
    """How a new version forecasts otherwise than the champion (periods, level, horizon), or
    "": a gate score of one says nothing of the other's forecasts. A 1-day version beat a
    28-day champion on its one day ahead and went on to forecast 28."""
    if champion.freq != candidate.freq:
        return f"the champion forecasts {champion.freq!r} periods, this version {candidate.freq!r}"
    level, new_level = trained_level(champion), trained_level(candidate)
    if level != new_level:
        return f"the champion forecasts {level}-level series, this version {new_level}-level"
    if champion.horizon != candidate.horizon:
        return (
            f"the champion was trained {champion.horizon} periods ahead, this version "
            f"{candidate.horizon}"
        )
    return ""


def _more_inputs(champion: Forecaster, candidate: Forecaster) -> str:
    """The columns a new version reads, beyond the sales contract (price, promo, event), that
    the champion does not, named, or "": whoever forecasts with the champion (the service, a
    job) may not hold them. A scheduled retrain on sales with a SNAP flag could promote a
    version the service, which stores no such column, cannot load."""
    contract = {PRICE, PROMO, EVENT}  # the sales contract's own: every holder of sales has them
    more = sorted(set(candidate.input_columns()) - set(champion.input_columns()) - contract)
    if not more:
        return ""
    return (
        f"this version reads column(s) {', '.join(more)}, outside the sales contract, which the "
        "champion does not"
    )


def _other_backtest(champion: Forecaster, candidate: Forecaster) -> str:
    """How a new version's own backtest measured other things than the champion's (windows,
    series), or "": only alike backtests of one history compare. A version trained on 21 other
    series won on its own backtest and forecast the champion's series without having seen
    them."""
    windows, new_windows = champion.config.n_windows, candidate.config.n_windows
    if windows != new_windows:
        return f"the champion was backtested on {windows} windows, this version on {new_windows}"
    series = set(champion.history_[UNIQUE_ID].unique())
    new_series = set(candidate.history_[UNIQUE_ID].unique())
    if series != new_series:
        return (
            f"the champion was backtested on {len(series)} series, this version on "
            f"{len(new_series)}, {len(series & new_series)} of them the same"
        )
    return ""


def _scores_on_the_same_windows(
    tracking_uri: str, model_name: str, candidate: Forecaster, sales: pd.DataFrame
) -> tuple[float | None, float, str]:
    """GATE_METRIC of the new version and of the champion, both out of sample on the same
    days: the new version's backtest days after the last day the champion trained on, which the
    champion forecasts from the sales known at each cutoff. Where the history brings no such day
    (a retrain on the champion's own history), the two versions' own backtests, then made on the
    same history, are compared. Returns (new version's score, champion's score, a note on what
    was compared). A version whose history ends before the champion's is not compared (its
    score is None: it stays challenger).

    Each version's own backtest came from its own history: a retrain on a quieter (or harder)
    stretch won (or lost) for the data, not the model, and a champion backtested on easier days
    than any later history offered could never be replaced. Nor may the champion be scored on
    days it trained on: in sample, it beat an honest backtest of itself (0.5648 against 0.5996
    on the sample's own history)."""
    own = _metric_values(candidate.metrics_).get(GATE_METRIC)
    try:
        champion = load_model(tracking_uri, model_name, CHAMPION).forecaster
    except (ModelFormatError, MlflowException) as error:
        return own, math.inf, f" (the champion could not be loaded to score it: {error})"
    other = _other_forecasts(champion.config, candidate.config) or _more_inputs(champion, candidate)
    if other:
        # A weekly version scored against a daily champion was promoted (the service, which
        # forecasts days, then served nothing after a restart), and a region version won on
        # totals smoother than one location's sales.
        return (
            None,
            math.inf,
            f" ({other}: not comparable; `allocast models promote` makes it the champion if "
            "that is meant)",
        )
    trained_to = champion.history_[DS].max()
    known_to = candidate.history_[DS].max()
    if known_to < trained_to:
        # its backtest days are days the champion trained on: no fair score exists, and a
        # version that knows less recent sales is no replacement unless a person says so
        return (
            None,
            math.inf,
            (
                f" (its history ends {known_to.date()}, before the champion's, "
                f"{trained_to.date()}: not compared; `allocast models promote` makes it the "
                "champion if that is meant)"
            ),
        )
    table = candidate.backtest_
    table = table[table[DS] > trained_to]
    if table.empty:
        unlike = _other_backtest(champion, candidate)
        if unlike:
            return (
                None,
                math.inf,
                f" (no day after the champion's history, {trained_to.date()}, and {unlike}: "
                "their own backtests are not comparable; `allocast models promote` makes it the "
                "champion if that is meant)",
            )
        stored = _metric_values(champion.metrics_).get(GATE_METRIC, math.inf)
        return (
            own,
            stored,
            f" (no day after the champion's history, {trained_to.date()}: both versions' own "
            "backtests, on this history)",
        )
    # forecasts are dated by their periods' first days (period_starts), the backtest as pandas
    # labels them: the same days, on the same key
    table = table.assign(**{DS: period_starts(table[DS], candidate.config.freq)})
    dates = pd.to_datetime(sales[DATE])
    parts = []
    for cutoff in sorted(table[CUTOFF].unique()):
        try:
            forecast = champion.predict(sales[dates <= cutoff], horizon=candidate.config.horizon)
        except SalesValidationError as error:  # e.g. fitted on a price column these lack
            return own, math.inf, f" (the champion cannot forecast these sales: {error})"
        parts.append(
            pd.DataFrame(
                {
                    UNIQUE_ID: forecast[SKU].astype(str) + KEY_SEP + forecast[LOCATION].astype(str),
                    DS: pd.to_datetime(forecast[DATE]),
                    CUTOFF: cutoff,
                    CHAMPION_COLUMN: forecast[FORECAST].to_numpy(dtype=float),
                }
            )
        )
    both = table.merge(pd.concat(parts, ignore_index=True), on=[UNIQUE_ID, DS, CUTOFF])
    both = both[both[CHAMPION_COLUMN].notna() & both[ENSEMBLE].notna()]
    if both.empty:  # the champion forecast none of these series' days: it cannot defend them
        return own, math.inf, " (the champion forecast none of this version's backtest days)"
    scores = evaluate(
        both, candidate.history_, [CHAMPION_COLUMN, ENSEMBLE], candidate.config.horizon
    ).set_index("model")["rmsse_weighted"]
    note = (
        f" (both scored on the {both[DS].nunique()} backtest days after the champion's history, "
        f"{trained_to.date()}, {both[UNIQUE_ID].nunique():,} series)"
    )
    return float(scores[ENSEMBLE]), float(scores[CHAMPION_COLUMN]), note


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _champion(client: MlflowClient, model_name: str) -> Any | None:
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException as error:
        if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise


# --- training, backtest ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainOutcome:
    """What a training run produced and where it lives."""

    run_id: str
    version: str  # registered model version
    promoted: bool  # became `champion`
    gate: str  # the gate's decision, in words
    metrics: dict[str, float]  # `<level>/<model>/<measure>` -> value
    tracking_uri: str
    model_name: str
    experiment_id: str
    forecaster: Forecaster = field(repr=False, compare=False)


@dataclass(frozen=True)
class BacktestOutcome:
    """A logged backtest (no model registered)."""

    run_id: str
    metrics: pd.DataFrame
    tracking_uri: str
    experiment_id: str
    forecaster: Forecaster = field(repr=False, compare=False)


def train_and_register(
    sales: pd.DataFrame,
    config: ForecastConfig | None = None,
    tracking_uri: str | None = None,
    model_name: str = DEFAULT_MODEL_NAME,
    *,
    progress: Progress | None = None,
    source: str | None = None,
    forecaster: Forecaster | None = None,
) -> TrainOutcome:
    """Fit a `Forecaster` on `sales`, log the run, register the model and apply the gate.

    `sales` is a canonical frame (`forecasting.data.load_sales`); `source` names where it came
    from (logged as a tag). A `forecaster` already fitted on `sales` skips the fit.
    """
    config = config or (forecaster.config if forecaster else ForecastConfig())
    uri = tracking_uri or default_tracking_uri()
    say = progress or (lambda _message: None)
    _quiet_store_logs()
    client = _client(uri)
    experiment_id = _experiment_id(client, uri)
    with _using(uri), mlflow.start_run(experiment_id=experiment_id) as run:
        run_id = run.info.run_id
        mlflow.set_tags({"kind": "train", "model_name": model_name, "source": source or "<frame>"})
        fitted = forecaster or Forecaster(config).fit(sales, progress=say)
        say("logging the run to MLflow")
        with tempfile.TemporaryDirectory(prefix="allocast-run-") as tmp:
            _log_run_contents(fitted, sales, Path(tmp))
            model_uri = _log_model(fitted, sales, Path(tmp))
        say("registering the model")
        with contextlib.redirect_stderr(io.StringIO()):  # mlflow prints "Successfully ..."
            registered = mlflow.register_model(model_uri, model_name)
        version = str(registered.version)
        client.set_registered_model_alias(model_name, CHALLENGER, version)
        metrics = _metric_values(fitted.metrics_)
        champion = _champion(client, model_name)
        candidate_score, champion_score, measured = metrics.get(GATE_METRIC), None, ""
        if champion is not None:
            say("scoring the champion on the backtest days after its history")
            candidate_score, champion_score, measured = _scores_on_the_same_windows(
                uri, model_name, fitted, sales
            )
        promoted, reason = gate_decision(candidate_score, champion_score)
        reason += measured
        if promoted:
            client.set_registered_model_alias(model_name, CHAMPION, version)
        mlflow.set_tags(
            {
                "gate.metric": GATE_METRIC,
                "gate.direction": "lower is better",
                "gate.promoted": str(promoted).lower(),
                "gate.reason": reason,
                "gate.champion_before": champion.version if champion is not None else "none",
                "registered.version": version,
            }
        )
        if champion_score is not None and math.isfinite(champion_score):
            mlflow.log_metric("gate/champion_before", champion_score)
        if champion is not None and candidate_score is not None and math.isfinite(candidate_score):
            mlflow.log_metric("gate/candidate", candidate_score)
        client.set_model_version_tag(model_name, version, "gate", reason)
    return TrainOutcome(
        run_id=run_id,
        version=version,
        promoted=promoted,
        gate=reason,
        metrics=metrics,
        tracking_uri=uri,
        model_name=model_name,
        experiment_id=experiment_id,
        forecaster=fitted,
    )


def log_backtest(
    sales: pd.DataFrame,
    config: ForecastConfig | None = None,
    tracking_uri: str | None = None,
    *,
    progress: Progress | None = None,
    source: str | None = None,
) -> BacktestOutcome:
    """Run the backtest of every model on `sales` and log it as a run (nothing is registered)."""
    config = config or ForecastConfig()
    uri = tracking_uri or default_tracking_uri()
    _quiet_store_logs()
    client = _client(uri)
    experiment_id = _experiment_id(client, uri)
    with _using(uri), mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.set_tags({"kind": "backtest", "source": source or "<frame>"})
        fitted = Forecaster(config).fit(sales, progress=progress)
        with tempfile.TemporaryDirectory(prefix="allocast-run-") as tmp:
            _log_run_contents(fitted, sales, Path(tmp))
    return BacktestOutcome(
        run_id=run.info.run_id,
        metrics=fitted.metrics_,
        tracking_uri=uri,
        experiment_id=experiment_id,
        forecaster=fitted,
    )


def log_table(
    tracking_uri: str | None, run_id: str, table: pd.DataFrame, name: str = "comparison"
) -> str:
    """Add a table to a finished run as `tables/<name>.csv`; returns the artifact path."""
    path = f"tables/{name}.csv"
    _client(tracking_uri or default_tracking_uri()).log_text(
        run_id, table.to_csv(index=False), path
    )
    return path


# --- loading, listing, promoting -----------------------------------------------------------------


@dataclass
class LoadedForecaster:
    """A registered forecaster loaded back from MLflow."""

    version: str
    run_id: str
    model_name: str
    alias: str | None
    pyfunc: Any = field(repr=False)

    @property
    def forecaster(self) -> Forecaster:
        """The unpickled `Forecaster` inside the pyfunc model."""
        model: ForecasterModel = self.pyfunc.unwrap_python_model()
        return model.forecaster

    @property
    def config(self) -> ForecastConfig:
        return self.forecaster.config

    def predict(
        self, sales: pd.DataFrame | None = None, horizon: int | None = None
    ) -> pd.DataFrame:
        """Forecast contract for the `horizon` periods after `sales` (default: fitted history)."""
        return self.forecaster.predict(sales, horizon=horizon)


def resolve_model(
    tracking_uri: str | None = None,
    model_name: str = DEFAULT_MODEL_NAME,
    alias: str = CHAMPION,
) -> tuple[str, str | None]:
    """(version, alias) that `alias` names: an alias ("champion") or a version number ("3")."""
    client = _client(tracking_uri or default_tracking_uri())
    try:
        if alias.isdigit():
            client.get_model_version(model_name, alias)
            return alias, None
        return str(client.get_model_version_by_alias(model_name, alias).version), alias
    except MlflowException as error:
        uri = tracking_uri or default_tracking_uri()
        raise ForecastingError(
            f"no model {model_name!r} {'version' if alias.isdigit() else 'alias'} {alias!r} in "
            f"the registry at {uri}: train one with `allocast train` (or pass --tracking-uri)"
        ) from error


def load_model(
    tracking_uri: str | None = None,
    model_name: str = DEFAULT_MODEL_NAME,
    alias: str = CHAMPION,
) -> LoadedForecaster:
    """Load the version of `model_name` that `alias` names (an alias or a version number)."""
    uri = tracking_uri or default_tracking_uri()
    _quiet_store_logs()
    version_id, alias_name = resolve_model(uri, model_name, alias)
    client = _client(uri)
    model_version = client.get_model_version(model_name, version_id)
    with _using(uri), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_MLFLOW_NAGS, category=UserWarning)
        try:
            pyfunc = mlflow.pyfunc.load_model(f"models:/{model_name}/{version_id}")
        except ModelFormatError as error:
            raise ModelFormatError(f"model {model_name!r} version {version_id}: {error}") from None
    return LoadedForecaster(
        version=version_id,
        run_id=str(model_version.run_id),
        model_name=model_name,
        alias=alias_name,
        pyfunc=pyfunc,
    )


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered version, what it forecasts (`freq`, `level`, `horizon`, from its run's
    parameters; None where the run lacks one) and its backtest."""

    version: str
    aliases: list[str]
    run_id: str
    metrics: dict[str, float]
    created: dt.datetime
    freq: str | None = None
    level: str | None = None
    horizon: int | None = None


def list_versions(
    tracking_uri: str | None = None, model_name: str = DEFAULT_MODEL_NAME
) -> list[ModelVersionInfo]:
    """Every version of `model_name`, newest first, with aliases and the run's metrics."""
    client = _client(tracking_uri or default_tracking_uri())
    versions = client.search_model_versions(f"name = '{model_name}'")
    result = []
    for found in sorted(versions, key=lambda v: int(v.version), reverse=True):
        # search results carry no aliases on every store; the single look-up does
        item = client.get_model_version(model_name, str(found.version))
        data = client.get_run(item.run_id).data if item.run_id else None
        metrics = data.metrics if data else {}
        params = data.params if data else {}
        horizon = params.get("horizon")
        result.append(
            ModelVersionInfo(
                version=str(item.version),
                aliases=sorted(item.aliases or []),
                run_id=str(item.run_id),
                metrics={k: float(v) for k, v in metrics.items()},
                created=dt.datetime.fromtimestamp(item.creation_timestamp / 1000, tz=dt.UTC),
                freq=params.get("freq"),
                # runs logged before the level was a setting trained per location
                level=params.get("level", "location" if params else None),
                horizon=int(horizon) if horizon is not None and horizon.isdigit() else None,
            )
        )
    return result


def promote(tracking_uri: str | None, model_name: str, version: str, alias: str = CHAMPION) -> None:
    """Point `alias` (default: the champion) at `version` by hand, skipping the gate.

    The alias leaves whichever version held it. Raises when the version does not exist.
    """
    client = _client(tracking_uri or default_tracking_uri())
    try:
        client.get_model_version(model_name, str(version))
    except MlflowException as error:
        uri = tracking_uri or default_tracking_uri()
        raise ForecastingError(
            f"model {model_name!r} has no version {version!r} to promote in the registry at "
            f"{uri}; `allocast models list` shows the versions"
        ) from error
    client.set_registered_model_alias(model_name, alias, str(version))
    tag = "gate" if alias == CHAMPION else f"alias.{alias}"
    client.set_model_version_tag(model_name, str(version), tag, f"{alias} set by hand")
