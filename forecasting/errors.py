"""Typed errors of the forecasting package; the service maps them to 4xx responses in one place."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ForecastingError",
    "ModelFormatError",
    "NotFittedError",
    "SalesValidationError",
    "listed",
]


class ForecastingError(Exception):
    """Anything the forecasting package refuses to do, with a message that says why."""


class NotFittedError(ForecastingError, RuntimeError):
    """A forecaster was asked to predict before `fit` ran."""


class ModelFormatError(ForecastingError):
    """A stored forecaster was fitted by a release whose fitted state has another shape."""


class SalesValidationError(ForecastingError, ValueError):
    """Sales input that cannot be used: names the source, the column, the rows and the fix.

    `rows` holds the first few offending rows as 1-based data row numbers (the header excluded),
    so row 1 is the first data line of a CSV file or the first row of a frame.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str,
        column: str | None = None,
        rows: Sequence[int] = (),
    ) -> None:
        self.source = source
        self.column = column
        self.rows = list(rows)
        super().__init__(message)


def listed(items: Sequence[object], shown: int = 5, separator: str = ", ") -> str:
    """The first `shown` items of a message's list and how many more there are."""
    more = len(items) - shown
    return separator.join(str(item) for item in items[:shown]) + (
        f" and {more} more" if more > 0 else ""
    )
