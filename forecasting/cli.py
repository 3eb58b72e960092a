"""Forecasting commands of the `allocast` CLI: train, forecast, backtest."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the forecasting commands to the top-level app."""
