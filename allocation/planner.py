"""`plan()`: validate inputs, build the LP, solve it, round to whole packs, explain the result."""

from __future__ import annotations

import heapq
import math
import time
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pulp

from allocation.decompose import max_violation, solve_decomposed
from allocation.errors import SolverError
from allocation.inputs import IN_TRANSIT, LOCATION, ON_HAND, SKU, validate_demand, validate_stock
from allocation.model import ModelInputs, Variables, build_problem, prepare_inputs
from allocation.network import Distributor, Network
from allocation.plan import (
    ALERT_COLUMNS,
    REPLENISHMENT_COLUMNS,
    TRANSFER_COLUMNS,
    UNMET_COLUMNS,
    Plan,
    SolverFacts,
)
from allocation.policy import CATCHMENT, Policy
from allocation.scale import ArraySolution, LpArrays, build_arrays
from allocation.solve import OPTIMAL, SolverName, resolve_fixed, solve_problem

__all__ = ["plan"]

_EPS = 1e-6
MILP_GAP = 1e-3  # relative gap at which the exact-packs MILP stops
_GRID = 1e-6  # packs; an LP value this close to a whole pack is that pack (solver dust)
_FIT = 1e-9  # units, money, volume: how far a row may look broken from float rounding alone
_SMALL = 0.01  # units; less unmet than this is rounding noise, not a shortage worth a line
DECOMPOSE_GAP = 1e-4  # relative gap to the LP optimum the decomposed path proves
_CHECK = 1e-5  # relative violation of a row or bound that the rounded array plan may show
_BIND = 1e-6  # a row whose slack is this close to zero binds (names the constraint in a line)


# Past this many SKU-location series the PuLP build no longer fits comfortably (5.2 GB and
# 201 s at 3,000 SKUs x 50 locations; about 14 GiB at 10,000): only then is the LP decomposed.
# Below it the PuLP path's greedy pack repair makes markedly better whole-pack plans (+28.8 %
# over the LP bound against +72.7 % for the decomposed path's floor rounding at 3,000 x 50).
DECOMPOSE_ABOVE_SERIES = 250_000


def plan(
    network: Network,
    stock: pd.DataFrame,
    demand: pd.DataFrame,
    policy: Policy | None = None,
    *,
    today: pd.Timestamp | str | None = None,
    solver: SolverName = "highs",
    time_limit: float | None = None,
    integer_packs: bool = False,
    decompose_above: int = DECOMPOSE_ABOVE_SERIES,
    workers: int = 1,
) -> Plan:
    """Plan transfers and distributor replenishment for one review period.

    network, stock (sku, node, on_hand, in_transit, arrival_date), demand (forecast contract),
    policy (defaults when None). today: first day of the plan (default: first forecast date).
    solver: "highs" or "cbc". time_limit: seconds; when given, a feasible solution found within
    it is accepted and labelled "time_limited". integer_packs: exact pack sizes and MOQs with
    integer variables (a MILP); otherwise the LP optimum is rounded to whole packs by a greedy
    repair (`_PackRepair`) and the LP is re-solved warm with them fixed (no MILP).

    decompose_above: in LP mode with HiGHS, an instance with more SKU-location demand series
    (rows of `needs`) than this is built as arrays (`allocation.scale`, no PuLP object per
    variable) and solved by SKU
    (`allocation.decompose`, proven within DECOMPOSE_GAP of the LP optimum, `workers`
    processes pricing SKUs); its suggestions are rounded down to whole packs / MOQ, then raised
    back from the stock left at their own warehouse where that pays (`_floor_packs`, rounding
    "floor"), instead of by the greedy repair, which reads the PuLP problem. SolverFacts.method
    says which path ran.
    """
    policy = policy or Policy()
    started = time.perf_counter()
    stock = validate_stock(stock, network)
    demand = validate_demand(demand, network)
    inputs = prepare_inputs(
        network,
        stock,
        demand,
        policy,
        today=None if today is None else pd.Timestamp(today),
        integer_packs=integer_packs,
    )
    if not integer_packs and solver == "highs" and len(inputs.needs) > decompose_above:
        return _plan_decomposed(inputs, started, time_limit, workers)
    problem, variables = build_problem(inputs)
    build_seconds = time.perf_counter() - started
    outcome = solve_problem(
        problem, solver, time_limit, mip_gap=MILP_GAP if integer_packs else None
    )
    facts = SolverFacts(
        status=outcome.status,
        objective=outcome.objective,
        build_seconds=build_seconds,
        solve_seconds=outcome.seconds,
        solver=solver,
        detail=outcome.detail,
        rounding="milp" if integer_packs else "none",
        lp_objective=None if integer_packs else outcome.objective,
    )
    if not integer_packs and variables.supply_free:
        facts = _round_packs(problem, variables, inputs, facts, solver, time_limit)
    return explain(inputs, _from_variables(variables), facts)


# ---------------------------------------------------------------------------------------------
# Large instances: the LP as arrays, solved by SKU, suggestions rounded down to whole packs.

# Column letter of `LpArrays.col_key` -> the `Solution` field and the cost term it belongs to.
_FIELD = {
    "x": "flow",
    "y": "supply",
    "e": "ending",
    "u": "short",
    "v": "safety_short",
    "o": "over",
    "g": "fair_gap",
}
_TERM = {
    "x": "transport",
    "y": "transport",
    "e": "holding",
    "u": "shortage_penalty",
    "v": "shortage_penalty",
    "o": "overstock_penalty",
    "g": "fair_share_penalty",
}


def _plan_decomposed(
    inputs: ModelInputs, started: float, time_limit: float | None, workers: int
) -> Plan:
    arrays = build_arrays(inputs)
    build_seconds = time.perf_counter() - started
    solved = solve_decomposed(arrays, gap=DECOMPOSE_GAP, time_limit=time_limit, workers=workers)
    lp, x, seconds = solved.objective, solved.x, solved.seconds
    solution = _from_arrays(inputs, arrays, x)
    facts = SolverFacts(
        status=solved.status,
        objective=lp,
        build_seconds=build_seconds,
        solve_seconds=seconds,
        solver="highs",
        detail=_decomposed_detail(solved, time_limit),
        lp_objective=lp,
        method="decomposed",
        gap=solved.gap,
    )
    if not solution.supply:
        return explain(inputs, solution, facts)
    began = time.perf_counter()
    rounded, lowered, raised = _floor_packs(inputs, solution, _by_field(arrays, arrays.cost))
    x = np.array([getattr(rounded, _FIELD[letter])[key] for letter, key in arrays.col_key])
    exceeded = _check_floor(arrays, x)
    transfers = "transfers as the LP chose them"
    resolve_seconds = 0.0
    if exceeded:  # ship less into those warehouses: the LP again, the suggestions fixed
        try:
            resolved = _resolve_fixed(arrays, x, _left(time_limit, seconds), workers)
            x, resolve_seconds = resolved.x, resolved.seconds
            if resolved.status != OPTIMAL:
                facts = replace(facts, status=resolved.status)
            exceeded = _check_floor(arrays, x)
            transfers = "transfers re-optimised around them, as capacity was exceeded"
        except SolverError as exc:
            transfers = f"transfers as the LP chose them (re-optimising them failed: {exc})"
    solution = _from_arrays(inputs, arrays, x)
    objective = float(arrays.cost @ x) + arrays.offset
    over = (
        "warehouse capacity EXCEEDED after rounding down (the units not shipped stay there): "
        + ", ".join(f"{w} by {excess:,.1f}" for w, excess in exceeded.items())
        if exceeded
        else "every row holds, warehouse capacity included"
    )
    note = (
        f"{lowered + raised} suggestion(s) rounded to whole packs / MOQ by floor ({lowered} down; "
        f"{raised} up, each from the stock left at its own warehouse where that pays; decomposed "
        f"LP, no greedy repair), {transfers}; objective {objective:,.2f} vs LP "
        f"{lp:,.2f} (+{_share(objective - lp, lp)}); {over}"
    )
    return explain(
        inputs,
        solution,
        replace(
            facts,
            objective=objective,
            solve_seconds=seconds + resolve_seconds,
            repair=note,
            rounding="floor",
            repair_seconds=time.perf_counter() - began - resolve_seconds,
            capacity_exceeded=exceeded,
        ),
    )


