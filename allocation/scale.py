"""The allocation LP built as arrays, for large instances: no per-variable Python objects.

`build_arrays(inputs)` writes exactly the LP of `allocation.model.build_problem` (LP mode: before
pack rounding) as a cost vector, bounds and one sparse matrix, built with numpy index arithmetic
instead of one PuLP object per variable; `solve_arrays` hands it to HiGHS through highspy in one
call and checks the real model status. The one difference in form: each cross-region flow also
has the smaller of its rows' caps as its upper bound (the same feasible set). A test solves both
builds and checks the objectives agree.

SKUs are independent except through the shared rows (warehouse capacity, lane capacity, yellow
credit), so the matrix is block diagonal with about a hundred linking rows. `build_arrays` tags
each column and row with its SKU (`col_sku`, `row_sku`; -1 for a shared row) so that
`allocation.decompose` can solve the blocks apart; one `solve_arrays` call on the whole LP pays
for its full size in every simplex iteration (63 s at 1,000 SKUs x 50 locations).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike

from allocation.errors import SolverError
from allocation.highs import fit_tolerance, quiet_highs
from allocation.model import ModelInputs, early_days, priced_early
from allocation.solve import OPTIMAL, TIME_LIMITED

__all__ = ["ArraySolution", "LpArrays", "build_arrays", "settle_early", "solve_arrays"]

Method = Literal["ipm", "simplex", "pdlp"]
ColKey = tuple[str, tuple[str | int, ...]]


@dataclass
class LpArrays:
    """min c x  s.t.  row_lower <= A x <= row_upper,  col_lower <= x <= col_upper."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    matrix: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    offset: float  # constant of the objective (money)
    col_sku: np.ndarray  # index into inputs.skus of each column's SKU
    row_sku: np.ndarray  # index of each row's SKU; -1 for a row shared by SKUs (linking)
    # Each column's variable in `build_problem`: (letter, key) with letter x, e, y, u, v, o, g
    # and key as in `Variables` (x: (sku, arc index), y: (sku, distributor, warehouse), ...).
    col_key: ColumnKeys
    # Rows `explain.explain` reads (capacity, lane_capacity, order_up_to, credit, fair_share,
    # cross_region), by their `build_problem` name.
    row_name: dict[str, int]
    # One line per early row (`allocation.model.early_needs`): its b column, the row and its c
    # column (-1: none), so that `settle_early` can set b and c.
    early: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.matrix.shape
        return int(rows), int(cols)


