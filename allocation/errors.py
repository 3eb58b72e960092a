"""Typed errors of the allocation package: bad input names the item, a solver failure says why."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["AllocationError", "AllocationInputError", "SolverError", "listed"]


class AllocationError(Exception):
    """Base of every error the allocation package raises on purpose."""


class AllocationInputError(AllocationError, ValueError):
    """An input (network, stock, demand, policy) that cannot be planned with.

    source: the file or "network" / "stock" / "demand" / "policy".
    field: the field or column at fault, when there is one.
    item: the id of the offending item (SKU, node, lane, distributor), when there is one.
    """

    def __init__(
        self, message: str, *, source: str, field: str | None = None, item: str | None = None
    ) -> None:
        super().__init__(message)
        self.source = source
        self.field = field
        self.item = item


class SolverError(AllocationError):
    """The solver did not prove an optimum (nor return an accepted time-limited solution).

    status: the solver's own model status (e.g. "Time limit reached", "Infeasible").
    solver: "highs" or "cbc".
    timed_out: it stopped at its time limit, so a longer one may give a plan.
    """

    def __init__(self, message: str, *, status: str, solver: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.solver = solver
        self.timed_out = timed_out


def listed(
    items: Sequence[object], shown: int = 5, separator: str = ", ", total: int | None = None
) -> str:
    """The first `shown` items of a message's list and how many more there are (of `total`,
    where `items` holds only the first ones)."""
    more = (len(items) if total is None else total) - shown
    return separator.join(str(item) for item in items[:shown]) + (
        f" and {more} more" if more > 0 else ""
    )