def _decomposed_detail(solved: ArraySolution, time_limit: float | None) -> str:
    if solved.status == OPTIMAL:
        return f"decomposed by SKU, LP proven within {DECOMPOSE_GAP:.2%} of its optimum"
    proven = "no gap proven" if solved.gap is None else f"proven within {solved.gap:.2%}"
    return f"decomposed by SKU, stopped by the {time_limit:g} s time limit: LP {proven}"


def _left(time_limit: float | None, spent: float) -> float | None:
    """The time limit of the re-solve around whole packs after the LP took `spent` seconds:
    what is left of the limit, and at least a tenth of it (a re-solve with no time could only
    fail), so a plan takes at most 1.1 x the limit in the solver."""
    return None if time_limit is None else max(0.1 * time_limit, time_limit - spent)


def _resolve_fixed(
    arrays: LpArrays, x: np.ndarray, time_limit: float | None, workers: int
) -> ArraySolution:
    """The LP again by SKU decomposition with the suggestions fixed at x: transfers, stock left
    and gaps re-optimised around them; a SolverError when it fails."""
    fixed = np.array([letter == "y" for letter, _ in arrays.col_key])
    around = replace(
        arrays,
        col_lower=np.where(fixed, x, arrays.col_lower),
        col_upper=np.where(fixed, x, arrays.col_upper),
    )
    return solve_decomposed(around, gap=DECOMPOSE_GAP, time_limit=time_limit, workers=workers)


def _by_field(arrays: LpArrays, values: np.ndarray) -> dict[str, dict[Any, float]]:
    """Column values (a solution, or the costs) as {`Solution` field: {model key: value}}."""
    groups: dict[str, dict[Any, float]] = {name: {} for name in _FIELD.values()}
    for (letter, key), value in zip(arrays.col_key, values.tolist(), strict=True):
        groups[_FIELD[letter]][key] = value
    return groups


def _from_arrays(inputs: ModelInputs, arrays: LpArrays, x: np.ndarray) -> Solution:
    """The array LP's solution by `build_problem`'s keys (`LpArrays.col_key`); the rows that
    explain names bind when they are at a bound (cross_region: its x at its upper bound)."""
    groups = _by_field(arrays, x)
    letters = np.array([letter for letter, _ in arrays.col_key])
    money = arrays.cost * x
    terms = dict.fromkeys(_TERM.values(), 0.0)
    for letter, term in _TERM.items():
        terms[term] += float(money[letters == letter].sum())
    names = list(arrays.row_name)
    rows = np.array([arrays.row_name[name] for name in names], dtype=np.int64)
    activity = arrays.matrix[rows] @ x if len(rows) else np.zeros(0)
    upper, lower = arrays.row_upper[rows], arrays.row_lower[rows]
    bound = np.where(np.isfinite(upper), upper, lower)
    binding = {names[i] for i in np.nonzero(np.abs(activity - bound) < _BIND)[0]}
    at_cap = (letters == "x") & np.isfinite(arrays.col_upper) & (x >= arrays.col_upper - _BIND)
    for i in np.nonzero(at_cap)[0]:
        s, a = arrays.col_key[i][1]
        binding.add(f"cross_region[{s},{inputs.arcs[int(a)].name}]")
    return Solution(**groups, cost_terms=terms, binding=binding)


def _floor_packs(
    inputs: ModelInputs, solution: Solution, price: dict[str, dict[Any, float]]
) -> tuple[Solution, int, int]:
    """Every suggestion rounded down to whole packs (nothing below the MOQ), then raised back
    to the whole packs just above its LP value where the stock left at its own warehouse covers
    the step and that lowers the objective (`_Floor.raise_back`). Returns the plan that follows
    and how many suggestions were lowered and raised (against the LP).

    Transfers stay as the LP chose them: a unit not suggested stays at its warehouse (ending
    stock), and the uncovered demand, overstock and fair-share gaps are the least the rows allow
    for that stock (`_Demand`). Only the shared warehouse capacity can break (more stock left);
    `_check_floor` measures it. price: the objective's money per unit by `Solution` field."""
    floor = _Floor(inputs, solution, price)
    floor.raise_back()
    uncovered = {key: floor.demand[key].uncovered(floor.cover(key)) for key in solution.short}
    days = inputs.policy.overstock_days
    rounded = replace(
        solution,
        supply=floor.supply,
        ending=floor.ending,
        short={key: u for key, (u, _v) in uncovered.items()},
        safety_short={key: v for key, (_u, v) in uncovered.items()},
        over={
            key: max(0.0, floor.ending[key] - days * inputs.node_daily.get(key, 0.0))
            for key in solution.over
        },
        fair_gap={
            key: max(0.0, inputs.fair_targets[key] - floor.served[key]) for key in solution.fair_gap
        },
    )
    moved = [(floor.supply[k] - y) for k, y in solution.supply.items()]
    return rounded, sum(m < -_EPS for m in moved), sum(m > _EPS for m in moved)


