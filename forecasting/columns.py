"""The one place that owns column names, so no other module spells them as string literals.

Two vocabularies meet here: the *canonical sales frame* users hand us (`sku, location, date,
units, ...`) and the *Nixtla long frame* statsforecast / mlforecast expect (`unique_id, ds, y`).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "CUTOFF",
    "DATE",
    "DS",
    "EVENT",
    "FORECAST",
    "KEY",
    "KEY_SEP",
    "LOCATION",
    "MODEL",
    "PRICE",
    "PROMO",
    "REGION",
    "SKU",
    "UNIQUE_ID",
    "UNITS",
    "Y",
    "quantile_column",
    "quantile_columns",
    "quantile_of",
]

# Canonical sales frame (DESIGN.md "Sales input").
SKU = "sku"
LOCATION = "location"
REGION = "region"
DATE = "date"
UNITS = "units"  # units sold in the period (>= 0)
PRICE = "price"  # shelf price in money per unit
PROMO = "promo"  # 1 when a promotion runs in the period, else 0
EVENT = "event"  # 1 when a holiday / event falls in the period, else 0
KEY = (SKU, LOCATION, DATE)

# Nixtla long frame.
UNIQUE_ID = "unique_id"
DS = "ds"
Y = "y"
KEY_SEP = "|"  # unique_id = f"{sku}|{location}"

# Forecast contract and backtest tables.
FORECAST = "forecast"
CUTOFF = "cutoff"
MODEL = "model"


def quantile_column(level: float) -> str:
    """Column name of a quantile forecast: 0.9 -> "q0.9" (the forecast contract)."""
    return f"q{level:g}"


def quantile_columns(levels: Iterable[float]) -> list[str]:
    """Column names of several quantile forecasts, in the given order."""
    return [quantile_column(level) for level in levels]


def quantile_of(column: str) -> float:
    """Inverse of `quantile_column`: "q0.9" -> 0.9."""
    if not column.startswith("q"):
        raise ValueError(f"{column!r} is not a quantile column (expected 'q<level>', e.g. 'q0.9')")
    return float(column[1:])
