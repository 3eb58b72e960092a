"""Pack rounding (LP mode): the LP optimum's suggestions rounded to whole packs / MOQ.

`PackRepair` is a greedy over the solved LP. It reads the LP through an `LpView` (prices,
bounds, the use each decision makes of a shared row, and each row's slack at the optimum), which
`view_of_problem` takes from a solved PuLP problem and `view_of_arrays` from the same LP built
as arrays and solved by SKU (`allocation.scale`, `allocation.decompose`): both paths of
`allocation.planner.plan` round alike.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pulp

from allocation.inputs import LOCATION, SKU
from allocation.model import Arc, ModelInputs, Variables
from allocation.policy import CATCHMENT
from allocation.scale import LpArrays

__all__ = ["LpView", "PackRepair", "SupplyKey", "pack_grid", "view_of_arrays", "view_of_problem"]

SupplyKey = tuple[str, str, str]
Key = tuple[str, str]
FlowKey = tuple[str, int]

_EPS = 1e-6
_GRID = 1e-6  # packs; an LP value this close to a whole pack is that pack (solver dust)
_FIT = 1e-9  # units, money, volume: how far a row may look broken from float rounding alone
_DEPTH = 2  # links a pull follows from the warehouse that wants the stock (`PackRepair._gather`)
# The exchange (`PackRepair._exchange`), per SKU with a tier below its fair share: the wants
# tried per pass (largest gain first), the donors tried per want (cheapest loss first), the
# links its pulls follow, and the passes (each over the SKUs the last one changed). They bound
# its work per SKU: at 50 locations a SKU has some 50 suggestions that could each want stock.
_WANTS = 8
_DONORS = 3
_WANT_DEPTH = 3
_ROUNDS = 3


@dataclass(frozen=True)
class LpView:
    """A solved allocation LP (`allocation.model.build_problem`, continuous suggestions) as the
    pack repair reads it, by the keys of `Variables`.

    Values at the optimum: supply (y), flow (x), ending (e). Money per unit: supply_price,
    flow_price, hold (of e), fair_price (of a fair-share gap) and each demand row's `_Demand`.
    Bounds: supply_cap (y's upper bound, the order-up-to cap of its SKU and distributor), over
    (overstock bound and the price per unit above it). Row use per unit: credit_use (money of
    a suggestion in its distributor's credit row), lane_use (volume of a flow in its lane row),
    volume (of ending stock in its warehouse's capacity row). Slack of each row at the optimum
    (what is left before it binds): credit by distributor, capacity by warehouse, lane by arc
    name, cross by row name (`Arc.cross_rows`); below: units each fair-share target is still
    short."""

    supply: dict[SupplyKey, float]
    supply_cap: dict[SupplyKey, float]
    supply_price: dict[SupplyKey, float]
    flow: dict[FlowKey, float]
    flow_price: dict[FlowKey, float]
    ending: dict[Key, float]
    hold: dict[Key, float]
    demand: dict[Key, _Demand]
    over: dict[Key, tuple[float, float]]
    fair_price: dict[Key, float]
    credit_use: dict[SupplyKey, float]
    lane_use: dict[FlowKey, float]
    volume: dict[Key, float]
    credit: dict[str, float]
    capacity: dict[str, float]
    lane: dict[str, float]
    cross: dict[str, float]
    below: dict[Key, float]
    # Timing rows (`allocation.model.TimingRow`): slack by row name, and the rows each flow
    # ("x", (sku, arc)) or suggestion ("y", (sku, distributor, warehouse)) is in, with its
    # coefficient there. Empty where every chain of lanes fits its cover period.
    timing: dict[str, float] = field(default_factory=dict)
    timing_use: dict[tuple[str, Any], list[tuple[str, float]]] = field(default_factory=dict)


def _crossing(arcs: list[Arc], flows: Iterable[FlowKey]) -> set[str]:
    """The cross-region rows (`Arc.cross_rows`) of the flows."""
    return {row for s, i in flows for row in arcs[i].cross_rows(s)}


def view_of_problem(inputs: ModelInputs, variables: Variables, problem: pulp.LpProblem) -> LpView:
    """The view of a solved PuLP problem, every number read off its objective and rows."""
    price = problem.objective
    rows = variables.constraints
    arcs = inputs.arcs

    def value(item: pulp.LpVariable) -> float:
        return float(item.varValue or 0.0)

    def slack(name: str) -> float:  # a row's value is `expression - rhs`
        return -float(rows[name].value() or 0.0)

    credit_use = {
        k: float(rows[f"credit[{k[1]}]"].get(y, 0.0) or 0.0)
        for k, y in variables.supply_free.items()
        if f"credit[{k[1]}]" in rows
    }
    return LpView(
        supply={k: value(y) for k, y in variables.supply_free.items()},
        supply_cap={k: float(y.upBound or 0.0) for k, y in variables.supply_free.items()},
        supply_price={k: float(price.get(y, 0.0)) for k, y in variables.supply_free.items()},
        flow={key: value(x) for key, x in variables.flow.items()},
        flow_price={key: float(price.get(x, 0.0)) for key, x in variables.flow.items()},
        ending={key: value(e) for key, e in variables.ending.items()},
        hold={key: float(price.get(e, 0.0)) for key, e in variables.ending.items()},
        demand={
            key: _Demand(
                float(u.upBound or 0.0),
                float(variables.safety_short[key].upBound or 0.0),
                float(price.get(u, 0.0)),
                float(price.get(variables.safety_short[key], 0.0)),
            )
            for key, u in variables.short.items()
        },
        over={
            key: (-rows[f"overstock[{key[0]},{key[1]}]"].constant, float(price.get(o, 0.0)))
            for key, o in variables.over.items()
        },
        fair_price={key: float(price.get(g, 0.0)) for key, g in variables.fair_gap.items()},
        credit_use=credit_use,
        lane_use={
            (s, i): float(rows[f"lane_capacity[{arcs[i].name}]"].get(x, 0.0) or 0.0)
            for (s, i), x in variables.flow.items()
            if f"lane_capacity[{arcs[i].name}]" in rows
        },
        volume={
            (s, w): float(rows[f"capacity[{w}]"].get(e, 0.0) or 0.0)
            for (s, w), e in variables.ending.items()
        },
        credit={d: slack(f"credit[{d}]") for d in {d for _s, d, _w in credit_use}},
        capacity={w.id: slack(f"capacity[{w.id}]") for w in inputs.network.warehouses},
        lane={
            arc.name: slack(f"lane_capacity[{arc.name}]")
            for arc in arcs
            if f"lane_capacity[{arc.name}]" in rows
        },
        cross={row: slack(row) for row in _crossing(arcs, variables.flow)},
        # fair_share rows are served + g >= target: the row's value is served + g - target.
        below={
            key: value(g) + slack(f"fair_share[{key[0]},{key[1]}]")
            for key, g in variables.fair_gap.items()
        },
        **_timing_of_problem(variables),
    )


def _timing_of_problem(variables: Variables) -> dict[str, Any]:
    """LpView's timing fields from the solved PuLP rows named timing[...]."""
    names = [name for name in variables.constraints if name.startswith("timing[")]
    if not names:
        return {}
    key_of: dict[str, tuple[str, Any]] = {x.name: ("x", k) for k, x in variables.flow.items()}
    key_of.update({y.name: ("y", k) for k, y in variables.supply_free.items()})
    use: dict[tuple[str, Any], list[tuple[str, float]]] = defaultdict(list)
    for name in names:
        for item, coefficient in variables.constraints[name].items():
            if item.name in key_of:  # exact packs: a y is whole packs k, fixed by then
                use[key_of[item.name]].append((name, float(coefficient)))
    slack = {name: -float(variables.constraints[name].value() or 0.0) for name in names}
    return {"timing": slack, "timing_use": dict(use)}


def view_of_arrays(inputs: ModelInputs, arrays: LpArrays, x: np.ndarray) -> LpView:
    """The view of the same LP built as arrays (`allocation.scale.build_arrays`) at x.

    The rows the repair reads by name are in `arrays.row_name`; an overstock row is the one
    row of its `o` column."""
    columns = arrays.col_key
    cost, upper = arrays.cost, arrays.col_upper

    def by_key(letter: str, values: np.ndarray) -> dict[Any, float]:
        keys, index = columns.of(letter)
        return dict(zip(keys, values[index].tolist(), strict=True))

    def row_use(names: dict[Any, str], letter: str) -> tuple[dict[Any, float], dict[Any, float]]:
        """({column key: its coefficient in these rows} for every `letter` column, {row key:
        slack at x}) over the rows of `names` the build made (in `arrays.row_name`); each
        column is in at most one of them."""
        made = {
            key: arrays.row_name[name] for key, name in names.items() if name in arrays.row_name
        }
        keys, index = columns.of(letter)
        if not made:
            return dict.fromkeys(keys, 0.0), {}
        rows = np.fromiter(made.values(), dtype=np.int64, count=len(made))
        block = arrays.matrix[rows].tocsc()
        coefficients = np.asarray(block[:, index].sum(axis=0)).ravel()
        slack = arrays.row_upper[rows] - block @ x
        return dict(zip(keys, coefficients.tolist(), strict=True)), dict(
            zip(made, slack.tolist(), strict=True)
        )

    arcs = inputs.arcs
    warehouses = [w.id for w in inputs.network.warehouses]
    yellow = [d.id for d in inputs.network.distributors if d.credit == "yellow"]
    credit_use, credit = row_use({d: f"credit[{d}]" for d in yellow}, "y")
    lane_use, lane = row_use({a.name: f"lane_capacity[{a.name}]" for a in arcs}, "x")
    volume, capacity = row_use({w: f"capacity[{w}]" for w in warehouses}, "e")
    flow_keys, _ = columns.of("x")
    crossing = _crossing(arcs, flow_keys)  # a flow is in two: its origin's and its region's
    _, cross = row_use({row: row for row in crossing if row.startswith("cross_region[")}, "x")
    cross |= row_use({row: row for row in crossing if row.startswith("cross_region_in[")}, "x")[1]
    short_keys, short_index = columns.of("u")
    _, safety_index = columns.of("v")
    over_keys, over_index = columns.of("o")
    if not np.all(np.diff(arrays.matrix.indptr)[over_index] == 1):
        raise ValueError("an overstock column of the arrays is not in exactly one row")
    over_rows = arrays.matrix.indices[arrays.matrix.indptr[over_index]]
    fair_keys, fair_index = columns.of("g")
    fair_rows = np.array(
        [arrays.row_name[f"fair_share[{s},{t}]"] for s, t in fair_keys], dtype=np.int64
    )
    served = arrays.matrix[fair_rows] @ x - x[fair_index]  # the row's value without its gap g
    return LpView(
        supply=by_key("y", x),
        supply_cap=by_key("y", upper),
        supply_price=by_key("y", cost),
        flow=by_key("x", x),
        flow_price=by_key("x", cost),
        ending=by_key("e", x),
        hold=by_key("e", cost),
        demand={
            key: _Demand(mean, safety, price_mean, price_safety)
            for key, mean, safety, price_mean, price_safety in zip(
                short_keys,
                upper[short_index].tolist(),
                upper[safety_index].tolist(),
                cost[short_index].tolist(),
                cost[safety_index].tolist(),
                strict=True,
            )
        },
        over={
            key: (bound, price)
            for key, bound, price in zip(
                over_keys,
                arrays.row_upper[over_rows].tolist(),
                cost[over_index].tolist(),
                strict=True,
            )
        },
        fair_price=by_key("g", cost),
        credit_use={k: use for k, use in credit_use.items() if k[1] in credit},
        lane_use={f: use for f, use in lane_use.items() if arcs[f[1]].name in lane},
        volume=volume,
        credit=credit,
        capacity=capacity,
        lane=lane,
        cross=cross,
        # fair_share rows are served + g >= target (the catchments' needs moved to the bound).
        below=dict(zip(fair_keys, (arrays.row_lower[fair_rows] - served).tolist(), strict=True)),
        **_timing_of_arrays(arrays, x),
    )


def _timing_of_arrays(arrays: LpArrays, x: np.ndarray) -> dict[str, Any]:
    """LpView's timing fields from the rows of `arrays` named timing[...], at x."""
    names = [name for name in arrays.row_name if name.startswith("timing[")]
    if not names:
        return {}
    rows = np.array([arrays.row_name[name] for name in names], dtype=np.int64)
    block = arrays.matrix[rows].tocsr()
    key_of: dict[int, tuple[str, Any]] = {}
    for letter in ("x", "y"):
        keys, index = arrays.col_key.of(letter)
        wanted = np.intersect1d(block.indices, index)
        for column, position in zip(wanted, np.searchsorted(index, wanted), strict=True):
            key_of[int(column)] = (letter, keys[int(position)])
    use: dict[tuple[str, Any], list[tuple[str, float]]] = defaultdict(list)
    for r, name in enumerate(names):
        start, end = block.indptr[r], block.indptr[r + 1]
        for column, coefficient in zip(
            block.indices[start:end], block.data[start:end], strict=True
        ):
            use[key_of[int(column)]].append((name, float(coefficient)))
    slack = arrays.row_upper[rows] - block @ x
    return {"timing": dict(zip(names, slack.tolist(), strict=True)), "timing_use": dict(use)}


def pack_grid(
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
        """The cheapest (u, v) the demand row allows at `cover` units (u <= D, v <= SS;
        kappa <= 1 makes safety stock the cheaper of the two to leave short: v takes the first
        SS units, u the rest)."""
        u = min(self.mean, max(0.0, self.mean - cover))
        return u, min(self.safety, max(0.0, self.mean + self.safety - cover - u))

    def cost(self, cover: float) -> tuple[float, float]:
        """(penalty money, units uncovered) at `cover` units."""
        u, v = self.uncovered(cover)
        return self.price_mean * u + self.price_safety * v, u + v


@dataclass(frozen=True)
class _Want:
    """A use of more units of SKU `sku` at warehouse `place` that would pay were the stock there:
    `step` more units on suggestion `key`, or (key None) `units` more left at `place`, a
    forward warehouse short of its catchment's demand; `gain` is that objective change
    (money, negative) with the stock free."""

    gain: float
    sku: str
    place: str
    key: SupplyKey | None = None
    step: float = 0.0
    units: float = 0.0


@dataclass(frozen=True)
class _Move:
    """One step of the repair: `step` more units on suggestion `key` (if any) and, for each
    (flow, amount) in `flows`, `amount` more units on that flow = (sku, arc index) (negative:
    less)."""

    sku: str
    key: SupplyKey | None = None
    step: float = 0.0
    flows: tuple[tuple[tuple[str, int], float], ...] = ()


class PackRepair:
    """Greedy pack rounding on top of the LP optimum: decides each suggestion's whole packs.

    Every suggestion starts at the whole packs just below its LP value (nothing under the MOQ),
    which only leaves stock at its warehouse. Then, largest objective gain first, a suggestion
    is raised to the whole packs just above its LP value, and on by one pack at a time, when
    that lowers the objective
    (delivery, transport, holding, shortage, safety, overstock and fair-share terms, all read
    off the problem) and the stock, order-up-to room, credit, lane capacity and cross-region
    bound allow it. Stock its warehouse lacks is pulled over the links into it (ship more over
    an inbound arc, or less over an outbound one, and the same one link further where the node
    at its other end lacks the units: a central warehouse shipping less to another region's),
    which is how stock left by rounding one suggestion down reaches another. A warehouse that
    rounding down filled past its capacity is relieved first, whatever that costs: its own
    suggestions are raised, then less is shipped into it. Gains only shrink as stock is handed
    out, so a lazy heap gives the greedy order without re-sorting. Last, a suggestion the LP
    left at nothing may open (its MOQ, at least a pack) and climb the same way on the stock the
    raises left at its own warehouse, where its distributor is still short: a distributor the
    LP gave nothing of a short SKU may be the only one whose packs fit what is left. Where
    a tier is then still below its fair share, one suggestion's packs may go to another use
    of the SKU where the two moves pay together (`_exchange`).
    Uncovered demand, overstock and fair-share gaps follow
    from suggestions and stock in closed form (`_Demand`), so each move is priced exactly for
    the transfers the repair holds; the LP re-solve afterwards only improves on them.
    """

    def __init__(self, inputs: ModelInputs, lp: LpView) -> None:
        distributors = {d.id: d for d in inputs.network.distributors}
        self.keys: list[SupplyKey] = list(lp.supply)
        values = np.array([lp.supply[k] for k in self.keys])
        pack = np.array([distributors[d].pack_size for _, d, _ in self.keys], dtype=float)
        moq = np.array([distributors[d].moq for _, d, _ in self.keys], dtype=float)
        cap = np.array([lp.supply_cap[k] for k in self.keys])
        low, high = pack_grid(values, pack, moq, cap)
        self.lp = dict(zip(self.keys, values.tolist(), strict=True))
        self.y = dict(self.lp)
        self.high = dict(zip(self.keys, high.tolist(), strict=True))
        # The ladder above the LP's packs: the first step (the MOQ, at least a pack), one pack
        # per step above it, the most whole packs under the order-up-to cap.
        first = np.maximum(np.ceil(moq / pack - _GRID), 1.0) * pack
        most = np.floor(cap / pack + _GRID) * pack
        self.pack = dict(zip(self.keys, pack.tolist(), strict=True))
        self.first = dict(zip(self.keys, first.tolist(), strict=True))
        self.most = dict(zip(self.keys, most.tolist(), strict=True))
        self.arcs = inputs.arcs

        # Money per unit (objective coefficients) and row use per unit of each decision.
        self.demand = lp.demand
        self.price = lp.supply_price
        self.hold = lp.hold
        self.flow_price = lp.flow_price
        self.credit_use = lp.credit_use
        self.lane_use = lp.lane_use
        self.volume = lp.volume
        self.over = lp.over
        self.fair_price = lp.fair_price
        self.tier = {k: (k[0], distributors[k[1]].tier) for k in self.keys}
        # The warehouses whose catchment has demand of each SKU (their stock covers it).
        self.forward: dict[str, list[str]] = defaultdict(list)
        for s, w in lp.demand:
            if (s, w) in lp.ending:
                self.forward[s].append(w)
        self.inbound: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.outbound: dict[tuple[str, str], list[int]] = defaultdict(list)
        for s, i in lp.flow:
            self.inbound[(s, self.arcs[i].destination)].append(i)
            self.outbound[(s, self.arcs[i].origin)].append(i)

        # What is left at the LP optimum (units, money, volume), updated by every move.
        self.moved: dict[str, int] = defaultdict(int)  # moves applied per SKU so far
        self.x = dict(lp.flow)
        self.stock = dict(lp.ending)
        needs = inputs.needs
        self.position = dict(
            zip(zip(needs[SKU], needs[LOCATION], strict=True), needs["position"], strict=True)
        )
        self.supplied: dict[tuple[str, str], float] = defaultdict(float)
        self.room: dict[tuple[str, str], float] = {}  # order-up-to cap (y's bound) - supplied
        for (s, d, _w), value in self.lp.items():
            self.supplied[(s, d)] += value
        for (s, d, _w), bound in lp.supply_cap.items():
            self.room[(s, d)] = bound - self.supplied[(s, d)]
        self.credit = dict(lp.credit)
        self.capacity = dict(lp.capacity)
        self.lane = dict(lp.lane)
        self.cross = dict(lp.cross)
        self.below = dict(lp.below)
        self.timing = dict(lp.timing)
        self.timing_use = lp.timing_use
        for k, low_k in zip(self.keys, low.tolist(), strict=True):
            self._apply(_Move(k[0], key=k, step=low_k - self.lp[k]))

    def _next_level(self, k: SupplyKey) -> float:
        """k's next rung: its first step from nothing, one pack more from there; where that
        passes the order-up-to cap, k stays where it is."""
        level = self.y[k] + self.pack[k] if self.y[k] > _EPS else self.first[k]
        return level if level <= self.most[k] + _FIT else self.y[k]

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

    def _timing_changes(self, move: _Move) -> dict[str, float]:
        """How much more of each timing row the move uses (less, when negative)."""
        changes: dict[str, float] = defaultdict(float)
        if not self.timing_use:
            return changes
        if move.key is not None:
            for row, coefficient in self.timing_use.get(("y", move.key), ()):
                changes[row] += coefficient * move.step
        for flow, amount in move.flows:
            for row, coefficient in self.timing_use.get(("x", flow), ()):
                changes[row] += coefficient * amount
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
        for row, change in self._timing_changes(move).items():
            self.timing[row] -= change
        if move.key is not None and move.step > 0:  # raised: its next rung is one pack up
            self.high[move.key] = self._next_level(move.key)
        for flow, amount in move.flows:
            name = self.arcs[flow[1]].name
            self.x[flow] += amount
            if name in self.lane:
                self.lane[name] -= self.lane_use[flow] * amount
            for row in self.arcs[flow[1]].cross_rows(flow[0]):
                self.cross[row] -= amount
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

    def _cross_room(self, flow: FlowKey) -> float:
        """Units that may still move on a flow under its cross-region rows (`Arc.cross_rows`;
        none for a lane or a lateral within a region)."""
        rows = self.arcs[flow[1]].cross_rows(flow[0])
        return min((self.cross[row] for row in rows), default=math.inf)

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
        crossing: dict[str, float] = defaultdict(float)  # what a move sends across regions
        for flow, amount in move.flows:
            for row in self.arcs[flow[1]].cross_rows(flow[0]):
                crossing[row] += amount
        if any(sent > self.cross[row] + _FIT for row, sent in crossing.items()):
            return False
        for flow, amount in move.flows:
            if self.x[flow] + amount < -_FIT:
                return False
            use = self.lane_use.get(flow, 0.0) * amount
            if amount > 0 and use > self.lane.get(self.arcs[flow[1]].name, math.inf) + _FIT:
                return False
        for row, change in self._timing_changes(move).items():
            if change > self.timing[row] + _FIT:
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
        change = 0.0 if move.key is None else self._own_cost(move.key, move.step)
        change += sum(self.flow_price[flow] * amount for flow, amount in move.flows)
        return change + self._stock_cost(s, self._stock_changes(move))

    def _stock_cost(self, s: str, changes: dict[str, float]) -> float:
        """Objective change (money) of `changes` more units of s left at each warehouse:
        holding, its catchment's uncovered demand and fair share, overstock."""
        change = lost_more = 0.0
        for w, more in changes.items():
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

    def _own_cost(self, k: SupplyKey, step: float) -> float:
        """Objective change (money) of `step` more units on suggestion k, its stock aside: its
        delivery, its distributor's uncovered demand and its tier's fair-share gap."""
        s, d, _w = k
        change = self.price[k] * step + self._fair(self.tier[k], step)
        ours = self.demand.get((s, d))
        if ours is not None:
            cover = self._cover((s, d))
            change += ours.cost(cover + step)[0] - ours.cost(cover)[0]
        return change

    def _best_raise(
        self, k: SupplyKey, step: float | None = None, depth: int = _DEPTH
    ) -> tuple[float, _Move] | None:
        """The cheapest allowed way to raise k by `step` units (default: to its upper whole
        packs): from the stock at its warehouse, pulling what is missing over the links in."""
        s, _d, w = k
        step = self.high[k] - self.y[k] if step is None else step
        if step <= _EPS:
            return None
        return self._best_bring(s, w, step - max(0.0, self.stock[(s, w)]), k, step, depth)

    def _best_bring(
        self,
        s: str,
        w: str,
        missing: float,
        k: SupplyKey | None = None,
        step: float = 0.0,
        depth: int = _DEPTH,
    ) -> tuple[float, _Move] | None:
        """The cheapest allowed move that brings `missing` units of s to w (over each link
        into w alone, and over all of them cheapest first, following up to `depth` links),
        with `step` more units on suggestion k (when given) in the same move."""
        if missing <= _FIT:
            moves = [_Move(s, key=k, step=step)]
        else:
            links = self._links(s, w)
            moves = []
            for chosen in [*([link] for link in links), *([links] if len(links) > 1 else [])]:
                flows: dict[tuple[str, int], float] = defaultdict(float)
                if self._gather(s, w, missing, chosen, flows, {w}, depth) >= missing - _FIT:
                    move = _Move(s, key=k, step=step, flows=tuple(flows.items()))
                    if all(move.flows != other.flows for other in moves):  # priced once
                        moves.append(move)
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
        depth: int = _DEPTH,
    ) -> float:
        """Add to `flows` what brings up to `missing` units of s to w over `links`: from the
        stock at each source node, and what a source lacks over one more link of its own (more
        in, or less out). Returns the units brought."""
        got = 0.0
        for i, sign in links:
            arc, flow = self.arcs[i], (s, i)
            source = arc.origin if sign > 0 else arc.destination
            if got >= missing - _EPS or source in seen:
                continue
            room = missing - got
            if sign > 0:
                room = min(room, self._cross_room(flow))
                use = self.lane_use.get(flow, 0.0)
                if use > 0:
                    room = min(room, max(0.0, self.lane.get(arc.name, math.inf)) / use)
            else:
                room = min(room, self.x[flow] + flows.get(flow, 0.0))
            left = self.stock[(s, source)] + self._net(flows, source)
            take = min(room, max(0.0, left))
            if take < room - _EPS and len(seen) < depth:  # what the source lacks, one arc on
                # More into a source that ships here, or less out of it to a third node (a
                # central warehouse shipping less to another region's); less out of one that
                # ships here less (a forward warehouse passing less to its lateral).
                further = [link for link in self._links(s, source) if sign > 0 or link[1] < 0]
                take += self._gather(s, source, room - take, further, flows, seen | {source}, depth)
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
        self._climb(range(len(self.keys)))
        # Then suggestions the LP left at nothing may open, on what the raises left at their
        # own warehouse: opened alongside the raises they took stock the re-solve put to better
        # use (worse plans on 6 of 8 seeded instances); after them, the plans of all 8 improved
        # (BENCHMARKS.md).
        closed = [i for i, k in enumerate(self.keys) if self._may_open(k)]
        for i in closed:
            self.high[self.keys[i]] = self._next_level(self.keys[i])
        self._climb(closed)
        self._exchange()

    def _may_open(self, k: SupplyKey) -> bool:
        """Whether k is at nothing, its distributor still has demand or safety stock uncovered
        and k's warehouse holds its first step: only such a suggestion is priced for opening
        (pricing all 33,000 closed ones of 55,000 at 1,000 SKUs x 50 took 3 s for 187 opened)."""
        s, d, w = k
        demand = self.demand.get((s, d))
        return (
            self.y[k] <= _EPS
            and self.stock[(s, w)] >= self.first[k] - _FIT
            and demand is not None
            and sum(demand.uncovered(self._cover((s, d)))) > _EPS
        )

    def _exchange(self) -> None:
        """In each SKU with a tier (or the forward catchment) below its fair share, hand a
        donor suggestion's packs to another use of the SKU where the two moves together lower
        the objective: a suggestion whose next rung would pay were the stock there, or a
        forward warehouse whose catchment is below its share (`_wants`). The climb never
        lowers a suggestion, so a raise made early holds stock that a later one needs more:
        a growth distributor's 4 units in packs of 1 where growth's share needs another's
        pack of 12, or a pack of 12 pulled from a forward warehouse while the first
        distributor's units could have stayed there. Each SKU an exchange changed then
        climbs again on what is left, and is looked at again, up to `_ROUNDS` passes."""
        by_sku: dict[str, list[int]] = defaultdict(list)
        for i, k in enumerate(self.keys):
            by_sku[k[0]].append(i)
        tiers: dict[str, list[Key]] = defaultdict(list)
        for key in self.below:
            tiers[key[0]].append(key)
        touched = list(by_sku)  # in the keys' order: SKUs share capacity, credit and lanes
        for _round in range(_ROUNDS):
            changed: dict[str, None] = {}
            for s in touched:
                if all(self.below[key] <= _EPS for key in tiers[s]):
                    continue
                for want in self._wants(s, by_sku[s])[:_WANTS]:
                    if self._exchange_for(want, [self.keys[i] for i in by_sku[s]]):
                        changed[s] = None
            if not changed:
                return
            self._climb(i for s in changed for i in by_sku[s])
            touched = list(changed)

    def _wants(self, s: str, indices: list[int]) -> list[_Want]:
        """What in SKU s would lower the objective with stock it lacks: each forward warehouse
        while the catchment is below its fair share (what it lacks is priced when it is
        served), then each suggestion's next rung whose own gain pays (`_want_of`; after the
        climb no raise from the stock in reach pays for it), largest gain first."""
        wants = [want for i in indices if (want := self._want_of(self.keys[i])) is not None]
        wants.sort(key=lambda want: want.gain)
        if self.below.get((s, CATCHMENT), 0.0) > _EPS:
            wants = [_Want(0.0, s, w) for w in self.forward.get(s, ())] + wants
        return wants

    def _want_of(self, k: SupplyKey) -> _Want | None:
        """k's next rung, where its own gain (delivery, its distributor's demand, its tier's
        fair share; the stock aside) pays."""
        step = self._next_level(k) - self.y[k]
        if step <= _EPS:
            return None
        gain = self._own_cost(k, step)
        return _Want(gain, k[0], k[2], key=k, step=step) if gain < -_EPS else None

    def _exchange_for(self, want: _Want, keys: list[SupplyKey]) -> bool:
        """Serve `want` (priced again: an exchange before it may have moved it) with units
        lowered off one donor suggestion of its SKU (`keys`), where the two moves pay together:
        applied, True; the state as it was otherwise. A donor frees what the want's warehouse
        lacks (the whole step where it holds that, its catchment valuing it more), or no more
        than the donor's tier holds above its own fair share, the rest pulled from elsewhere.
        Donors are tried cheapest loss first, at most `_DONORS`, and each served only where the
        want's own gain, the donor lowered, pays for the loss."""
        s, w = want.sku, want.place
        if want.key is None:  # what the catchment lacks of its fair share, as far as w is short
            below = self.below.get((s, CATCHMENT), 0.0)
            units = min(below, sum(self.demand[(s, w)].uncovered(self.stock[(s, w)])))
            if units <= _EPS:
                return False
            want = _Want(self._stock_cost(s, {w: units}), s, w, units=units)
            need = units
        else:
            again = self._want_of(want.key)
            if again is None:
                return False
            want = again
            missing = want.step - max(0.0, self.stock[(s, w)])
            need = missing if missing > _EPS else want.step
        lowers = []
        for donor in keys:
            if donor == want.key:
                continue
            pack = self.pack[donor]
            spare = min(need, -self.below.get(self.tier[donor], -need))
            spare = math.floor(spare / pack + _GRID) * pack
            cuts = dict.fromkeys((self._cut_for(donor, need), self._cut_for(donor, spare)))
            for cut in (cut for cut in cuts if cut is not None):
                lower = _Move(s, key=donor, step=-cut)
                if self._allowed(lower):
                    lowers.append((self._cost(lower), donor, cut))
        lowers.sort(key=lambda lower: lower[0])
        # A donor must do better than serving the want from the stock in reach alone (a move
        # of transfers only, which pays for a forward warehouse's want at times).
        alone = self._serve(want) if want.key is None else None
        worth = min(0.0, alone[0]) if alone is not None else 0.0
        for loss, donor, cut in lowers[:_DONORS]:
            high = self.high[donor]
            self._apply(_Move(s, key=donor, step=-cut))
            # The want's own gain once the donor is lowered (more, where the donor is of its
            # tier) bounds what serving it can gain: only where that pays is it priced.
            if want.key is None:
                gain = self._stock_cost(s, {w: want.units})
            else:
                gain = self._own_cost(want.key, want.step)
            best = self._serve(want) if loss + gain < worth - _EPS else None
            if best is not None and loss + best[0] < worth - _EPS:
                self._apply(best[1])
                self.high[donor] = self._next_level(donor)
                return True
            self._apply(_Move(s, key=donor, step=cut))  # undo
            self.high[donor] = high
        return False

    def _serve(self, want: _Want) -> tuple[float, _Move] | None:
        """The cheapest allowed move that serves `want` from the stock in reach (one link
        further than the climb looks: the donor's units may be three links away)."""
        if want.key is None:
            return self._best_bring(want.sku, want.place, want.units, depth=_WANT_DEPTH)
        return self._best_raise(want.key, want.step, _WANT_DEPTH)

    def _cut_for(self, donor: SupplyKey, units: float) -> float | None:
        """Units to take off `donor` so that at least `units` are freed: whole packs of its own,
        all of it where what is left would fall under its MOQ; None where it has nothing."""
        y, pack = self.y[donor], self.pack[donor]
        if y <= _EPS or units <= _EPS:
            return None
        cut = min(y, math.ceil(units / pack - _GRID) * pack)
        return y if y - cut < self.first[donor] - _EPS else cut

    def _climb(self, indices: Iterable[int]) -> None:
        """Raise the suggestions at `indices` rung by rung, largest gain first, while that pays."""
        heap: list[tuple[float, int, int, _Move]] = []
        for i in indices:
            best = self._best_raise(self.keys[i])
            if best is not None and best[0] < 0:
                heap.append((best[0], i, self.moved[self.keys[i][0]], best[1]))
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
            best = self._best_raise(self.keys[i])  # its next rung, where that pays too
            if best is not None and best[0] < 0:
                heapq.heappush(heap, (best[0], i, self.moved[move.sku], best[1]))

    def changes(self) -> tuple[int, int]:
        """How many suggestions the repair raised and lowered against the LP."""
        moved = [self.y[k] - self.lp[k] for k in self.keys]
        return sum(m > _EPS for m in moved), sum(m < -_EPS for m in moved)

    def plan(self) -> dict[str, dict[Any, float]]:
        """The rounded plan by `Solution` field (flow, supply, ending, short, safety_short,
        over, fair_gap): the greedy's suggestions in whole units and transfers, and the least
        uncovered demand, overstock and fair-share gap its stock allows."""
        stock = dict(self.stock)
        supply = {}
        for k, y in self.y.items():
            supply[k] = float(round(y))  # whole packs of whole units: drop the steps' float dust
            stock[(k[0], k[2])] += y - supply[k]
        uncovered = {key: demand.uncovered(self._cover(key)) for key, demand in self.demand.items()}
        return {
            "flow": dict(self.x),
            "supply": supply,
            "ending": stock,
            "short": {key: u for key, (u, _v) in uncovered.items()},
            "safety_short": {key: v for key, (_u, v) in uncovered.items()},
            "over": {key: max(0.0, stock[key] - bound) for key, (bound, _p) in self.over.items()},
            "fair_gap": {key: max(0.0, below) for key, below in self.below.items()},
        }

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


def _fair_change(price: float, below: float, more: float) -> float:
    """Change in a tier's fair-share penalty when it is served `more` units while `below` short
    of its share (only the part of the gap that remains is charged)."""
    return price * (max(0.0, below - more) - max(0.0, below))