class ColumnKeys(Sequence[ColKey]):
    """Each column's (letter, key), made on first use.

    At 10,000 SKUs x 50 locations the keys are 4.4 million tuples, half the build's time, and
    only reading a plan back needs them (the solve does not). Each block of columns keeps the
    iterable its keys come from until then; `build_arrays` passes iterables over arrays and
    names it never rebinds, so they give the same keys later as at the build."""

    def __init__(self) -> None:
        self._blocks: list[tuple[str, int, Iterable[tuple[str | int, ...]]]] = []
        self._size = 0
        self._lists: list[tuple[str, list[Any]]] | None = None
        self._by_letter: dict[str, tuple[list[Any], np.ndarray]] | None = None
        self._keys: list[ColKey] | None = None

    def add(self, letter: str, n: int, keys: Iterable[tuple[str | int, ...]]) -> None:
        self._blocks.append((letter, n, keys))
        self._size += n

    def _materialised(self) -> list[tuple[str, list[Any]]]:
        """Each block's letter and keys, read from its iterable once."""
        if self._lists is None:
            lists = []
            for letter, n, block in self._blocks:
                made = list(block)
                if len(made) != n:
                    raise ValueError(f"{letter} columns: {n} costs but {len(made)} keys")
                lists.append((letter, made))
            self._lists, self._blocks = lists, []
        return self._lists

    def by_letter(self) -> dict[str, tuple[list[Any], np.ndarray]]:
        """{letter: (its columns' keys, their column indices)}, with no (letter, key) tuple per
        column: what reading a plan back loops over (4.4 million columns at 10,000 SKUs)."""
        if self._by_letter is None:
            keys: dict[str, list[Any]] = {}
            index: dict[str, list[np.ndarray]] = {}
            start = 0
            for letter, made in self._materialised():
                keys.setdefault(letter, []).extend(made)
                index.setdefault(letter, []).append(np.arange(start, start + len(made)))
                start += len(made)
            self._by_letter = {
                letter: (keys[letter], np.concatenate(index[letter])) for letter in keys
            }
        return self._by_letter

    def of(self, letter: str) -> tuple[list[Any], np.ndarray]:
        """The keys and column indices of one letter (none when the build made no such column)."""
        return self.by_letter().get(letter, ([], np.zeros(0, dtype=np.int64)))

    def letters(self) -> np.ndarray:
        """Each column's letter (one-character strings)."""
        parts = [np.full(len(made), letter) for letter, made in self._materialised()]
        return np.concatenate(parts) if parts else np.zeros(0, dtype="<U1")

    def _made(self) -> list[ColKey]:
        if self._keys is None:
            self._keys = [(letter, key) for letter, made in self._materialised() for key in made]
        return self._keys

    def __len__(self) -> int:
        return self._size

    def __getstate__(self) -> dict[str, object]:
        self._materialised()  # a pickle holds the keys, not the iterables they come from
        return self.__dict__

    @overload
    def __getitem__(self, index: int) -> ColKey: ...
    @overload
    def __getitem__(self, index: slice) -> list[ColKey]: ...
    def __getitem__(self, index: int | slice) -> ColKey | list[ColKey]:
        return self._made()[index]

    def __iter__(self) -> Iterator[ColKey]:
        return iter(self._made())


class _Builder:
    """Collects columns and COO entries; rows are added in blocks."""

    def __init__(self) -> None:
        self.cost: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.col_sku: list[np.ndarray] = []
        self.col_key = ColumnKeys()
        self.row_name: dict[str, int] = {}
        self.n_cols = 0
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.row_lower: list[np.ndarray] = []
        self.row_upper: list[np.ndarray] = []
        self.row_sku: list[np.ndarray] = []
        self.n_rows = 0
        self.early = np.zeros((0, 3), dtype=np.int64)

    def columns(
        self,
        letter: str,
        keys: Iterable[tuple[str | int, ...]],
        cost: ArrayLike,
        lower: ArrayLike,
        upper: ArrayLike,
        sku: ArrayLike,
    ) -> np.ndarray:
        cost = np.asarray(cost, dtype=float)
        n = len(cost)
        self.col_key.add(letter, n, keys)
        self.col_sku.append(np.broadcast_to(np.asarray(sku, dtype=np.int64), (n,)).copy())
        ids = np.arange(self.n_cols, self.n_cols + n)
        self.cost.append(np.asarray(cost, dtype=float))
        self.lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (n,)).copy())
        self.upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (n,)).copy())
        self.n_cols += n
        return ids

    def row_block(
        self, lower: ArrayLike, upper: ArrayLike, sku: ArrayLike, names: Iterable[str] = ()
    ) -> int:
        """Reserve len(lower) rows of SKU `sku` (-1: shared), named `names` when explain reads
        them; returns the first row id."""
        first = self.n_rows
        self.row_name.update((name, first + i) for i, name in enumerate(names))
        lower = np.asarray(lower, dtype=float)
        self.row_sku.append(np.broadcast_to(np.asarray(sku, dtype=np.int64), lower.shape).copy())
        self.row_lower.append(lower)
        self.row_upper.append(np.asarray(upper, dtype=float))
        self.n_rows += len(lower)
        return first

    def entries(self, rows: ArrayLike, cols: ArrayLike, vals: ArrayLike) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        self.rows.append(rows)
        self.cols.append(np.asarray(cols, dtype=np.int64))
        self.vals.append(np.broadcast_to(np.asarray(vals, dtype=float), rows.shape).copy())

    def finish(self, offset: float) -> LpArrays:
        matrix = sp.csc_matrix(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(self.n_rows, self.n_cols),
        )
        matrix.sum_duplicates()
        return LpArrays(
            cost=np.concatenate(self.cost),
            col_lower=np.concatenate(self.lower),
            col_upper=np.concatenate(self.upper),
            matrix=matrix,
            row_lower=np.concatenate(self.row_lower),
            row_upper=np.concatenate(self.row_upper),
            offset=offset,
            col_sku=np.concatenate(self.col_sku),
            row_sku=np.concatenate(self.row_sku),
            col_key=self.col_key,
            row_name=self.row_name,
            early=self.early,
        )


