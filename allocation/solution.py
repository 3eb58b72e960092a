"""A solved allocation LP as plain numbers (`Solution`), whichever way it was built: read from
the PuLP problem's variables (`from_variables`) or from the array LP's column vector
(`from_arrays`, and back: `write_solution`); with the lookups the plan's explanation reads it
through."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pulp

from allocation.inputs import SKU
from allocation.model import Variables
from allocation.packs import SupplyKey
from allocation.scale import LpArrays, settle_early

__all__ = [
    "DECIMALS",
    "EPS",
    "SMALL",
    "Solution",
    "by_key",
    "cost_terms",
    "from_arrays",
    "from_variables",
    "landings",
    "write_solution",
]

EPS = 1e-6
SMALL = 0.01  # units; less unmet than this is rounding noise, not a shortage worth a line
DECIMALS = 6  # of a plan line's units: 2.999999999999999 is the solver's float dust, not a plan
_BIND = 1e-6  # a row whose slack is this close to zero binds (names the constraint in a line)
_CAPACITY_ROWS = ("capacity[", "lane_capacity[")  # rows whose room `Solution.room` keeps

# Column letter of `LpArrays.col_key` -> the `Solution` field and the cost term it belongs to.
_FIELD = {
    "x": "flow",
    "y": "supply",
    "e": "ending",
    "u": "short",
    "v": "safety_short",
    "b": "early_short",
    "c": "early_safety_short",
    "o": "over",
    "g": "fair_gap",
}
_TERM = {
    "x": "transport",
    "y": "transport",
    "e": "holding",
    "u": "shortage_penalty",
    "v": "shortage_penalty",
    "b": "shortage_penalty",
    "c": "shortage_penalty",
    "o": "overstock_penalty",
    "g": "fair_share_penalty",
}


@dataclass
class Solution:
    """A solved LP as plain numbers, whichever way it was built: the values of `Variables`
    (units, by the same keys), the cost split (money) and the names of the binding rows."""

    flow: dict[tuple[str, int], float]
    supply: dict[SupplyKey, float]
    ending: dict[tuple[str, str], float]
    short: dict[tuple[str, str], float]
    safety_short: dict[tuple[str, str], float]
    early_short: dict[tuple[str, str], float]
    early_safety_short: dict[tuple[str, str], float]
    over: dict[tuple[str, str], float]
    fair_gap: dict[tuple[str, str], float]
    cost_terms: dict[str, float]
    binding: set[str]
    # Room left in each capacity and lane-capacity row (its units: units or volume). After
    # whole units a row may keep less than one unit's room: full, though its slack is not 0.
    room: dict[str, float] = field(default_factory=dict)


def _value(item: Any) -> float:
    if isinstance(item, pulp.LpVariable):  # most lines: read the value, no expression walk
        return float(item.varValue or 0.0)
    return float(pulp.value(item) or 0.0)


def from_variables(variables: Variables) -> Solution:
    """The PuLP problem's solution; a row binds when its slack is (solver) zero."""

    def values(group: dict[Any, Any]) -> dict[Any, float]:
        return {key: _value(item) for key, item in group.items()}

    slack = {
        name: row.slack for name, row in variables.constraints.items() if row.slack is not None
    }
    return Solution(
        flow=values(variables.flow),
        supply=values(variables.supply),
        ending=values(variables.ending),
        short=values(variables.short),
        safety_short=values(variables.safety_short),
        early_short=values(variables.early_short),
        early_safety_short=values(variables.early_safety_short),
        over=values(variables.over),
        fair_gap=values(variables.fair_gap),
        cost_terms=values(variables.cost_terms),
        binding={name for name, value in slack.items() if abs(value) < _BIND},
        room={
            name: float(value) for name, value in slack.items() if name.startswith(_CAPACITY_ROWS)
        },
    )


def from_arrays(arrays: LpArrays, x: np.ndarray) -> Solution:
    """The array LP's solution by `build_problem`'s keys (`LpArrays.col_key`); the rows that
    explain names bind when they are at a bound."""
    groups = _by_field(arrays, x)
    terms = cost_terms(arrays, x)
    names = list(arrays.row_name)
    rows = np.array([arrays.row_name[name] for name in names], dtype=np.int64)
    activity = arrays.matrix[rows] @ x if len(rows) else np.zeros(0)
    upper, lower = arrays.row_upper[rows], arrays.row_lower[rows]
    bound = np.where(np.isfinite(upper), upper, lower)
    binding = {names[i] for i in np.nonzero(np.abs(activity - bound) < _BIND)[0]}
    room = {
        name: float(upper[i] - activity[i])
        for i, name in enumerate(names)
        if name.startswith(_CAPACITY_ROWS)
    }
    return Solution(**groups, cost_terms=terms, binding=binding, room=room)


def cost_terms(arrays: LpArrays, x: np.ndarray) -> dict[str, float]:
    """The objective at x split by cost term (money), as `Variables.cost_terms` names them."""
    letters = arrays.col_key.letters()
    money = arrays.cost * x
    terms = dict.fromkeys(_TERM.values(), 0.0)
    for letter, term in _TERM.items():
        terms[term] += float(money[letters == letter].sum())
    return terms


def _by_field(arrays: LpArrays, values: np.ndarray) -> dict[str, dict[Any, float]]:
    """Column values (a solution, or the costs) as {`Solution` field: {model key: value}}."""
    groups: dict[str, dict[Any, float]] = {name: {} for name in _FIELD.values()}
    for letter, (keys, index) in arrays.col_key.by_letter().items():
        groups[_FIELD[letter]].update(zip(keys, values[index].tolist(), strict=True))
    return groups


def write_solution(plan: np.ndarray, arrays: LpArrays, values: dict[str, dict[Any, float]]) -> None:
    """Write into `plan` (a column vector of `arrays`) the values given by `Solution` field and
    model key (the inverse of `_by_field`); a column whose key is not given keeps its value,
    but the early shortages, which follow from the rest (`settle_early`): the plan keeps every
    row, as the decomposition's start must."""
    for letter, (keys, index) in arrays.col_key.by_letter().items():
        given = values.get(_FIELD[letter], {})
        if given:
            kept = plan[index].tolist()
            plan[index] = [given.get(key, old) for key, old in zip(keys, kept, strict=True)]
    settle_early(arrays, plan)


def by_key(frame: pd.DataFrame, location: str, column: str) -> dict[tuple[str, str], float]:
    """{(sku, location): value} of one column: a dict lookup per plan line, not a MultiIndex one."""
    keys = zip(frame[SKU], frame[location], strict=True)
    return dict(zip(keys, frame[column].astype(float).round(DECIMALS), strict=True))


def landings(
    skus: pd.Series, nodes: pd.Series, days: pd.Series, units: pd.Series
) -> defaultdict[tuple[str, str], list[tuple[int, float]]]:
    """(day it lands, units) of each shipment, by (sku, node)."""
    landing: defaultdict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    for key, day, quantity in zip(
        zip(skus, nodes, strict=True), days.astype(int), units.astype(float), strict=True
    ):
        landing[key].append((int(day), float(quantity)))
    return landing
