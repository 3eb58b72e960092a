"""Transfers in whole units: the LP's flows rounded by a small MILP with a strong formulation.

The LP moves stock in fractions (2.884 units from RW-R1 to FW-004) that nobody can ship. Here
each fractional flow becomes a whole number near its LP value (just below or just above it, or
as much further as the fractional flows after it may add up to: `_downstream`), chosen by the
plan's real money with every row of the LP kept, the suggestions as they are.

Why not the LP itself with integer flows: its shortage, safety and overstock terms break at
fractional stock levels (mean demand 2.5 units), so its relaxation puts stock exactly there and
a MILP has to branch on nearly every flow (a minute of cuts for 250 SKUs). Here the money of the
stock a warehouse keeps is written per whole unit instead: between two stock levels a whole
number of units apart, a segment priced at the real cost difference (holding, shortage, safety
stock, overstock) and the real change in units uncovered (fair share). The money is convex in
the stock (kappa <= 1), so the relaxation fills segments in order, and without the shared rows
(capacity, lanes, timing, fair share) the model is a network flow whose optimum is whole: the
relaxation is nearly integral and the MILP stops at its root.

The model is written around the LP's own point, as changes: each row keeps its slack at that
point less what the changes use, so anything the model allows, the LP's rows allow. The early
rows (`allocation.model.early_needs`) are the exception: soft, with a shortage column of no
upper bound, any rounding keeps them, and the money of a unit moved across one is not priced
here (at most a unit per fractional flow); the re-solve after the rounding prices them.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from allocation.errors import SolverError, listed
from allocation.highs import fit_tolerance, quiet_highs
from allocation.model import Arc
from allocation.packs import LpView
from allocation.policy import CATCHMENT
from allocation.solve import OPTIMAL, TIME_LIMITED

__all__ = ["WHOLE", "WholeUnits", "whole_units"]

WHOLE = 1e-6  # units: a flow this close to a whole number is that number (solver dust)
PRINTED = 1e-7  # relative precision of values a solver prints (CBC, via PuLP: 8 digits)
DUST = 1e-4  # units: the most a stock is moved to read printed values as whole

Key = tuple[str, str]
FlowKey = tuple[str, int]


@dataclass(frozen=True)
class WholeUnits:
    """flows: every flow of the LP, (sku, arc index), at its whole number of units (none when
    all were whole already); changes: what follows from them (`_changes`); rounded: how many
    flows were fractional; seconds of wall time; above: money above the MILP's relaxation, at
    most what a better rounding could save; status: "optimal", or "time_limited" when the time
    limit stopped the search at a whole rounding; skus: the SKUs with a fractional flow, of
    which the MILP searched `searched` (the others kept the relaxation's whole flows)."""

    flows: dict[FlowKey, float]
    changes: dict[str, dict[Any, float]]
    rounded: int
    seconds: float
    above: float
    status: str = OPTIMAL
    skus: int = 0
    searched: int = 0


class _Model:
    """Columns and rows of the rounding MILP, added one at a time (lists, then arrays)."""

    def __init__(self) -> None:
        self.cost: list[float] = []
        self.lower: list[float] = []
        self.upper: list[float] = []
        self.start: list[float] = []  # the LP's point, where the relaxation starts
        # The matrix's entries as three lists (row, column, coefficient), ready for numpy.
        self.entry_row: list[int] = []
        self.entry_column: list[int] = []
        self.entry_value: list[float] = []
        self.row_lower: list[float] = []
        self.row_upper: list[float] = []

    def column(self, cost: float, lower: float, upper: float, start: float) -> int:
        self.cost.append(cost)
        self.start.append(start)
        self.lower.append(lower)
        self.upper.append(upper)
        return len(self.cost) - 1

    def row(self, terms: list[tuple[int, float]], lower: float, upper: float) -> None:
        r = len(self.row_lower)
        self.entry_row.extend([r] * len(terms))
        self.entry_column.extend(c for c, _a in terms)
        self.entry_value.extend(a for _c, a in terms)
        self.row_lower.append(lower)
        self.row_upper.append(upper)


def whole_units(
    lp: LpView, arcs: list[Arc], tolerance: float, time_limit: float | None = None
) -> WholeUnits:
    """Every fractional flow of the LP's point `lp` (suggestions already whole packs) at a whole
    number near its value, chosen by the MILP described above. tolerance: money the MILP may
    stay above its best rounding when it has to search (`_solve`). time_limit: seconds for its
    searches; when it stops one at a whole rounding, that rounding is kept, status
    "time_limited" (the relaxation before them is not cut short).

    Where two full warehouses share a fraction of a unit (capacity slack below one unit's
    volume at both ends of a flow), no rounding of the fractional flows alone keeps both
    capacities: then every flow may move one unit more, whole ones included, so that another
    SKU's unit can make the room (the property tests found such an instance). A rounding the
    rows still do not allow is a SolverError naming the SKUs."""
    started = time.perf_counter()
    try:
        return _whole_units(lp, arcs, tolerance, time_limit, started, every_flow=False)
    except _NoRounding:
        pass
    try:
        return _whole_units(lp, arcs, tolerance, time_limit, started, every_flow=True)
    except _NoRounding as exc:
        raise SolverError(str(exc), status=exc.status, solver=exc.solver) from None


class _NoRounding(SolverError):
    """The MILP has no whole-unit rounding in its boxes."""


def _whole_units(
    lp: LpView,
    arcs: list[Arc],
    tolerance: float,
    time_limit: float | None,
    started: float,
    every_flow: bool,
) -> WholeUnits:
    rounding = _rounding_model(lp, arcs, every_flow)
    if not rounding.column:
        return WholeUnits({}, {}, 0, time.perf_counter() - started, 0.0)
    deadline = None if time_limit is None else started + time_limit
    sku_of = {c: s for (s, _i), c in rounding.column.items()}
    x, above, status, searched = _solve(rounding.model, tolerance, sku_of, deadline)
    flows = {flow: float(round(value)) for flow, value in lp.flow.items()}
    flows.update({flow: float(round(x[c])) for flow, c in rounding.column.items()})
    return WholeUnits(
        flows,
        _changes(lp, rounding.stocks, x),
        rounding.fractional,
        time.perf_counter() - started,
        above,
        status,
        skus=len(set(sku_of.values())),
        searched=searched,
    )


@dataclass(frozen=True)
class _Rounding:
    """The rounding MILP around the LP's point (its relaxation starts there: `_Model.start`);
    column: the model's column of each flow it decides; stocks: each warehouse those flows
    touch; fractional: how many of the LP's flows were fractional."""

    model: _Model
    column: dict[FlowKey, int]
    stocks: dict[Key, _Stock]
    fractional: int


def _rounding_model(lp: LpView, arcs: list[Arc], every_flow: bool) -> _Rounding:
    """The rounding MILP over the LP's fractional flows (`every_flow`: over all of them)."""
    model = _Model()
    column: dict[FlowKey, int] = {}
    value_of: dict[int, float] = {}  # the LP's value of each flow column
    inflow: dict[Key, list[FlowKey]] = defaultdict(list)
    outflow: dict[Key, list[FlowKey]] = defaultdict(list)
    fractional = [flow for flow, value in lp.flow.items() if abs(value - round(value)) > WHOLE]
    chosen = list(lp.flow) if every_flow else fractional
    further = _downstream(chosen, arcs)
    for flow in chosen:
        s, i = flow
        value = lp.flow[flow]
        low = max(0, math.floor(value + WHOLE) - further[flow] - every_flow)
        high = math.ceil(value - WHOLE) + further[flow] + every_flow
        for row in arcs[i].cross_rows(s):  # cross-region rows, whose room may be fractional
            high = max(low, min(high, math.floor(value + lp.cross[row] + WHOLE)))
        column[flow] = model.column(lp.flow_price[flow], low, high, value)
        value_of[column[flow]] = value
        inflow[(s, arcs[i].destination)].append(flow)
        outflow[(s, arcs[i].origin)].append(flow)
    if not column:
        return _Rounding(model, column, {}, len(fractional))

    # Each warehouse a fractional flow touches: its stock left, and the capacity rows on it.
    stocks: dict[Key, _Stock] = {}
    capacity: dict[str, list[tuple[int, float]]] = defaultdict(list)
    # Slack at the LP's point, below zero only by solver dust (CBC's 8 digits on a row of a
    # million units): such a row holds with none to spare. The re-solve after the rounding
    # checks every row again, so a real break would still stop the plan there.
    room = {w: max(0.0, slack) for w, slack in lp.capacity.items()}
    lost: dict[str, list[tuple[int, float]]] = defaultdict(list)
    lost_shift: dict[str, float] = defaultdict(float)
    for node in sorted(set(inflow) | set(outflow)):
        ins = [column[f] for f in inflow[node]]
        outs = [column[f] for f in outflow[node]]
        stock = stocks[node] = _Stock.add(
            model, lp, node, [(c, value_of[c]) for c in ins], [(c, value_of[c]) for c in outs]
        )
        terms = stock.terms
        # Balance: the stock left is the fixed part plus the flows in less the flows out.
        change = stock.base - stock.fixed
        model.row(
            [*((c, 1.0) for c in ins), *((c, -1.0) for c in outs), *((c, -a) for c, a in terms)],
            change,
            change,
        )
        volume = lp.volume.get(node, 0.0)
        if volume and node[1] in room:
            capacity[node[1]].extend((c, volume * a) for c, a in terms)
            room[node[1]] += volume * (lp.ending[node] - stock.base)
        lost[node[0]].extend(stock.lost_terms)
        lost_shift[node[0]] += stock.lost_shift
    for w, terms in capacity.items():
        model.row(terms, -math.inf, room[w])

    # Lanes, cross-region and timing rows: what the changed flows use against the slack the
    # LP left.
    used: dict[str, list[tuple[int, float]]] = defaultdict(list)
    left = {**lp.lane, **lp.timing, **lp.cross}
    slack: dict[str, float] = {}
    for flow, c in column.items():
        arc = arcs[flow[1]]
        uses = [(arc.name, lp.lane_use.get(flow, 0.0))] if arc.name in lp.lane else []
        uses += [(row, 1.0) for row in arc.cross_rows(flow[0])]
        uses += list(lp.timing_use.get(("x", flow), ()))
        for row, coefficient in uses:
            if coefficient:
                used[row].append((c, coefficient))
                slack[row] = slack.get(row, max(0.0, left.get(row, 0.0)))
                slack[row] += coefficient * lp.flow[flow]
    for row, terms in used.items():
        model.row(terms, -math.inf, slack[row])

    # Fair share of the catchments: the units uncovered there change with the stock left.
    for s, terms in lost.items():
        key = (s, CATCHMENT)
        if key in lp.below and terms:
            gap = lp.below[key] + lost_shift[s]
            at_lp = max(0.0, gap - sum(a * model.start[c] for c, a in terms))
            g = model.column(lp.fair_price[key], 0.0, math.inf, at_lp)
            model.row([(g, 1.0), *[(c, -a) for c, a in terms]], gap, math.inf)
    return _Rounding(model, column, stocks, len(fractional))


def _changes(lp: LpView, stocks: dict[Key, _Stock], x: np.ndarray) -> dict[str, dict[Any, float]]:
    """What follows from the whole flows where they changed the stock, by `solution.Solution`
    field: the stock left, the least uncovered demand and overstock it allows, and the
    catchments' fair-share gaps."""
    changes: dict[str, dict[Any, float]] = {
        name: {} for name in ("ending", "short", "safety_short", "over", "fair_gap")
    }
    below: dict[Key, float] = {}
    for node, stock in stocks.items():
        level = max(0.0, stock.base + sum(a * x[c] for c, a in stock.terms))
        changes["ending"][node] = level
        if node in lp.demand:
            demand = lp.demand[node]
            changes["short"][node], changes["safety_short"][node] = demand.uncovered(level)
            key = (node[0], CATCHMENT)
            if key in lp.below:
                lost = demand.cost(level)[1] - demand.cost(lp.ending[node])[1]
                below[key] = below.get(key, lp.below[key]) + lost
        if node in lp.over:
            changes["over"][node] = max(0.0, level - lp.over[node][0])
    changes["fair_gap"] = {key: max(0.0, gap) for key, gap in below.items()}
    return changes


def _downstream(fractional: list[FlowKey], arcs: list[Arc]) -> dict[FlowKey, int]:
    """How far past its own unit box each fractional flow may go: one unit for each fractional
    flow out of its destination and, in turn, theirs. CW -> RW 4.44, RW -> FW1 and FW2 2.22
    each: both legs to the forward warehouses may round up, so CW -> RW must reach 6, two past
    its box of 4 or 5. A lateral back to the origin does not count, and a flow met again on the
    way (a cycle of laterals) counts nothing more; each flow is counted once (memo), so this is
    linear in the flows even where laterals link every forward warehouse of a region."""
    leaving: dict[tuple[str, str], list[FlowKey]] = defaultdict(list)
    for flow in fractional:
        leaving[(flow[0], arcs[flow[1]].origin)].append(flow)
    counted: dict[FlowKey, int] = {}
    open_: set[FlowKey] = set()

    def reach(flow: FlowKey) -> int:
        if flow in counted:
            return counted[flow]
        if flow in open_:
            return 0
        open_.add(flow)
        s, i = flow
        onward = [
            f
            for f in leaving.get((s, arcs[i].destination), [])
            if arcs[f[1]].destination != arcs[i].origin
        ]
        counted[flow] = sum(1 + reach(f) for f in onward)
        open_.discard(flow)
        return counted[flow]

    return {flow: reach(flow) for flow in fractional}


@dataclass(frozen=True)
class _Stock:
    """The stock left at one warehouse of one SKU as the MILP writes it: base + sum(a * column)
    over `terms`; fixed: the part no fractional flow changes (its LP stock less the fractional
    flows in, plus those out). lost_terms: units uncovered there per unit of each column, and
    lost_shift: units uncovered at `base` less those at the LP's stock (fair share)."""

    terms: list[tuple[int, float]]
    base: float
    fixed: float
    lost_terms: list[tuple[int, float]]
    lost_shift: float

    @classmethod
    def add(
        cls,
        model: _Model,
        lp: LpView,
        node: Key,
        ins: list[tuple[int, float]],
        outs: list[tuple[int, float]],
    ) -> _Stock:
        """The columns of `node`'s stock, added to `model`; ins / outs: (column, LP value) of
        the fractional flows into and out of it."""
        ending = lp.ending[node]
        fixed = ending - sum(v for _c, v in ins) + sum(v for _c, v in outs)
        # With whole flows the stock is `fixed` plus a whole number. A fixed part that close to
        # a whole number is that number: solver dust, or whole flows would leave a stock of
        # -3e-7 (or keep a unit where the LP kept none) and the MILP could fix nothing whole
        # (BENCHMARKS.md, "Whole-unit transfers"). CBC's values come through a text file with 8
        # significant digits, so the dust grows with the numbers summed (106.98603 in, 3e-6
        # off), up to DUST: a stock really that close to whole moves by that much, which the
        # re-solve takes up (a tenth of a unit, 8 digits of a million, it might not).
        summed = abs(ending) + sum(abs(v) for _c, v in ins) + sum(abs(v) for _c, v in outs)
        offset = fixed - math.floor(fixed)
        if min(offset, 1.0 - offset) <= max(WHOLE, min(DUST, PRINTED * summed)):
            offset, fixed = 0.0, float(round(fixed))
        demand, over = lp.demand.get(node), lp.over.get(node)
        hold = lp.hold.get(node, 0.0)
        if demand is None and over is None:  # money linear in the stock: one column
            return cls([(model.column(hold, 0.0, math.inf, ending), 1.0)], 0.0, fixed, [], 0.0)

        def priced(stock: float) -> tuple[float, float]:
            """(money, units uncovered) with `stock` left here."""
            money, uncovered = hold * stock, 0.0
            if demand is not None:
                penalty, uncovered = demand.cost(stock)
                money += penalty
            if over is not None:
                money += over[1] * max(0.0, stock - over[0])
            return money, uncovered

        lowest = (
            fixed + sum(model.lower[c] for c, _v in ins) - sum(model.upper[c] for c, _v in outs)
        )
        highest = (
            fixed + sum(model.upper[c] for c, _v in ins) - sum(model.lower[c] for c, _v in outs)
        )
        # Its levels on that lattice, from the lowest the flows' boxes allow to the highest.
        first = offset + math.ceil(max(lowest, 0.0) - offset - WHOLE)
        steps = max(0, math.floor(highest - offset + WHOLE) - round(first - offset))
        levels = [priced(first + k) for k in range(steps + 1)]
        terms, lost_terms = [], []
        for step, ((money, lost), (money_up, lost_up)) in enumerate(itertools.pairwise(levels)):
            # At the LP's stock the segments below it are full, the one it falls in partly.
            c = model.column(money_up - money, 0.0, 1.0, min(1.0, max(0.0, ending - first - step)))
            terms.append((c, 1.0))
            lost_terms.append((c, lost_up - lost))
        return cls(terms, first, fixed, lost_terms, levels[0][1] - priced(ending)[1])


def _solve(
    model: _Model, tolerance: float, sku_of: dict[int, str], deadline: float | None
) -> tuple[np.ndarray, float, str, int]:
    """The MILP's x, its money above the relaxation's (at most what a better rounding could
    save), its status and how many SKUs it searched. sku_of: the SKU of each flow column (the
    integer ones); deadline: `time.perf_counter()` by which the searches stop.

    The relaxation is nearly whole (the flows of 57 of 1,000 SKUs had a fraction left at 1,000
    SKUs x 50, `WholeUnits.searched`), so the flows of the SKUs it leaves whole are fixed
    there and the MILP decides the others: a small model. Should that leave none feasible (the
    SKUs meet in the shared rows), the whole MILP runs, to `tolerance` (money). A SolverError
    names the SKUs when HiGHS proves no whole-unit rounding."""
    highs = _passed(model)
    # The relaxation is a near network LP the simplex solves at once (0.6 s at 1,000 SKUs);
    # HiGHS's presolve spent 19 s on it. The MILP keeps its presolve (25 s without). Started
    # from the LP's point (HiGHS makes a basis of it), the simplex has little left to do: 4.8 s
    # instead of 24.9 s at 10,000 SKUs (BENCHMARKS.md, "Whole-unit transfers").
    highs.setOptionValue("presolve", "off")
    start = highspy.HighsSolution()
    start.col_value = np.asarray(model.start, dtype=float)
    start.value_valid = True
    highs.setSolution(start)
    highs.run()
    highs.setOptionValue("presolve", "choose")
    skus = sorted(set(sku_of.values()))
    _check(highs, skus)
    relaxed = np.asarray(highs.getSolution().col_value)
    bound = float(highs.getInfo().objective_function_value)
    columns = np.fromiter(sku_of, dtype=np.int32, count=len(sku_of))
    values = relaxed[columns]
    left = {sku_of[c] for c in columns[np.abs(values - np.round(values)) > WHOLE].tolist()}
    settled = np.array([sku_of[c] not in left for c in columns.tolist()], dtype=bool)
    fixed, free = columns[settled], columns[~settled]
    kind = highspy.HighsVarType.kInteger
    highs.setOptionValue("mip_abs_gap", float(tolerance))
    highs.changeColsIntegrality(len(free), free, np.full(len(free), kind))
    highs.changeColsBounds(len(fixed), fixed, np.round(values[settled]), np.round(values[settled]))
    _limit(highs, deadline)
    highs.run()
    searched = len(left)
    if highs.getModelStatus() == highspy.HighsModelStatus.kInfeasible:
        searched = len(skus)
        lower, upper = np.array(model.lower), np.array(model.upper)
        highs.changeColsBounds(len(fixed), fixed, lower[fixed], upper[fixed])
        highs.changeColsIntegrality(len(fixed), fixed, np.full(len(fixed), kind))
        _limit(highs, deadline)
        highs.run()
    stopped = _check(highs, skus, limited=deadline is not None)
    objective = float(highs.getInfo().objective_function_value)
    status = TIME_LIMITED if stopped else OPTIMAL
    return np.asarray(highs.getSolution().col_value), objective - bound, status, searched


def _limit(highs: highspy.Highs, deadline: float | None) -> None:
    """The time left to `deadline` as HiGHS's limit (a tenth of a second at least)."""
    if deadline is not None:
        highs.setOptionValue("time_limit", max(0.1, deadline - time.perf_counter()))


def _passed(model: _Model) -> highspy.Highs:
    """A HiGHS instance holding the model, every column continuous (the relaxation)."""
    matrix = sp.csc_matrix(
        (
            np.array(model.entry_value, dtype=float),
            (
                np.array(model.entry_row, dtype=np.int64),
                np.array(model.entry_column, dtype=np.int64),
            ),
        ),
        shape=(len(model.row_lower), len(model.cost)),
    )

    def bounded(values: list[float]) -> np.ndarray:
        return np.clip(np.array(values, dtype=float), -highspy.kHighsInf, highspy.kHighsInf)

    lp = highspy.HighsLp()
    lp.num_row_, lp.num_col_ = matrix.shape
    lp.col_cost_ = np.array(model.cost, dtype=float)
    bounds = [bounded(v) for v in (model.lower, model.upper, model.row_lower, model.row_upper)]
    lp.col_lower_, lp.col_upper_, lp.row_lower_, lp.row_upper_ = bounds
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data
    highs = quiet_highs()
    fit_tolerance(highs, *bounds)
    highs.passModel(lp)
    return highs


def _check(highs: highspy.Highs, skus: list[str], limited: bool = False) -> bool:
    """Whether a time limit stopped the run at a whole rounding (with `limited`); a
    SolverError naming the SKUs for anything else but an optimum."""
    status = highs.getModelStatus()
    feasible = highs.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
    if limited and status == highspy.HighsModelStatus.kTimeLimit and feasible:
        return True
    if status != highspy.HighsModelStatus.kOptimal:
        words = highs.modelStatusToString(status)
        shown = listed(skus)
        failure = _NoRounding if status == highspy.HighsModelStatus.kInfeasible else SolverError
        raise failure(
            f"rounding the transfers of SKU(s) {shown} to whole units failed: HiGHS status "
            f"{words!r}",
            status=words,
            solver="highs",
            timed_out=status == highspy.HighsModelStatus.kTimeLimit,
        )
    return False