def build_arrays(inputs: ModelInputs) -> LpArrays:
    """The LP of `build_problem` (continuous suggestions) as arrays. See allocation.model."""
    policy = inputs.policy
    network = inputs.network
    skus = inputs.skus
    n_s = len(skus)
    warehouses = [w.id for w in network.warehouses]
    n_w = len(warehouses)
    s_of = {s: i for i, s in enumerate(skus)}
    w_of = {w: j for j, w in enumerate(warehouses)}
    volume = np.array(
        [inputs.sku_info[s].unit_volume if network.capacity_unit == "volume" else 1.0 for s in skus]
    )
    unit_cost = np.array([inputs.sku_info[s].unit_cost for s in skus])
    holding = policy.holding_rate_per_year * unit_cost / 365.0
    available = np.array([[inputs.available[(s, w)] for w in warehouses] for s in skus])
    sku_ids = np.arange(n_s)
    b = _Builder()

    # Flows x[s,a]; a cross-region flow exists only where the origin has overstock to send.
    flow_s, flow_a = [], []
    cross_ub = []
    for k, arc in enumerate(inputs.arcs):
        if arc.kind == "cross_region":
            cap = inputs.cross_region_cap
            caps = np.array([min(cap.get(row, 0.0) for row in arc.cross_rows(s)) for s in skus])
            keep = np.nonzero(caps > 0)[0]
            cross_ub.append(caps[keep])
        else:
            keep = np.arange(n_s)
            cross_ub.append(np.full(n_s, np.inf))
        flow_s.append(keep)
        flow_a.append(np.full(len(keep), k))
    fs = np.concatenate(flow_s) if flow_s else np.zeros(0, dtype=np.int64)
    fa = np.concatenate(flow_a) if flow_a else np.zeros(0, dtype=np.int64)
    arc_cost = np.array([a.cost_per_unit for a in inputs.arcs])
    arc_origin = np.array([w_of[a.origin] for a in inputs.arcs], dtype=np.int64)
    arc_dest = np.array([w_of[a.destination] for a in inputs.arcs], dtype=np.int64)
    flow_ids = b.columns(
        "x",
        ((skus[i], int(k)) for i, k in zip(fs, fa, strict=True)),
        arc_cost[fa] if len(fa) else np.zeros(0),
        0.0,
        np.concatenate(cross_ub) if cross_ub else np.zeros(0),
        fs,
    )

    # Ending stock e[s,w] (holding over the review period).
    ending_ids = b.columns(
        "e",
        ((s, w) for s in skus for w in warehouses),
        np.repeat(holding * policy.review_period_days, n_w),
        0.0,
        np.inf,
        np.repeat(sku_ids, n_w),
    )  # id = first + s * n_w + w

    # Suggestions y[s,d,w].
    needs = inputs.needs.reset_index(drop=True)
    dist_rows = needs[(needs["kind"] == "distributor") & (needs["cap"] > 0)]
    options = pd.DataFrame(
        [(d.distributor, d.warehouse, d.cost_per_unit) for d in inputs.deliveries],
        columns=["location", "warehouse", "delivery_cost"],
    )
    supply = (
        dist_rows[["sku", "location", "cap"]]
        .reset_index(names="need_row")
        .merge(options, on="location", how="inner")
    )
    sup_s = supply["sku"].map(s_of).to_numpy(np.int64)
    supply_ids = b.columns(
        "y",
        zip(supply["sku"], supply["location"], supply["warehouse"], strict=True),
        supply["delivery_cost"].to_numpy(float),
        0.0,
        supply["cap"].to_numpy(float),
        sup_s,
    )
    sup_w = supply["warehouse"].map(w_of).to_numpy(np.int64)

    # Balance rows: avail + in - out - y - e = 0  ->  in - out - y - e = -avail.
    first = b.row_block(-available.ravel(), -available.ravel(), np.repeat(sku_ids, n_w))
    if len(fa):
        b.entries(first + fs * n_w + arc_dest[fa], flow_ids, 1.0)
        b.entries(first + fs * n_w + arc_origin[fa], flow_ids, -1.0)
    b.entries(first + sup_s * n_w + sup_w, supply_ids, -1.0)
    b.entries(first + np.arange(n_s * n_w), ending_ids, -1.0)

    # Warehouse capacity (shared by all SKUs).
    caps = np.array([w.capacity for w in network.warehouses])
    already = (volume[:, None] * available).sum(axis=0)
    first = b.row_block(
        np.full(n_w, -np.inf), np.maximum(caps, already), -1, (f"capacity[{w}]" for w in warehouses)
    )
    b.entries(first + np.tile(np.arange(n_w), n_s), ending_ids, np.repeat(volume, n_w))

    # Lane capacity (shared by all SKUs).
    limited = [k for k, a in enumerate(inputs.arcs) if a.capacity is not None and np.any(fa == k)]
    if limited:
        first = b.row_block(
            np.full(len(limited), -np.inf),
            [float(inputs.arcs[k].capacity or 0.0) for k in limited],
            -1,
            (f"lane_capacity[{inputs.arcs[k].name}]" for k in limited),
        )
        row_of_arc = np.full(len(inputs.arcs), -1, dtype=np.int64)
        row_of_arc[limited] = first + np.arange(len(limited))
        mask = row_of_arc[fa] >= 0
        b.entries(row_of_arc[fa][mask], flow_ids[mask], volume[fs][mask])

    # Only overstock crosses regions, and only what the region it enters lacks: the rows of
    # `Arc.cross_rows` (each flow's own upper bound, the smaller cap, only tightens the columns).
    crossing = np.array([a.kind == "cross_region" for a in inputs.arcs], dtype=bool)[fa]
    if np.any(crossing):
        entries = [
            (row, int(s), int(column))
            for s, k, column in zip(fs[crossing], fa[crossing], flow_ids[crossing], strict=True)
            for row in inputs.arcs[k].cross_rows(skus[s])
        ]
        names = sorted({(s, row) for row, s, _ in entries})
        first = b.row_block(
            np.full(len(names), -np.inf),
            [inputs.cross_region_cap[row] for _, row in names],
            [s for s, _ in names],
            (row for _, row in names),
        )
        row_of = {row: first + i for i, (_, row) in enumerate(names)}
        b.entries([row_of[row] for row, _, _ in entries], [c for _, _, c in entries], 1.0)

    # One demand row per demand location with something to cover (u <= D, v <= SS).
    mean = needs["mean"].to_numpy(float)
    safety = needs["safety"].to_numpy(float)
    active = np.nonzero(mean + safety > 0)[0]
    n_act = len(active)
    act_s = needs["sku"].map(s_of).to_numpy(np.int64)[active]
    penalty = needs["penalty"].to_numpy(float)[active]
    sku_col, location_col = needs["sku"].to_numpy(), needs["location"].to_numpy()
    act_keys = list(zip(sku_col[active], location_col[active], strict=True))
    u_ids = b.columns("u", act_keys, penalty, 0.0, mean[active], act_s)
    v_ids = b.columns(
        "v", act_keys, penalty * policy.safety_penalty_share, 0.0, safety[active], act_s
    )
    is_dist = (needs["kind"] == "distributor").to_numpy()[active]
    position = np.where(is_dist, needs["position"].to_numpy(float)[active], 0.0)
    first = b.row_block(mean[active] + safety[active] - position, np.full(n_act, np.inf), act_s)
    act_row = np.full(len(needs), -1, dtype=np.int64)
    act_row[active] = np.arange(n_act)
    n_s_act = needs["sku"].to_numpy()[active]
    fw_act = np.nonzero(~is_dist)[0]
    fw_s = pd.Series(n_s_act[fw_act]).map(s_of).to_numpy(np.int64)
    fw_w = pd.Series(needs["location"].to_numpy()[active][fw_act]).map(w_of).to_numpy(np.int64)
    fw_cols = ending_ids[fw_s * n_w + fw_w]
    b.entries(first + fw_act, fw_cols, 1.0)
    b.entries(first + act_row[supply["need_row"].to_numpy(np.int64)], supply_ids, 1.0)
    b.entries(first + np.arange(n_act), u_ids, 1.0)
    b.entries(first + np.arange(n_act), v_ids, 1.0)

    # Order-up-to: sum_w y[s,d,w] <= cap, one row per (s,d) with suggestions.
    pairs, pair_index = np.unique(supply["need_row"].to_numpy(np.int64), return_inverse=True)
    pair_s = needs["sku"].map(s_of).to_numpy(np.int64)[pairs]
    first = b.row_block(
        np.full(len(pairs), -np.inf),
        needs["cap"].to_numpy(float)[pairs],
        pair_s,
        (f"order_up_to[{s},{d}]" for s, d in zip(sku_col[pairs], location_col[pairs], strict=True)),
    )
    b.entries(first + pair_index, supply_ids, 1.0)

    # Overstock at forward warehouses: e - o <= B * daily served.
    forward = [j for j, w in enumerate(network.warehouses) if w.kind == "forward"]
    has_inflow = np.zeros((n_s, n_w), dtype=bool)
    if len(fa):
        has_inflow[fs, arc_dest[fa]] = True
    daily = np.array([[inputs.node_daily.get((s, w), 0.0) for w in warehouses] for s in skus])
    bound = policy.overstock_days * daily
    o_s, o_w = [], []
    for j in forward:
        keep = np.nonzero((available[:, j] > bound[:, j]) | has_inflow[:, j])[0]
        o_s.append(keep)
        o_w.append(np.full(len(keep), j))
    os_ = np.concatenate(o_s) if o_s else np.zeros(0, dtype=np.int64)
    ow = np.concatenate(o_w) if o_w else np.zeros(0, dtype=np.int64)
    over_ids = b.columns(
        "o",
        ((skus[i], warehouses[j]) for i, j in zip(os_, ow, strict=True)),
        holding[os_] * policy.overstock_cost_days,
        0.0,
        np.inf,
        os_,
    )
    first = b.row_block(np.full(len(os_), -np.inf), bound[os_, ow], os_)
    b.entries(first + np.arange(len(os_)), ending_ids[0] + os_ * n_w + ow, 1.0)
    b.entries(first + np.arange(len(os_)), over_ids, -1.0)

    # Yellow credit: money of the suggestions <= guaranteed amount.
    yellow = [d for d in network.distributors if d.credit == "yellow"]
    sup_d = supply["location"].to_numpy()
    for d in yellow:
        mask = sup_d == d.id
        if mask.any():
            row = b.row_block([-np.inf], [d.guaranteed_amount], -1, [f"credit[{d.id}]"])
            b.entries(np.full(int(mask.sum()), row), supply_ids[mask], unit_cost[sup_s[mask]])

    # Early rows: the demand before a forward warehouse's lane lands (`early_needs`).
    early = priced_early(inputs.early)
    if len(early):
        _early_rows(b, inputs, early, s_of, w_of, fs, fa, flow_ids)

    # Timing: what leaves a node early comes from what is there early (`TimingRow`).
    if inputs.timing:
        _timing_rows(b, inputs, s_of, fs, fa, flow_ids, supply, supply_ids)

    # Fair share under shortage: served by tier + g >= target.
    if inputs.fair_targets:
        keys = list(inputs.fair_targets)
        key_row = {k: i for i, k in enumerate(keys)}
        targets = np.array([inputs.fair_targets[k] for k in keys])
        g_s = np.array([s_of[k[0]] for k in keys], dtype=np.int64)
        g_ids = b.columns("g", keys, policy.fair_share_penalty * unit_cost[g_s], 0.0, np.inf, g_s)
        tiers = needs["tier"].to_numpy()
        # Forward catchment rows served = need - u - v move their constant to the right side.
        constant = np.zeros(len(keys))
        fw_keys = [key_row.get((n_s_act[i], tiers[active[i]]), -1) for i in fw_act]
        fw_rows = np.array(fw_keys, dtype=np.int64)
        ok = fw_rows >= 0
        np.add.at(constant, fw_rows[ok], needs["need"].to_numpy(float)[active][fw_act][ok])
        first = b.row_block(
            targets - constant,
            np.full(len(keys), np.inf),
            g_s,
            (f"fair_share[{s},{t}]" for s, t in keys),
        )
        b.entries(first + fw_rows[ok], u_ids[fw_act][ok], -1.0)
        b.entries(first + fw_rows[ok], v_ids[fw_act][ok], -1.0)
        sup_keys = np.array(
            [
                key_row.get((s, t), -1)
                for s, t in zip(supply["sku"], tiers[supply["need_row"]], strict=True)
            ],
            dtype=np.int64,
        )
        ok = sup_keys >= 0
        b.entries(first + sup_keys[ok], supply_ids[ok], 1.0)
        b.entries(first + np.arange(len(keys)), g_ids, 1.0)
    return b.finish(offset=0.0)