class _Floor:
    """Suggestions on the whole-pack grid with the stock, cover and fair share that follow."""

    def __init__(
        self, inputs: ModelInputs, solution: Solution, price: dict[str, dict[Any, float]]
    ) -> None:
        distributors = {d.id: d for d in inputs.network.distributors}
        needs = inputs.needs
        self.keys = list(solution.supply)
        lp = np.array([solution.supply[k] for k in self.keys])
        pack = np.array([distributors[d].pack_size for _, d, _ in self.keys], dtype=float)
        moq = np.array([distributors[d].moq for _, d, _ in self.keys], dtype=float)
        self.cap = _by_key(needs, LOCATION, "cap")
        cap = np.array([self.cap[(s, d)] for s, d, _ in self.keys])
        low, high = _pack_grid(lp, pack, moq, cap)
        self.high = dict(zip(self.keys, high.tolist(), strict=True))
        self.supply = dict(zip(self.keys, low.tolist(), strict=True))
        self.ending = dict(solution.ending)
        self.supplied: dict[tuple[str, str], float] = defaultdict(float)
        for (s, d, w), before, after in zip(self.keys, lp.tolist(), low.tolist(), strict=True):
            self.ending[(s, w)] += before - after
            self.supplied[(s, d)] += after
        self.price = price
        self.tier = {d.id: d.tier for d in inputs.network.distributors}
        self.unit_cost = {s: info.unit_cost for s, info in inputs.sku_info.items()}
        self.budget = {
            d.id: d.guaranteed_amount for d in inputs.network.distributors if d.credit == "yellow"
        }
        for s, d, _w in self.keys:
            if d in self.budget:
                self.budget[d] -= self.unit_cost[s] * self.supply[(s, d, _w)]
        self.targets = inputs.fair_targets
        unit = inputs.network.capacity_unit == "volume"
        self.volume = {
            s: (info.unit_volume if unit else 1.0) for s, info in inputs.sku_info.items()
        }
        # Capacity left at each warehouse (negative: over it), bounds as in build_problem.
        self.room = {
            w.id: max(
                w.capacity, sum(self.volume[s] * inputs.available[(s, w.id)] for s in inputs.skus)
            )
            for w in inputs.network.warehouses
        }
        for (s, w), stock in self.ending.items():
            self.room[w] -= self.volume[s] * stock
        self.bound = {
            key: inputs.policy.overstock_days * inputs.node_daily.get(key, 0.0)
            for key in solution.over
        }
        self.demand: dict[tuple[str, str], _Demand] = {}
        self.position: dict[tuple[str, str], float] = {}
        self.forward: set[tuple[str, str]] = set()
        self.served: dict[tuple[str, str], float] = defaultdict(float)
        columns = [SKU, LOCATION, "kind", "tier", "mean", "safety", "position", "need"]
        for s, j, kind, tier, mean, safety, position, need in needs[columns].itertuples(
            index=False
        ):
            key = (s, j)
            if kind == "forward":
                self.forward.add(key)
            else:
                self.position[key] = float(position)
                self.served[(s, tier)] += self.supplied.get(key, 0.0)
            if key in solution.short:
                self.demand[key] = _Demand(
                    float(mean), float(safety), price["short"][key], price["safety_short"][key]
                )
                if kind == "forward":
                    self.served[(s, tier)] += (
                        float(need) - self.demand[key].cost(self.cover(key))[1]
                    )

    def cover(self, key: tuple[str, str]) -> float:
        """Units covering demand location key: a forward warehouse's stock, a distributor's
        own position plus what is suggested to it."""
        if key in self.forward:
            return self.ending[key]
        return self.position[key] + self.supplied[key]

    def _raise(self, k: SupplyKey) -> tuple[float, float, float] | None:
        """(objective change, step, catchment units lost) of raising k to its upper packs from
        the stock at its warehouse; None when a row forbids it."""
        s, d, w = k
        step = self.high[k] - self.supply[k]
        if step <= _EPS or step > self.ending[(s, w)] + _FIT:
            return None
        if step > self.cap[(s, d)] - self.supplied[(s, d)] + _FIT:
            return None  # order-up-to, over all the warehouses serving d
        if d in self.budget and self.unit_cost[s] * step > self.budget[d] + _FIT:
            return None
        change = (self.price["supply"][k] - self.price["ending"][(s, w)]) * step
        ours = self.demand.get((s, d))
        if ours is not None:
            cover = self.cover((s, d))
            change += ours.cost(cover + step)[0] - ours.cost(cover)[0]
        change += self._fair((s, self.tier[d]), step)
        stock, lost = self.ending[(s, w)], 0.0
        theirs = self.demand.get((s, w))  # a forward warehouse's own catchment
        if theirs is not None:
            (before, lost_before), (after, lost_after) = (
                theirs.cost(stock),
                theirs.cost(stock - step),
            )
            change += after - before
            lost = lost_after - lost_before
            change += self._fair((s, CATCHMENT), -lost)
        if (s, w) in self.bound:
            bound = self.bound[(s, w)]
            over = max(0.0, stock - step - bound) - max(0.0, stock - bound)
            change += self.price["over"][(s, w)] * over
        return change, step, lost

    def _fair(self, key: tuple[str, str], more: float) -> float:
        """Change in fair-share penalty when (sku, tier) is served `more` units."""
        if key not in self.targets or more == 0.0:
            return 0.0
        return _fair_change(self.price["fair_gap"][key], self.targets[key] - self.served[key], more)

    def raise_back(self) -> None:
        """Relieve warehouses that rounding down left over capacity (their cheapest raises
        first, whatever they cost), then raise suggestions, largest gain first as priced on the
        floor; each is priced again (and its rows checked) just before it is applied."""
        for w in [w for w, room in self.room.items() if room < -_FIT]:
            ours = [(move[0], k) for k in self.keys if k[2] == w and (move := self._raise(k))]
            for _cost, k in sorted(ours):
                if self.room[w] >= -_FIT:
                    break
                if (move := self._raise(k)) is not None:
                    self._apply(k, move[1], move[2])
        priced = [(move[0], k) for k in self.keys if (move := self._raise(k)) is not None]
        for gain, k in sorted(priced):
            if gain >= -_EPS:
                break
            move = self._raise(k)
            if move is not None and move[0] < -_EPS:
                self._apply(k, move[1], move[2])

    def _apply(self, k: SupplyKey, step: float, lost: float) -> None:
        s, d, w = k
        self.supply[k] += step
        self.supplied[(s, d)] += step
        self.ending[(s, w)] -= step
        self.room[w] += self.volume[s] * step
        if d in self.budget:
            self.budget[d] -= self.unit_cost[s] * step
        self.served[(s, self.tier[d])] += step
        self.served[(s, CATCHMENT)] -= lost


def _check_floor(arrays: LpArrays, x: np.ndarray) -> dict[str, float]:
    """Warehouse -> capacity above its bound at x (volume or units); every other row and bound
    of the LP must hold (a SolverError if not: rounding down cannot break them)."""
    capacity = {
        name[len("capacity[") : -1]: row
        for name, row in arrays.row_name.items()
        if name.startswith("capacity[")
    }
    rows = np.fromiter(capacity.values(), dtype=np.int64, count=len(capacity))
    upper = arrays.row_upper.copy()
    upper[rows] = np.inf
    broken = max_violation(replace(arrays, row_upper=upper), x)
    if broken > _CHECK:
        raise SolverError(
            f"the suggestions rounded down to whole packs break a row of the LP by {broken:.2e} "
            "(relative); plan with --integer-packs instead",
            status="infeasible",
            solver="highs",
        )
    activity = arrays.matrix[rows] @ x
    excess = activity - arrays.row_upper[rows]
    limit = _CHECK * np.maximum(1.0, np.abs(arrays.row_upper[rows]))
    return {w: float(e) for w, e, tol in zip(capacity, excess, limit, strict=True) if e > tol}


