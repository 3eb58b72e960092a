"""Rolling-origin backtest of every model family on the same windows.

With `horizon` h and `n_windows` k the cutoffs are the last k·h periods' window starts: each
window forecasts h periods from a model fitted on everything before it (statsforecast refits the
local models, mlforecast refits the global model), and the windows do not overlap
(step = horizon). The result is one long table `unique_id, ds, cutoff, y, <model>...`.

One bad model never sinks the run: a family that raises is dropped with a warning naming it and
the error; a series whose forecast from one model is missing or infinite gets the fallback
model's value, with a warning naming the series and the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.columns import CUTOFF, DS, UNIQUE_ID, Y
from forecasting.errors import listed
from forecasting.models import (
    FALLBACK,
    ML_MODELS,
    STAT_MODELS,
    fallback_level,
    ml_cross_validation,
    stat_cross_validation,
)

__all__ = ["Backtest", "fill_missing_forecasts", "run_backtest"]

KEYS = [UNIQUE_ID, DS, CUTOFF]
Progress = Callable[[str], None]


@dataclass
class Backtest:
    """A backtest table and what went wrong on the way (`warnings`, `failed` models)."""

    table: pd.DataFrame
    models: list[str]
    warnings: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def fill_missing_forecasts(
    table: pd.DataFrame, models: Sequence[str], fallback: str, what: str = "backtest"
) -> list[str]:
    """Replace NaN / infinite forecasts by the fallback column in place; return the warnings."""
    warnings = []
    for model in models:
        if model == fallback:
            continue
        values = table[model].to_numpy(dtype="float64")
        bad = ~np.isfinite(values)
        if bad.any():
            series = sorted(table.loc[bad, UNIQUE_ID].unique())
            table.loc[bad, model] = table.loc[bad, fallback]
            shown = listed(series)
            warnings.append(
                f"{what}: {model} gave no usable forecast for series {shown}; "
                f"used {fallback} there instead"
            )
    return warnings


def run_backtest(
    long: pd.DataFrame,
    models: Sequence[str],
    horizon: int,
    n_windows: int,
    freq: str,
    seed: int = 0,
    input_size: int | None = None,
    progress: Progress | None = None,
) -> Backtest:
    """Backtest `models` (names from `STAT_MODELS` and `ML_MODELS`) on the long frame.

    The fallback model (`MA28`) is always included, since it fills in for failures.
    """
    say = progress or (lambda _message: None)
    stat_names = [m for m in STAT_MODELS if m in models or m == FALLBACK]
    ml_names = [m for m in ML_MODELS if m in models]
    unknown = sorted(set(models) - set(STAT_MODELS) - set(ML_MODELS))
    if unknown:
        raise ValueError(f"unknown model {unknown[0]!r}; choose from {STAT_MODELS + ML_MODELS}")
    result = Backtest(table=pd.DataFrame(), models=[])
    say(f"backtest: {len(stat_names)} statistical models, {n_windows} windows x {horizon}")
    table = _stat_block(long, stat_names, horizon, n_windows, freq, input_size, result)
    for name in ml_names:
        say(f"backtest: {name} ({n_windows} windows x {horizon})")
        try:
            block = ml_cross_validation(long, name, horizon, n_windows, freq, seed)
        except Exception as error:  # a failing model family is dropped, not fatal
            result.failed[name] = f"{type(error).__name__}: {error}"
            result.warnings.append(f"backtest: {name} failed and is left out ({error})")
            continue
        table = table.merge(block.drop(columns=[Y]), on=KEYS, how="left")
        result.models.append(name)
    _fill_fallback(table, long, freq)
    result.warnings += fill_missing_forecasts(table, result.models, FALLBACK)
    result.table = table.sort_values(KEYS, kind="stable").reset_index(drop=True)
    return result


def _fill_fallback(table: pd.DataFrame, long: pd.DataFrame, freq: str) -> None:
    """Give the fallback a value wherever statsforecast's window average had too few periods
    before the cutoff (a series shorter than the window): the mean of the periods it has, as
    `fallback_forecast` does when forecasting. Else the fallback, and every model it fills in
    for, and the ensemble, had no value there (a 60-day history backtested 3 x 14 days lost its
    first window's ensemble scores). In place."""
    missing = table[FALLBACK].isna().to_numpy()
    for cutoff in pd.unique(table.loc[missing, CUTOFF]):
        level = fallback_level(long[long[DS] <= cutoff], freq)
        rows = missing & (table[CUTOFF] == cutoff).to_numpy()
        table.loc[rows, FALLBACK] = table.loc[rows, UNIQUE_ID].map(level).to_numpy()


def _stat_block(
    long: pd.DataFrame,
    names: list[str],
    horizon: int,
    n_windows: int,
    freq: str,
    input_size: int | None,
    result: Backtest,
) -> pd.DataFrame:
    """All local models in one statsforecast pass; one by one when that pass fails."""
    try:
        together = stat_cross_validation(long, names, horizon, n_windows, freq, input_size)
        result.models += names
        return together
    except Exception as error:  # find the culprit: run each model on its own
        result.warnings.append(f"backtest: statistical models failed together ({error})")
    table: pd.DataFrame | None = None
    for name in names:
        try:
            block = stat_cross_validation(long, [name], horizon, n_windows, freq, input_size)
        except Exception as error:
            if name == FALLBACK:
                raise
            result.failed[name] = f"{type(error).__name__}: {error}"
            result.warnings.append(f"backtest: {name} failed and is left out ({error})")
            continue
        table = block if table is None else table.merge(block.drop(columns=[Y]), on=KEYS)
        result.models.append(name)
    if table is None:  # unreachable: the fallback either ran or raised
        raise RuntimeError("no statistical model ran")
    return table