def _early_rows(
    b: _Builder,
    inputs: ModelInputs,
    early: pd.DataFrame,
    s_of: dict[str, int],
    w_of: dict[str, int],
    fs: np.ndarray,
    fa: np.ndarray,
    flow_ids: np.ndarray,
) -> None:
    """`early[s,f]` with its columns b and c (c <= SS^e), as `allocation.model._add_early`
    writes them: what is at f early (stock, laterals in of a shorter lead time, less the
    transfers out of f) plus b (plus c) covers the early mean plus its safety stock."""
    n = len(early)
    e_s = early["sku"].map(s_of).to_numpy(np.int64)
    e_w = early["location"].map(w_of).to_numpy(np.int64)
    mean = early["mean"].to_numpy(float)
    safety = early["safety"].to_numpy(float)
    stock = early["stock"].to_numpy(float)
    penalty = early["penalty"].to_numpy(float)
    keys = list(zip(early["sku"], early["location"], strict=True))
    b_ids = b.columns("b", keys, penalty, 0.0, np.inf, e_s)
    with_safety = np.nonzero(safety > 0)[0]
    c_ids = b.columns(
        "c",
        [keys[i] for i in with_safety],
        inputs.policy.safety_penalty_share * penalty[with_safety],
        0.0,
        safety[with_safety],
        e_s[with_safety],
    )
    first = b.row_block(mean + safety - stock, np.full(n, np.inf), e_s)
    n_w = len(w_of)
    row_of = np.full(len(s_of) * n_w, -1, dtype=np.int64)  # early row of each (sku, warehouse)
    row_of[e_s * n_w + e_w] = np.arange(n)
    days = np.full(n_w, -1)
    for name, first_day in early_days(inputs.arcs).items():
        days[w_of[name]] = first_day
    lead = np.array([a.lead_time_days for a in inputs.arcs], dtype=np.int64)
    origin = np.array([w_of[a.origin] for a in inputs.arcs], dtype=np.int64)
    destination = np.array([w_of[a.destination] for a in inputs.arcs], dtype=np.int64)
    if len(fa):
        into = row_of[fs * n_w + destination[fa]]
        early_in = (into >= 0) & (lead[fa] < days[destination[fa]])
        b.entries(first + into[early_in], flow_ids[early_in], 1.0)
        out = row_of[fs * n_w + origin[fa]]
        b.entries(first + out[out >= 0], flow_ids[out >= 0], -1.0)
    b.entries(first + np.arange(n), b_ids, 1.0)
    b.entries(first + with_safety, c_ids, 1.0)
    b.early = np.full((n, 3), -1, dtype=np.int64)
    b.early[:, 0], b.early[:, 1] = b_ids, first + np.arange(n)
    b.early[with_safety, 2] = c_ids