# ---------------------------------------------------------------------------------------------
# Pack rounding (LP mode): a greedy over the LP optimum, then a warm LP re-solve around it.


SupplyKey = tuple[str, str, str]


def _round_packs(
    problem: pulp.LpProblem,
    variables: Variables,
    inputs: ModelInputs,
    facts: SolverFacts,
    solver: SolverName,
    time_limit: float | None,
) -> SolverFacts:
    """Round the LP's suggestions to whole packs / MOQ, then re-solve the LP around them.

    The greedy (`_PackRepair`) picks every suggestion's whole packs; the LP is then solved again
    with the suggestions fixed there (warm-started, an LP, never a MILP), so transfers, stock left,
    shortage and fair-share gaps are the solver's optimum for those suggestions and every row is
    the solver's to keep. The greedy keeps every row with its own transfers (a warehouse that
    rounding down filled past its capacity is relieved first), so the re-solve is feasible in
    practice; should it fail all the same, the error says so and points to exact mode."""
    started = time.perf_counter()
    repair = _PackRepair(inputs, variables, problem)
    repair.run()
    greedy_seconds = time.perf_counter() - started
    # Whole packs of whole units: drop the float dust the greedy's steps leave.
    fixed = {y: float(round(repair.y[k])) for k, y in variables.supply_free.items()}
    try:
        outcome = resolve_fixed(problem, fixed, solver, _left(time_limit, facts.solve_seconds))
    except SolverError as exc:
        raise SolverError(
            f"re-solving the LP around the suggestions rounded to whole packs failed ({exc}); "
            "plan with --integer-packs instead",
            status=exc.status,
            solver=solver,
        ) from exc
    changed = sum(abs(repair.y[k] - repair.lp[k]) > _EPS for k in repair.keys)
    raised = sum(repair.y[k] - repair.lp[k] > _EPS for k in repair.keys)
    lp = facts.objective
    note = (
        f"{changed} suggestion(s) rounded to whole packs / MOQ by greedy repair "
        f"({raised} up, {changed - raised} down; no MILP), transfers re-optimised around them; "
        f"objective {outcome.objective:,.2f} vs LP bound {lp:,.2f} "
        f"(+{_share(outcome.objective - lp, lp)})"
    )
    return replace(
        facts,
        status=outcome.status if outcome.status != OPTIMAL else facts.status,
        objective=outcome.objective,
        solve_seconds=facts.solve_seconds + outcome.seconds,
        detail=outcome.detail,
        repair=note,
        rounding="greedy",
        repair_seconds=greedy_seconds,
    )


def _share(part: float, whole: float) -> str:
    return f"{part / abs(whole):.1%}" if whole else f"{part:,.2f}"


