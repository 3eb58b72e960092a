"""A real MLflow registry with two trained versions, made once per test process and copied.

Training is the slow part (seconds), so the first test that asks trains two small models on a
slice of the sales sample (3 SKUs x 3 locations, the last 240 days) into a template directory:

- version 1: quantiles 0.5, 0.9, 0.95 (the champion in the template);
- version 2: quantiles 0.5, 0.8 (so a test can tell from a forecast which version answered).

Each test then gets its own copy of the registry database (`registry_copy`): promotions in one
test never leak into another. The artifacts (the pickled models) stay in the template and are
only read.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from forecasting.data import load_sales
from forecasting.forecaster import ForecastConfig
from forecasting.tracking import promote, train_and_register

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_SALES = REPO_ROOT / "data" / "samples" / "sales.parquet"
MODEL_NAME = "allocast-forecaster"
SKUS = ("SKU-001", "SKU-002", "SKU-003")
LOCATIONS = ("FW-N1", "D-N1", "D-E1")
HISTORY_DAYS = 240
QUANTILES_V1 = (0.5, 0.9, 0.95)
QUANTILES_V2 = (0.5, 0.8)


@dataclass(frozen=True)
class Registry:
    """A registry of its own: tracking URI, model name, and the sales the models saw."""

    tracking_uri: str
    model_name: str
    sales: pd.DataFrame


def small_sales() -> pd.DataFrame:
    """The canonical sales of the slice the test models are trained on."""
    sales = load_sales(SAMPLE_SALES)
    sales = sales[sales["sku"].isin(SKUS) & sales["location"].isin(LOCATIONS)]
    start = sales["date"].max() - pd.Timedelta(days=HISTORY_DAYS - 1)
    return sales[sales["date"] >= start].reset_index(drop=True)


_template: Path | None = None


def _train_template(root: Path) -> Path:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    sales = small_sales()
    for quantiles in (QUANTILES_V1, QUANTILES_V2):
        config = ForecastConfig(horizon=14, n_windows=2, quantiles=quantiles)
        train_and_register(sales, config, tracking_uri=uri, model_name=MODEL_NAME)
    promote(uri, MODEL_NAME, "1")
    return root


def registry_copy(tmp_path_factory: pytest.TempPathFactory, target: Path) -> Registry:
    """A copy of the template registry database at `target` (an `.db` path)."""
    global _template
    if _template is None:
        _template = _train_template(tmp_path_factory.mktemp("registry-template"))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template / "mlflow.db", target)
    return Registry(tracking_uri=f"sqlite:///{target}", model_name=MODEL_NAME, sales=small_sales())


def sales_rows(sales: pd.DataFrame) -> list[dict[str, Any]]:
    """Canonical sales as the rows `POST /v1/sales` takes."""
    frame = sales.copy()
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d")
    return [
        {str(k): v for k, v in row.items() if v is not None and v == v}  # no None / NaN
        for row in frame.to_dict(orient="records")
    ]