def settle_early(arrays: LpArrays, x: np.ndarray) -> None:
    """Set the early shortage columns b and c of `x` (in place) to the least the rest of `x`
    allows: after a repair changed the flows or suggestions, the plan it writes keeps the early
    rows, as a re-solve would leave them."""
    early = arrays.early
    if not len(early):
        return
    with_safety = early[:, 2] >= 0
    b_cols, rows, c_cols = early[:, 0], early[:, 1], early[with_safety, 2]
    x[b_cols] = 0.0
    x[c_cols] = 0.0
    short = np.clip(arrays.row_lower[rows] - (arrays.matrix @ x)[rows], 0.0, None)
    # c takes the first SS^e units short (the cheaper; its upper bound), b the rest.
    x[c_cols] = np.minimum(short[with_safety], arrays.col_upper[c_cols])
    x[b_cols] = short
    x[b_cols[with_safety]] -= x[c_cols]


def _timing_rows(
    b: _Builder,
    inputs: ModelInputs,
    s_of: dict[str, int],
    fs: np.ndarray,
    fa: np.ndarray,
    flow_ids: np.ndarray,
    supply: pd.DataFrame,
    supply_ids: np.ndarray,
) -> None:
    """The `allocation.model.TimingRow`s as rows: leaving - arriving <= rhs, named as in PuLP.
    Only networks where some stock reaches a warehouse too late for a line leaving it have
    them (45,400 rows in the 10,000-SKU benchmark instance: a table of flow columns by SKU and
    arc, and suggestions looked up only for the deliveries the rows name)."""
    flow_col = np.full((len(s_of), len(inputs.arcs)), -1, dtype=np.int64)
    flow_col[fs, fa] = flow_ids
    named = {pair for row in inputs.timing for pair in row.deliveries}
    pairs = list(zip(supply["location"], supply["warehouse"], strict=True))
    wanted = np.array([pair in named for pair in pairs], dtype=bool)
    keys = zip(
        supply["sku"].to_numpy()[wanted],
        supply["location"].to_numpy()[wanted],
        supply["warehouse"].to_numpy()[wanted],
        strict=True,
    )
    supply_col = dict(zip(keys, supply_ids[wanted].tolist(), strict=True))
    made: list[tuple[str, int, float, list[int], list[int]]] = []
    for row in inputs.timing:
        sku = s_of[row.sku]
        out = flow_col[sku, list(row.arcs_out)] if row.arcs_out else np.zeros(0, dtype=np.int64)
        leaving = out[out >= 0].tolist()
        leaving += [
            supply_col[(row.sku, d, w)] for d, w in row.deliveries if (row.sku, d, w) in supply_col
        ]
        if leaving:
            into = flow_col[sku, list(row.arcs_in)] if row.arcs_in else np.zeros(0, dtype=np.int64)
            made.append((row.name, sku, row.rhs, leaving, into[into >= 0].tolist()))
    if not made:
        return
    first = b.row_block(
        np.full(len(made), -np.inf),
        [rhs for _, _, rhs, _, _ in made],
        [sku for _, sku, _, _, _ in made],
        (name for name, _, _, _, _ in made),
    )
    sizes = np.array([len(leaving) for _, _, _, leaving, _ in made])
    b.entries(
        np.repeat(first + np.arange(len(made)), sizes),
        np.concatenate([leaving for _, _, _, leaving, _ in made]),
        1.0,
    )
    sizes = np.array([len(arriving) for _, _, _, _, arriving in made])
    if sizes.sum():
        b.entries(
            np.repeat(first + np.arange(len(made)), sizes),
            np.concatenate([arriving for _, _, _, _, arriving in made]),
            -1.0,
        )