def _pack_grid(
    value: np.ndarray, pack: np.ndarray, moq: np.ndarray, cap: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Whole-pack quantities (units) just below and just above each LP value: (low, high).

    Never above the order-up-to cap; below the MOQ a suggestion is nothing or exactly the MOQ
    (when the LP suggested anything and the MOQ fits under the cap)."""
    most = np.floor(cap / pack + _GRID)
    moq_packs = np.ceil(moq / pack - _GRID)
    low = np.minimum(np.floor(value / pack + _GRID), most)
    high = np.minimum(np.ceil(value / pack - _GRID), most)
    below = low < moq_packs
    opened = (value > _EPS) & (moq_packs <= most)
    high = np.where(below, np.where(opened, moq_packs, 0.0), high)
    low = np.where(below, 0.0, low)
    return low * pack, high * pack


@dataclass(frozen=True)
class _Demand:
    """One demand row: mean (D) and safety stock (SS) in units, money per unit uncovered."""

    mean: float
    safety: float
    price_mean: float
    price_safety: float

    def uncovered(self, cover: float) -> tuple[float, float]:
        """The least (u, v) the demand and safety rows allow at `cover` units (u <= D, v <= SS;
        kappa <= 1 makes safety stock the cheaper of the two to leave short)."""
        u = min(self.mean, max(0.0, self.mean - cover))
        return u, min(self.safety, max(0.0, self.mean + self.safety - cover - u))

    def cost(self, cover: float) -> tuple[float, float]:
        """(penalty money, units uncovered) at `cover` units."""
        u, v = self.uncovered(cover)
        return self.price_mean * u + self.price_safety * v, u + v


@dataclass(frozen=True)
class _Move:
    """One step of the repair: `step` more units on suggestion `key` (if any) and, for each
    (flow, amount) in `flows`, `amount` more units on that flow = (sku, arc index) (negative:
    less)."""

    sku: str
    key: SupplyKey | None = None
    step: float = 0.0
    flows: tuple[tuple[tuple[str, int], float], ...] = ()


class _PackRepair:
    """Greedy pack rounding on top of the LP optimum: decides each suggestion's whole packs.

    Every suggestion starts at the whole packs just below its LP value (nothing under the MOQ),
    which only leaves stock at its warehouse. Then, largest objective gain first, a suggestion
    is raised to the whole packs just above its LP value when that lowers the objective
    (delivery, transport, holding, shortage, safety, overstock and fair-share terms, all read
    off the problem) and the stock, order-up-to room, credit, lane capacity and cross-region
    bound allow it. Stock its warehouse lacks is pulled over the links into it (ship more over
    an inbound arc, up to two arcs deep, or less over an outbound one), which is how stock left
    by rounding one suggestion down reaches another. A warehouse that rounding down filled past
    its capacity is relieved first, whatever that costs: its own suggestions are raised, then
    less is shipped into it. Gains only shrink as stock is handed out, so a lazy heap gives the
    greedy order without re-sorting. Uncovered demand, overstock and fair-share gaps follow
    from suggestions and stock in closed form (`_Demand`), so each move is priced exactly for
    the transfers the repair holds; the LP re-solve afterwards only improves on them.
    """

    def __init__(self, inputs: ModelInputs, variables: Variables, problem: pulp.LpProblem) -> None:
        price = problem.objective
        rows = variables.constraints
        distributors = {d.id: d for d in inputs.network.distributors}
        self.keys: list[SupplyKey] = list(variables.supply_free)
        ys = [variables.supply_free[k] for k in self.keys]
        lp = np.array([float(y.varValue or 0.0) for y in ys])
        pack = np.array([distributors[d].pack_size for _, d, _ in self.keys], dtype=float)
        moq = np.array([distributors[d].moq for _, d, _ in self.keys], dtype=float)
        cap = np.array([float(y.upBound or 0.0) for y in ys])
        low, high = _pack_grid(lp, pack, moq, cap)
        self.lp = dict(zip(self.keys, lp.tolist(), strict=True))
        self.y = dict(self.lp)
        self.high = dict(zip(self.keys, high.tolist(), strict=True))
        self.arcs = inputs.arcs

        # Money per unit (objective coefficients) and row use per unit of each decision.
        self.demand = {
            key: _Demand(
                float(u.upBound or 0.0),
                float(variables.safety_short[key].upBound or 0.0),
                float(price.get(u, 0.0)),
                float(price.get(variables.safety_short[key], 0.0)),
            )
            for key, u in variables.short.items()
        }
        self.price = {k: float(price.get(y, 0.0)) for k, y in variables.supply_free.items()}
        self.hold = {key: float(price.get(e, 0.0)) for key, e in variables.ending.items()}
        self.flow_price = {key: float(price.get(x, 0.0)) for key, x in variables.flow.items()}
        self.credit_use = {
            k: float(rows[f"credit[{k[1]}]"].get(y, 0.0) or 0.0)
            for k, y in variables.supply_free.items()
            if f"credit[{k[1]}]" in rows
        }
        self.lane_use = {
            (s, i): float(rows[f"lane_capacity[{self.arcs[i].name}]"].get(x, 0.0) or 0.0)
            for (s, i), x in variables.flow.items()
            if f"lane_capacity[{self.arcs[i].name}]" in rows
        }
        self.volume = {
            (s, w): float(rows[f"capacity[{w}]"].get(e, 0.0) or 0.0)
            for (s, w), e in variables.ending.items()
        }
        self.over = {
            key: (-rows[f"overstock[{key[0]},{key[1]}]"].constant, float(price.get(o, 0.0)))
            for key, o in variables.over.items()
        }
        self.fair_price = {key: float(price.get(g, 0.0)) for key, g in variables.fair_gap.items()}
        self.tier = {k: (k[0], distributors[k[1]].tier) for k in self.keys}
        self.inbound: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.outbound: dict[tuple[str, str], list[int]] = defaultdict(list)
        for s, i in variables.flow:
            self.inbound[(s, self.arcs[i].destination)].append(i)
            self.outbound[(s, self.arcs[i].origin)].append(i)

        # What is left at the LP optimum (units, money, volume), updated by every move.
        self.moved: dict[str, int] = defaultdict(int)  # moves applied per SKU so far
        self.x = {key: float(x.varValue or 0.0) for key, x in variables.flow.items()}
        self.stock = {key: float(e.varValue or 0.0) for key, e in variables.ending.items()}
        needs = inputs.needs
        self.position = dict(
            zip(zip(needs[SKU], needs[LOCATION], strict=True), needs["position"], strict=True)
        )
        self.supplied: dict[tuple[str, str], float] = defaultdict(float)
        for (s, d, _w), value in self.lp.items():
            self.supplied[(s, d)] += value
        self.room = {
            key: -_activity(rows, f"order_up_to[{key[0]},{key[1]}]") for key in self.supplied
        }
        self.credit = {
            d: -_activity(rows, f"credit[{d}]") for d in {d for _s, d, _w in self.credit_use}
        }
        self.capacity = {
            w.id: -_activity(rows, f"capacity[{w.id}]") for w in inputs.network.warehouses
        }
        self.lane = {
            arc.name: -_activity(rows, f"lane_capacity[{arc.name}]")
            for arc in self.arcs
            if f"lane_capacity[{arc.name}]" in rows
        }
        self.cross = {
            (s, i): -_activity(rows, f"cross_region[{s},{self.arcs[i].name}]")
            for s, i in variables.flow
            if self.arcs[i].kind == "cross_region"
        }
        # Units below each fair-share target (negative: above it): target - served.
        self.below = {
            key: float(g.varValue or 0.0) - _activity(rows, f"fair_share[{key[0]},{key[1]}]")
            for key, g in variables.fair_gap.items()
        }
        for k, low_k in zip(self.keys, low.tolist(), strict=True):
            self._apply(_Move(k[0], key=k, step=low_k - self.lp[k]))

    # -- the state -------------------------------------------------------------------------------

    def _cover(self, key: tuple[str, str]) -> float:
        """Units covering demand row (sku, location): stock left at a forward warehouse, or a
        distributor's own position plus its suggestions."""
        if key in self.stock:
            return self.stock[key]
        return float(self.position.get(key, 0.0)) + self.supplied.get(key, 0.0)

    def _stock_changes(self, move: _Move) -> dict[str, float]:
        """Units more (less, when negative) left at each warehouse the move touches."""
        changes: dict[str, float] = defaultdict(float)
        if move.key is not None:
            changes[move.key[2]] -= move.step
        for (_s, i), amount in move.flows:
            changes[self.arcs[i].origin] -= amount
            changes[self.arcs[i].destination] += amount
        return changes

    def _apply(self, move: _Move) -> None:
        s = move.sku
        self.moved[s] += 1
        if move.key is not None:
            k = move.key
            self.y[k] += move.step
            self.supplied[(s, k[1])] += move.step
            self.room[(s, k[1])] -= move.step
            if k in self.credit_use:
                self.credit[k[1]] -= self.credit_use[k] * move.step
            if self.tier[k] in self.below:
                self.below[self.tier[k]] -= move.step
        for flow, amount in move.flows:
            name = self.arcs[flow[1]].name
            self.x[flow] += amount
            if name in self.lane:
                self.lane[name] -= self.lane_use[flow] * amount
            if flow in self.cross:
                self.cross[flow] -= amount
        for w, change in self._stock_changes(move).items():
            lost = self._lost((s, w))
            self.stock[(s, w)] += change
            self.capacity[w] -= self.volume[(s, w)] * change
            if (s, CATCHMENT) in self.below:
                self.below[(s, CATCHMENT)] += self._lost((s, w)) - lost

    def _lost(self, key: tuple[str, str]) -> float:
        demand = self.demand.get(key)
        return demand.cost(self._cover(key))[1] if demand is not None else 0.0

    def _fair(self, key: tuple[str, str], more: float) -> float:
        """Change in fair-share penalty when (sku, tier) is served `more` units."""
        if key not in self.below or more == 0.0:
            return 0.0
        return _fair_change(self.fair_price[key], self.below[key], more)

    # -- what a move costs -----------------------------------------------------------------------

    def _allowed(self, move: _Move) -> bool:
        """Stock never below zero, and the order-up-to, credit, lane, cross-region and
        warehouse capacity rows keep holding (a warehouse already over capacity may not grow)."""
        s = move.sku
        if move.key is not None and move.step > 0:
            k = move.key
            if move.step > self.room[(s, k[1])] + _FIT:
                return False
            if k in self.credit_use and self.credit_use[k] * move.step > self.credit[k[1]] + _FIT:
                return False
        for flow, amount in move.flows:
            if self.x[flow] + amount < -_FIT or amount > self.cross.get(flow, math.inf) + _FIT:
                return False
            use = self.lane_use.get(flow, 0.0) * amount
            if amount > 0 and use > self.lane.get(self.arcs[flow[1]].name, math.inf) + _FIT:
                return False
        for w, change in self._stock_changes(move).items():
            if self.stock[(s, w)] + change < -_FIT:
                return False
            if change > 0 and self.volume[(s, w)] * change > self.capacity[w] + _FIT:
                return False
        return True

    def _cost(self, move: _Move) -> float:
        """Objective change (money) of the move."""
        s = move.sku
        change = 0.0
        if move.key is not None:
            k = move.key
            change += self.price[k] * move.step
            ours = self.demand.get((s, k[1]))
            if ours is not None:
                cover = self._cover((s, k[1]))
                change += ours.cost(cover + move.step)[0] - ours.cost(cover)[0]
            change += self._fair(self.tier[k], move.step)
        change += sum(self.flow_price[flow] * amount for flow, amount in move.flows)
        lost_more = 0.0
        for w, more in self._stock_changes(move).items():
            here = (s, w)
            stock = self.stock[here]
            change += self.hold[here] * more
            demand = self.demand.get(here)
            if demand is not None:
                (before, lost_before), (after, lost_after) = (
                    demand.cost(stock),
                    demand.cost(stock + more),
                )
                change += after - before
                lost_more += lost_after - lost_before
            if here in self.over:
                bound, price = self.over[here]
                change += price * (max(0.0, stock + more - bound) - max(0.0, stock - bound))
        return change + self._fair((s, CATCHMENT), -lost_more)

    def _best_raise(self, k: SupplyKey) -> tuple[float, _Move] | None:
        """The cheapest allowed way to raise k to its upper whole packs: from the stock at its
        warehouse, pulling what is missing over one inbound arc."""
        s, _d, w = k
        step = self.high[k] - self.y[k]
        if step <= _EPS:
            return None
        missing = step - max(0.0, self.stock[(s, w)])
        if missing <= _FIT:
            moves = [_Move(s, key=k, step=step)]
        else:  # each link alone, and all of them cheapest first
            links = self._links(s, w)
            moves = []
            for chosen in [*([link] for link in links), links]:
                flows: dict[tuple[str, int], float] = defaultdict(float)
                if self._gather(s, w, missing, chosen, flows, {w}) >= missing - _FIT:
                    moves.append(_Move(s, key=k, step=step, flows=tuple(flows.items())))
        priced = [(self._cost(m), m) for m in moves if self._allowed(m)]
        return min(priced, key=lambda pair: pair[0]) if priced else None

    def _links(self, s: str, w: str) -> list[tuple[int, int]]:
        """Ways to bring more of s to w, cheapest first, as (arc index, sign): +1 ships more
        over an arc into w, -1 ships less over an arc out of w (stock stays at w)."""
        links = [(i, 1) for i in self.inbound.get((s, w), [])]
        links += [(i, -1) for i in self.outbound.get((s, w), []) if self.x[(s, i)] > _EPS]
        return sorted(links, key=lambda link: self._pull_price(s, link))

    def _pull_price(self, s: str, link: tuple[int, int]) -> float:
        """Rough money per unit over a link: transport (saved when shipping less), plus the
        shortage penalty at the node the units leave when its own catchment needs them."""
        i, sign = link
        source = self.arcs[i].origin if sign > 0 else self.arcs[i].destination
        price = sign * self.flow_price.get((s, i), 0.0)
        demand = self.demand.get((s, source))
        if demand is not None:
            stock = self.stock[(s, source)]
            if stock <= demand.mean + demand.safety:
                price += demand.price_mean if stock <= demand.mean else demand.price_safety
        return price

    def _gather(
        self,
        s: str,
        w: str,
        missing: float,
        links: list[tuple[int, int]],
        flows: dict[tuple[str, int], float],
        seen: set[str],
    ) -> float:
        """Add to `flows` what brings up to `missing` units of s to w over `links`: from the
        stock at each source node, and what a source lacks over one more arc into it. Returns
        the units brought."""
        got = 0.0
        for i, sign in links:
            arc, flow = self.arcs[i], (s, i)
            source = arc.origin if sign > 0 else arc.destination
            if got >= missing - _EPS or source in seen:
                continue
            room = missing - got
            if sign > 0:
                room = min(room, self.cross.get(flow, math.inf))
                use = self.lane_use.get(flow, 0.0)
                if use > 0:
                    room = min(room, max(0.0, self.lane.get(arc.name, math.inf)) / use)
            else:
                room = min(room, self.x[flow] + flows.get(flow, 0.0))
            left = self.stock[(s, source)] + self._net(flows, source)
            take = min(room, max(0.0, left))
            if sign > 0 and take < room - _EPS and len(seen) < 2:  # one more arc upstream
                upstream = [link for link in self._links(s, source) if link[1] > 0]
                take += self._gather(s, source, room - take, upstream, flows, seen | {source})
            if take > _EPS:
                flows[flow] += sign * take
                got += take
        return got

    def _net(self, flows: dict[tuple[str, int], float], node: str) -> float:
        """Units `flows` add to (remove from, when negative) a node's stock."""
        net = 0.0
        for (_s, i), amount in flows.items():
            if self.arcs[i].destination == node:
                net += amount
            if self.arcs[i].origin == node:
                net -= amount
        return net

    # -- the greedy ------------------------------------------------------------------------------

    def run(self) -> None:
        """Relieve over-full warehouses first, then raise suggestions while that pays.

        A move's cost depends on its SKU's state only (credit, capacity and lanes only allow
        or forbid it), so a heap entry whose SKU has not moved since it was priced is exact and
        only its feasibility is checked again."""
        for w in [w for w, left in self.capacity.items() if left < -_EPS]:
            self._relieve(w)
        heap: list[tuple[float, int, int, _Move]] = []
        for i, k in enumerate(self.keys):
            best = self._best_raise(k)
            if best is not None and best[0] < 0:
                heap.append((best[0], i, self.moved[k[0]], best[1]))
        heapq.heapify(heap)
        while heap:
            cost, i, seen, move = heapq.heappop(heap)
            if seen != self.moved[move.sku] or not self._allowed(move):
                best = self._best_raise(self.keys[i])
                if best is None or best[0] >= 0:
                    continue  # gains only shrink: this raise will not pay later either
                cost, move = best
                if heap and cost > heap[0][0] + _EPS:  # another raise now gains more
                    heapq.heappush(heap, (cost, i, self.moved[move.sku], move))
                    continue
            self._apply(move)

    def _relieve(self, w: str) -> None:
        """Bring warehouse w back within capacity: raise its suggestions, then ship less in."""
        for k in [k for k in self.keys if k[2] == w]:
            if self.capacity[w] >= -_FIT:
                return
            best = self._best_raise(k)
            if best is not None:
                self._apply(best[1])
        cuts = [
            _Move(s, flows=(((s, i), -min(self.x[(s, i)], max(0.0, self.stock[(s, w)]))),))
            for (s, node), arcs in self.inbound.items()
            if node == w
            for i in arcs
        ]
        for cut in sorted(cuts, key=self._cost):
            if self.capacity[w] >= -_FIT:
                return
            volume = self.volume[(cut.sku, w)]
            needed = -self.capacity[w] / volume if volume > 0 else 0.0
            ((flow, amount),) = cut.flows
            move = _Move(cut.sku, flows=((flow, max(amount, -needed)),))
            if amount < 0 and self._allowed(move):
                self._apply(move)


def _activity(rows: dict[str, pulp.LpConstraint], name: str) -> float:
    """Row value at the current variable values, as `expression - right-hand side`."""
    return float(rows[name].value() or 0.0)


# ---------------------------------------------------------------------------------------------
# Explanation: frames with the numbers behind every line.


def _fair_change(price: float, below: float, more: float) -> float:
    """Change in a tier's fair-share penalty when it is served `more` units while `below` short
    of its share (only the part of the gap that remains is charged)."""
    return price * (max(0.0, below - more) - max(0.0, below))


def _value(item: Any) -> float:
    if isinstance(item, pulp.LpVariable):  # most lines: read the value, no expression walk
        return float(item.varValue or 0.0)
    return float(pulp.value(item) or 0.0)


@dataclass
class Solution:
    """A solved LP as plain numbers, whichever way it was built: the values of `Variables`
    (units, by the same keys), the cost split (money) and the names of the binding rows."""

    flow: dict[tuple[str, int], float]
    supply: dict[SupplyKey, float]
    ending: dict[tuple[str, str], float]
    short: dict[tuple[str, str], float]
    safety_short: dict[tuple[str, str], float]
    over: dict[tuple[str, str], float]
    fair_gap: dict[tuple[str, str], float]
    cost_terms: dict[str, float]
    binding: set[str]


def _from_variables(variables: Variables) -> Solution:
    """The PuLP problem's solution; a row binds when its slack is (solver) zero."""

    def values(group: dict[Any, Any]) -> dict[Any, float]:
        return {key: _value(item) for key, item in group.items()}

    return Solution(
        flow=values(variables.flow),
        supply=values(variables.supply),
        ending=values(variables.ending),
        short=values(variables.short),
        safety_short=values(variables.safety_short),
        over=values(variables.over),
        fair_gap=values(variables.fair_gap),
        cost_terms=values(variables.cost_terms),
        binding={
            name
            for name, row in variables.constraints.items()
            if row.slack is not None and abs(row.slack) < _BIND
        },
    )


def explain(inputs: ModelInputs, solution: Solution, facts: SolverFacts) -> Plan:
    """Turn a solved problem into the plan's frames, alerts and KPIs."""
    transfers = _transfers(inputs, solution)
    replenishment = _replenishment(inputs, solution)
    unmet = _unmet(inputs, solution)
    alerts = _alerts(inputs, solution)
    kpis = _kpis(inputs, solution, transfers, replenishment, unmet)
    return Plan(
        transfers=transfers,
        replenishment=replenishment,
        unmet=unmet,
        alerts=alerts,
        kpis=kpis,
        solver=facts,
        today=inputs.today,
        needs=inputs.needs,
    )


def _by_key(frame: pd.DataFrame, location: str, column: str) -> dict[tuple[str, str], float]:
    """{(sku, location): value} of one column: a dict lookup per plan line, not a MultiIndex one."""
    keys = zip(frame[SKU], frame[location], strict=True)
    return dict(zip(keys, frame[column].astype(float), strict=True))


def _transfers(inputs: ModelInputs, solution: Solution) -> pd.DataFrame:
    means = _by_key(inputs.needs, LOCATION, "mean")
    safeties = _by_key(inputs.needs, LOCATION, "safety")
    on_hands = _by_key(inputs.stock, "node", ON_HAND)
    in_times = _by_key(inputs.stock, "node", "in_time")
    rows = []
    for (s, i), quantity in solution.flow.items():
        if quantity <= _EPS:
            continue
        arc = inputs.arcs[i]
        dest = (s, arc.destination)
        forecast = means.get(dest, 0.0)
        safety = safeties.get(dest, 0.0)
        on_hand = on_hands.get(dest, 0.0)
        in_transit = in_times.get(dest, 0.0)
        binding = [
            name
            for name in (
                f"lane_capacity[{arc.name}]",
                f"capacity[{arc.destination}]",
                f"cross_region[{s},{arc.name}]",
            )
            if name in solution.binding
        ]
        if arc.kind == "lane":
            why = "supply down the chain"
        elif arc.kind == "lateral":
            why = "lateral transfer within the region"
        else:
            excess = inputs.cross_region_cap.get((s, arc.origin), 0.0)
            why = (
                f"cross-region transfer of overstock ({excess:.0f} units above the bound at origin)"
            )
        rows.append(
            {
                "sku": s,
                "origin": arc.origin,
                "destination": arc.destination,
                "quantity": quantity,
                "arrives": inputs.today + pd.Timedelta(days=arc.lead_time_days),
                "kind": arc.kind,
                "cost_per_unit": arc.cost_per_unit,
                "dest_forecast": forecast,
                "dest_safety_stock": safety,
                "dest_on_hand": on_hand,
                "dest_in_transit": in_transit,
                "binding": ";".join(binding),
                "reason": (
                    f"{why}: {arc.destination} forecast {forecast:.1f} over "
                    f"{inputs.window[arc.destination]} days + safety stock {safety:.1f}, "
                    f"on hand {on_hand:.1f}, in transit {in_transit:.1f}"
                ),
            }
        )
    return pd.DataFrame(rows, columns=TRANSFER_COLUMNS)


def _supply_binding(solution: Solution, distributor: Distributor, s: str, w: str) -> str:
    d = distributor.id
    if f"order_up_to[{s},{d}]" in solution.binding:
        return "need covered (order-up-to level)"
    if distributor.credit == "yellow" and f"credit[{d}]" in solution.binding:
        return f"credit limit (yellow, guaranteed {distributor.guaranteed_amount:g})"
    if solution.ending[(s, w)] <= _EPS:
        return f"stock at {w} exhausted"
    if f"fair_share[{s},{distributor.tier}]" in solution.binding:
        return f"fair share of tier {distributor.tier}"
    return "pack / MOQ rounding or cost trade-off"


def _replenishment(inputs: ModelInputs, solution: Solution) -> pd.DataFrame:
    distributors = {d.id: d for d in inputs.network.distributors}
    lead = {(d.distributor, d.warehouse): d.lead_time_days for d in inputs.deliveries}
    needs = inputs.needs
    columns = ["mean", "safety", ON_HAND, IN_TRANSIT, "need", "cover_days", "service_target"]
    need_of: dict[tuple[str, str], dict[Hashable, Any]] = dict(
        zip(
            zip(needs[SKU], needs[LOCATION], strict=True),
            needs[columns].to_dict("records"),
            strict=True,
        )
    )
    rows = []
    for (s, d, w), y in solution.supply.items():
        # Whole packs by construction (exact or repaired); drop the solver's float dust.
        quantity = float(round(y))
        if quantity <= _EPS:
            continue
        row = need_of[(s, d)]
        binding = _supply_binding(solution, distributors[d], s, w)
        rows.append(
            {
                "distributor": d,
                "sku": s,
                "quantity": quantity,
                "source": w,
                "arrives": inputs.today + pd.Timedelta(days=lead[(d, w)]),
                "tier": distributors[d].tier,
                "credit": distributors[d].credit,
                "forecast": float(row["mean"]),
                "safety_stock": float(row["safety"]),
                "on_hand": float(row[ON_HAND]),
                "in_transit": float(row[IN_TRANSIT]),
                "need": float(row["need"]),
                "cover_days": int(row["cover_days"]),
                "binding": binding,
                "reason": (
                    f"forecast {row['mean']:.1f} over {int(row['cover_days'])} days + safety stock "
                    f"{row['safety']:.1f} (service {row['service_target']:.0%}) - on hand "
                    f"{row[ON_HAND]:.1f} - in transit {row[IN_TRANSIT]:.1f} = "
                    f"need {row['need']:.1f}; "
                    f"{binding}"
                ),
            }
        )
    return pd.DataFrame(rows, columns=REPLENISHMENT_COLUMNS)


def _unmet(inputs: ModelInputs, solution: Solution) -> pd.DataFrame:
    distributors = {d.id: d for d in inputs.network.distributors}
    rows = []
    for (s, j), short in solution.short.items():
        uncovered = solution.safety_short[(s, j)]
        if short <= _SMALL and uncovered <= _SMALL:
            continue
        if j in distributors:
            d = distributors[j]
            bearer = f"{d.tier} distributor {j}"
            tier: str = d.tier
            if d.credit == "red":
                cause = "red credit: no supply"
            elif d.credit == "yellow" and f"credit[{j}]" in solution.binding:
                cause = "yellow credit: guaranteed amount reached"
            else:
                cause = "stock or reach: not enough stock that arrives in time"
        else:
            bearer, tier = f"forward catchment {j}", CATCHMENT
            cause = "stock or reach: not enough stock that arrives in time"
        rows.append(
            {
                "sku": s,
                "location": j,
                "quantity": short,
                "safety_uncovered": uncovered,
                "bearer": bearer,
                "tier": tier,
                "cause": cause,
            }
        )
    return pd.DataFrame(rows, columns=UNMET_COLUMNS)


def _alerts(inputs: ModelInputs, solution: Solution) -> pd.DataFrame:
    policy = inputs.policy
    rows: list[dict[str, Any]] = []
    for rec in inputs.needs[[SKU, LOCATION, "mean", "daily", "cover_days"]].to_dict("records"):
        s, j = str(rec[SKU]), str(rec[LOCATION])
        mean, rate, cover_days = float(rec["mean"]), float(rec["daily"]), int(rec["cover_days"])
        if (s, j) not in solution.short or mean <= 0:
            continue
        short = solution.short[(s, j)]
        cover = (mean - short) / mean
        if cover < policy.stockout_risk_cover - 1e-9:
            stock = mean - short
            rows.append(
                {
                    "kind": "stockout_risk",
                    "sku": s,
                    "node": j,
                    "message": (
                        f"{s} at {j}: planned stock {stock:.1f} covers {cover:.0%} of the forecast "
                        f"{mean:.1f} over {cover_days} days ({short:.1f} short)"
                    ),
                    "stock": stock,
                    "daily_demand": rate,
                    "days_of_supply": stock / rate if rate > 0 else None,
                    "threshold": policy.stockout_risk_cover,
                }
            )
    for w in inputs.network.warehouses:
        for s in inputs.skus:
            daily = inputs.node_daily.get((s, w.id), 0.0)
            start = inputs.available[(s, w.id)]
            end = solution.ending[(s, w.id)]
            days_end = end / daily if daily > 0 else (math.inf if end > 0 else 0.0)
            days_start = start / daily if daily > 0 else (math.inf if start > 0 else 0.0)
            if w.kind == "forward" and end > _EPS and days_end > policy.overstock_days:
                rows.append(
                    {
                        "kind": "overstock",
                        "sku": s,
                        "node": w.id,
                        "message": (
                            f"{s} at {w.id}: {end:.0f} units after the plan = "
                            f"{_days_text(days_end)} of supply at {daily:.2f}/day, "
                            f"above the bound of "
                            f"{policy.overstock_days:g} days"
                        ),
                        "stock": end,
                        "daily_demand": daily,
                        "days_of_supply": days_end if math.isfinite(days_end) else None,
                        "threshold": policy.overstock_days,
                    }
                )
            if start > _EPS and days_start > policy.slow_mover_days:
                rows.append(
                    {
                        "kind": "slow_mover",
                        "sku": s,
                        "node": w.id,
                        "message": (
                            f"{s} at {w.id}: {start:.0f} units = "
                            f"{_days_text(days_start)} of supply "
                            f"at {daily:.2f}/day, above {policy.slow_mover_days:g} days"
                        ),
                        "stock": start,
                        "daily_demand": daily,
                        "days_of_supply": days_start if math.isfinite(days_start) else None,
                        "threshold": policy.slow_mover_days,
                    }
                )
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


def _days_text(days: float) -> str:
    return "unlimited days (no demand)" if math.isinf(days) else f"{days:.0f} days"


def _kpis(
    inputs: ModelInputs,
    solution: Solution,
    transfers: pd.DataFrame,
    replenishment: pd.DataFrame,
    unmet: pd.DataFrame,
) -> dict[str, Any]:
    """Expected fill rate (share of mean demand covered) by tier, days of supply, cost split."""
    needs = inputs.needs
    demand_by_tier: dict[str, float] = defaultdict(float)
    short_by_tier: dict[str, float] = defaultdict(float)
    for rec in needs[[SKU, LOCATION, "tier", "mean"]].to_dict("records"):
        tier = str(rec["tier"])
        demand_by_tier[tier] += float(rec["mean"])
        key = (str(rec[SKU]), str(rec[LOCATION]))
        if key in solution.short:
            short_by_tier[tier] += solution.short[key]
    fill = {
        tier: (1.0 - short_by_tier[tier] / total) if total > 0 else None
        for tier, total in demand_by_tier.items()
    }
    total_demand = sum(demand_by_tier.values())
    total_short = sum(short_by_tier.values())
    daily_total = float(needs["daily"].sum())
    stock_total = sum(solution.ending.values())
    return {
        "fill_rate": (1.0 - total_short / total_demand) if total_demand > 0 else None,
        "fill_rate_by_tier": fill,
        "days_of_supply": stock_total / daily_total if daily_total > 0 else None,
        "stock_after_plan": stock_total,
        "units_transferred": float(transfers["quantity"].sum()),
        "units_replenished": float(replenishment["quantity"].sum()),
        "units_unmet": float(unmet["quantity"].sum()),
        "transfers": len(transfers),
        "replenishment_lines": len(replenishment),
        "cost": dict(solution.cost_terms),
    }