@dataclass(frozen=True)
class ArraySolution:
    """x of an `LpArrays` LP and its objective (money). status: "optimal", or "time_limited"
    when `time_limit` stopped the solve at a primal feasible x; gap: the relative gap to the LP
    optimum proven at the stop (0 when optimal, None when the solver proves none)."""

    objective: float
    x: np.ndarray
    seconds: float
    status: str = OPTIMAL
    gap: float | None = 0.0


def solve_arrays(
    arrays: LpArrays, method: Method = "ipm", time_limit: float | None = None, threads: int = 1
) -> ArraySolution:
    """Solve with HiGHS (highspy). Anything but a proven optimum, or with `time_limit` a primal
    feasible x when the limit stopped it (status "time_limited"), is a SolverError naming
    HiGHS's status."""
    import highspy

    highs = quiet_highs(threads)
    highs.setOptionValue("solver", method)
    if method == "ipm":
        highs.setOptionValue("run_crossover", "on")
    if time_limit is not None:
        highs.setOptionValue("time_limit", float(time_limit))
    lp = highspy.HighsLp()
    n_rows, n_cols = arrays.shape
    lp.num_col_ = n_cols
    lp.num_row_ = n_rows
    lp.col_cost_ = arrays.cost
    lp.col_lower_ = arrays.col_lower
    lp.col_upper_ = np.where(np.isinf(arrays.col_upper), highspy.kHighsInf, arrays.col_upper)
    lp.row_lower_ = np.where(np.isinf(arrays.row_lower), -highspy.kHighsInf, arrays.row_lower)
    lp.row_upper_ = np.where(np.isinf(arrays.row_upper), highspy.kHighsInf, arrays.row_upper)
    fit_tolerance(highs, arrays.col_lower, arrays.col_upper, arrays.row_lower, arrays.row_upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = arrays.matrix.indptr
    lp.a_matrix_.index_ = arrays.matrix.indices
    lp.a_matrix_.value_ = arrays.matrix.data
    highs.passModel(lp)
    started = time.perf_counter()
    highs.run()
    seconds = time.perf_counter() - started
    status = highs.getModelStatus()
    info = highs.getInfo()
    stopped_feasible = (
        status == highspy.HighsModelStatus.kTimeLimit
        and time_limit is not None
        and info.primal_solution_status == 2  # kSolutionStatusFeasible
    )
    if status != highspy.HighsModelStatus.kOptimal and not stopped_feasible:
        text = highs.modelStatusToString(status)
        raise SolverError(
            f"highs ({method}) did not prove an optimum: {text!r}",
            status=text,
            solver="highs",
            timed_out=status == highspy.HighsModelStatus.kTimeLimit,
        )
    return ArraySolution(
        objective=float(info.objective_function_value) + arrays.offset,
        x=np.asarray(highs.getSolution().col_value),
        seconds=seconds,
        status=TIME_LIMITED if stopped_feasible else OPTIMAL,
        gap=None if stopped_feasible else 0.0,
    )
