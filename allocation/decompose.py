"""The allocation LP solved by SKU: Dantzig-Wolfe decomposition over the shared rows.

SKUs are independent except through a few rows shared by all of them (warehouse capacity, lane
capacity, yellow credit: `LpArrays.row_sku == -1`, about a hundred rows against millions of
SKU rows). One HiGHS solve of the whole LP pays for that size in every simplex iteration (63 s
at 1,000 SKUs x 50 locations, unfinished after 38 minutes at 10,000), so instead:

- pricing: the SKU blocks with the shared rows priced at duals y, min (c - L^T y) x over each
  block. SKUs are solved in batches (`batch_skus` per HiGHS model: one call per SKU costs more in
  overhead than the solve); each batch keeps its HiGHS model so the next round, which only
  changes costs, restarts from the last optimal basis;
- master: one HiGHS LP over the shared rows and one convexity row per SKU, whose columns are the
  SKU plans priced so far; its duals are the next prices. Artificial columns at cost `big_m` on
  the shared rows keep it feasible from the first round (raised if the optimum still uses them);
- bounds: each round's pricing gives the Lagrangian lower bound sum_s min (c - L^T y) x_s + y b,
  valid for any y of the right sign; the master's optimum, a convex combination of each SKU's
  own feasible plans that meets the shared rows, is feasible for every row of the LP and its
  objective is an upper bound. The solve stops when (upper - lower) / |upper| <= `gap`, so the
  gap to the true optimum is proven, not estimated; the primal is checked against every row and
  column bound of the arrays before it is returned.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from allocation.errors import SolverError
from allocation.scale import LpArrays

_log = logging.getLogger(__name__)

SMOOTHING = 0.5  # weight of the best-bound prices in the prices of the next round

__all__ = ["Decomposed", "decompose", "max_violation", "solve_decomposed"]


@dataclass
class Decomposed:
    """A decomposed solve: primal x (feasible for the whole LP), its objective (an upper bound),
    the best Lagrangian lower bound and the proven relative gap between them."""

    objective: float
    lower_bound: float
    gap: float
    x: np.ndarray
    seconds: float
    rounds: int
    columns: int  # SKU plans in the master
    max_violation: float  # worst relative row / column bound violation of x


def _highs(presolve: bool = True) -> object:
    import highspy

    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    highs.setOptionValue("solver", "simplex")
    if not presolve:
        highs.setOptionValue("presolve", "off")
    return highs


def _finite(values: np.ndarray, sign: float) -> np.ndarray:
    import highspy

    return np.where(np.isinf(values), sign * highspy.kHighsInf, values)


def _check_optimal(highs: object, what: str) -> None:
    import highspy

    status = highs.getModelStatus()  # type: ignore[attr-defined]
    if status != highspy.HighsModelStatus.kOptimal:
        text = highs.modelStatusToString(status)  # type: ignore[attr-defined]
        raise SolverError(
            f"highs: {what} did not prove an optimum: {text!r}", status=text, solver="highs"
        )


class _Blocks:
    """The SKU rows and columns in SKU order, cut into batches of whole SKUs."""

    def __init__(self, arrays: LpArrays, batch_skus: int) -> None:
        n_skus = int(arrays.col_sku.max()) + 1 if len(arrays.col_sku) else 0
        self.col_order = np.argsort(arrays.col_sku, kind="stable")
        own_rows = np.nonzero(arrays.row_sku >= 0)[0]
        self.row_order = own_rows[np.argsort(arrays.row_sku[own_rows], kind="stable")]
        self.link_rows = np.nonzero(arrays.row_sku < 0)[0]
        # First column / row of every SKU in that order (and one past the last).
        self.col_start = np.searchsorted(arrays.col_sku[self.col_order], np.arange(n_skus + 1))
        self.row_start = np.searchsorted(arrays.row_sku[self.row_order], np.arange(n_skus + 1))
        matrix = arrays.matrix.tocsr()
        self.own = matrix[self.row_order][:, self.col_order].tocsr()  # block diagonal
        self.link = matrix[self.link_rows][:, self.col_order].tocsc()  # shared rows x columns
        self.cost = arrays.cost[self.col_order]
        self.col_lower = arrays.col_lower[self.col_order]
        self.col_upper = arrays.col_upper[self.col_order]
        self.row_lower = arrays.row_lower[self.row_order]
        self.row_upper = arrays.row_upper[self.row_order]
        self.n_skus = n_skus
        self.batches = [
            (lo, min(lo + batch_skus, n_skus)) for lo in range(0, n_skus, max(1, batch_skus))
        ]


class _Pricer:
    """One HiGHS model per batch of SKUs, kept between rounds (warm start on new costs)."""

    def __init__(self, blocks: _Blocks) -> None:
        self.blocks = blocks
        self.models: list[object | None] = [None] * len(blocks.batches)

    def _model(self, batch: int, cost: np.ndarray) -> object:
        import highspy

        b = self.blocks
        lo, hi = b.batches[batch]
        c0, c1 = b.col_start[lo], b.col_start[hi]
        r0, r1 = b.row_start[lo], b.row_start[hi]
        block = b.own[r0:r1][:, c0:c1].tocsc()
        lp = highspy.HighsLp()
        lp.num_col_ = int(c1 - c0)
        lp.num_row_ = int(r1 - r0)
        lp.col_cost_ = cost
        lp.col_lower_ = b.col_lower[c0:c1]
        lp.col_upper_ = _finite(b.col_upper[c0:c1], 1.0)
        lp.row_lower_ = _finite(b.row_lower[r0:r1], -1.0)
        lp.row_upper_ = _finite(b.row_upper[r0:r1], 1.0)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = block.indptr
        lp.a_matrix_.index_ = block.indices
        lp.a_matrix_.value_ = block.data
        highs = _highs()
        highs.passModel(lp)  # type: ignore[attr-defined]
        return highs

    def solve(self, priced: np.ndarray) -> np.ndarray:
        """min priced x over every SKU block; x in SKU order."""
        b = self.blocks
        x = np.empty(len(priced))
        for batch, (lo, hi) in enumerate(b.batches):
            c0, c1 = b.col_start[lo], b.col_start[hi]
            cost = priced[c0:c1]
            highs = self.models[batch]
            if highs is None:
                highs = self.models[batch] = self._model(batch, cost)
            else:
                n = int(c1 - c0)
                highs.changeColsCost(n, np.arange(n, dtype=np.int32), cost)  # type: ignore[attr-defined]
            highs.run()  # type: ignore[attr-defined]
            _check_optimal(highs, f"SKU batch {lo}..{hi - 1}")
            x[c0:c1] = highs.getSolution().col_value  # type: ignore[attr-defined]
        return x


class _Master:
    """Shared rows + one convexity row per SKU; columns are SKU plans (and artificials)."""

    def __init__(self, blocks: _Blocks, arrays: LpArrays, big_m: float) -> None:
        self.highs = _highs(presolve=False)
        # New columns keep the last basis primal feasible: the primal simplex restarts there.
        self.highs.setOptionValue("simplex_strategy", 4)  # type: ignore[attr-defined]
        n_link = len(blocks.link_rows)
        self.n_link = n_link
        self.n_skus = blocks.n_skus
        lower = np.concatenate([arrays.row_lower[blocks.link_rows], np.ones(blocks.n_skus)])
        upper = np.concatenate([arrays.row_upper[blocks.link_rows], np.ones(blocks.n_skus)])
        self.highs.addRows(  # type: ignore[attr-defined]
            len(lower), _finite(lower, -1.0), _finite(upper, 1.0), 0, [], [], []
        )
        # Artificials: let each shared row run over (under) its bound at cost big_m per unit.
        rows, signs = [], []
        for i, row in enumerate(blocks.link_rows):
            if np.isfinite(arrays.row_upper[row]):
                rows.append(i)
                signs.append(-1.0)
            if np.isfinite(arrays.row_lower[row]):
                rows.append(i)
                signs.append(1.0)
        self.artificial = np.arange(len(rows))
        self.big_m = big_m
        self._add(
            np.full(len(rows), big_m),
            sp.csc_matrix(
                (signs, (rows, np.arange(len(rows)))), shape=(n_link + blocks.n_skus, len(rows))
            ),
        )
        self.sku: list[np.ndarray] = []  # SKU of each plan column, per round
        self.plans: list[np.ndarray] = []  # x of that SKU's columns, per round (concatenated)
        self.n_cols = len(rows)

    def _add(self, cost: np.ndarray, columns: sp.csc_matrix) -> None:
        n = len(cost)
        self.highs.addCols(  # type: ignore[attr-defined]
            n,
            cost,
            np.zeros(n),
            _finite(np.full(n, np.inf), 1.0),
            columns.nnz,
            columns.indptr[:-1].astype(np.int32),
            columns.indices.astype(np.int32),
            columns.data,
        )

    def add_plans(
        self, skus: np.ndarray, cost: np.ndarray, usage: sp.csc_matrix, plans: np.ndarray
    ) -> None:
        """Columns for SKU plans: cost c x_s, shared-row usage L x_s (n_link x k), the x's."""
        convexity = sp.csc_matrix(
            (np.ones(len(skus)), (skus, np.arange(len(skus)))), shape=(self.n_skus, len(skus))
        )
        columns = sp.vstack([usage, convexity], format="csc")
        self._add(cost, columns)
        self.sku.append(skus)
        self.plans.append(plans)
        self.n_cols += len(skus)

    def solve(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """(objective, weights of all columns, shared-row duals, convexity duals)."""
        self.highs.run()  # type: ignore[attr-defined]
        _check_optimal(self.highs, "the master LP")
        solution = self.highs.getSolution()  # type: ignore[attr-defined]
        duals = np.asarray(solution.row_dual)
        objective = float(self.highs.getInfo().objective_function_value)  # type: ignore[attr-defined]
        return objective, np.asarray(solution.col_value), duals[: self.n_link], duals[self.n_link :]

    def raise_big_m(self, factor: float) -> None:
        self.big_m *= factor
        n = len(self.artificial)
        self.highs.changeColsCost(  # type: ignore[attr-defined]
            n, self.artificial.astype(np.int32), np.full(n, self.big_m)
        )


def max_violation(arrays: LpArrays, x: np.ndarray) -> float:
    """Worst violation of a row or column bound by x, relative to max(1, |bound|)."""
    activity = arrays.matrix @ x

    def worst(value: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
        with np.errstate(invalid="ignore"):
            below = np.where(np.isfinite(lower), (lower - value) / np.maximum(1, np.abs(lower)), 0)
            above = np.where(np.isfinite(upper), (value - upper) / np.maximum(1, np.abs(upper)), 0)
        return float(max(0.0, below.max(initial=0.0), above.max(initial=0.0)))

    return max(
        worst(activity, arrays.row_lower, arrays.row_upper),
        worst(x, arrays.col_lower, arrays.col_upper),
    )


def decompose(
    arrays: LpArrays,
    *,
    gap: float = 1e-4,
    batch_skus: int = 50,
    max_rounds: int = 200,
    time_limit: float | None = None,
    tolerance: float = 1e-6,
    sample_skus: int = 300,
) -> Decomposed:
    """Solve the LP of `arrays` by Dantzig-Wolfe over SKUs to a proven relative `gap`.

    Raises SolverError when a subproblem or the master fails, when the gap is not reached in
    `max_rounds` rounds or `time_limit` seconds (saying the gap reached), or when the primal
    violates a bound of the LP by more than `tolerance` (relative)."""
    started = time.perf_counter()
    blocks = _Blocks(arrays, batch_skus)
    link = blocks.link
    link_lower = arrays.row_lower[blocks.link_rows]
    link_upper = arrays.row_upper[blocks.link_rows]
    pricer = _Pricer(blocks)
    master = _Master(blocks, arrays, big_m=_big_m(arrays))
    # Prices: the master's duals, smoothed towards the prices of the best lower bound so far
    # (Wentges): raw master duals swing from round to round and waste pricing passes.
    master_duals = np.zeros(len(blocks.link_rows))
    center = master_duals.copy()
    convexity = np.full(blocks.n_skus, np.inf)  # no plan yet: every SKU's first plan enters
    best_lower = -np.inf
    upper = np.inf
    rounds = 0
    smoothing = SMOOTHING
    timer = {"pricing": 0.0, "master": 0.0, "sample": 0.0}
    start_from: np.ndarray | None = None
    while True:
        rounds += 1
        duals = smoothing * center + (1 - smoothing) * master_duals
        if start_from is not None:
            duals, start_from = start_from, None
        priced = blocks.cost - link.T @ duals
        tick = time.perf_counter()
        x = pricer.solve(priced)
        timer["pricing"] += time.perf_counter() - tick
        lower = _lagrangian(priced, x, duals, blocks.col_start, link_lower, link_upper)
        if lower > best_lower:
            best_lower, center = lower, duals
        # Reduced cost of each SKU's new plan against the master's own duals.
        at_master = blocks.cost - link.T @ master_duals
        reduced = _per_sku(at_master * x, blocks.col_start) - convexity
        scale = np.maximum(1.0, np.abs(np.where(np.isfinite(convexity), convexity, 0.0)))
        entering = np.nonzero(reduced < -tolerance * scale)[0]
        if not len(entering) and smoothing > 0 and np.any(duals != master_duals):
            smoothing = 0.0  # smoothed prices found nothing: price at the master's duals
            continue
        smoothing = SMOOTHING
        if len(entering):
            cols = _ranges(blocks.col_start[entering], blocks.col_start[entering + 1])
            x_in = x[cols]
            local = np.repeat(np.arange(len(entering)), np.diff(blocks.col_start)[entering])
            cost = np.bincount(local, weights=blocks.cost[cols] * x_in, minlength=len(entering))
            usage = link[:, cols] @ sp.csc_matrix(
                (x_in, (np.arange(len(cols)), local)), shape=(len(cols), len(entering))
            )
            master.add_plans(entering, cost, sp.csc_matrix(usage), x_in)
            if rounds == 1 and sample_skus and blocks.n_skus > sample_skus:
                # Unpriced plans overrun shared rows: start from the prices of a sample.
                tick = time.perf_counter()
                total = np.asarray(usage.sum(axis=1)).ravel()
                if np.any(total > link_upper + tolerance) or np.any(total < link_lower - tolerance):
                    start_from = _sample_prices(blocks, arrays, sp.csr_matrix(usage), sample_skus)
                timer["sample"] += time.perf_counter() - tick
        tick = time.perf_counter()
        objective, weights, master_duals, convexity = master.solve()
        timer["master"] += time.perf_counter() - tick
        artificial_use = float(weights[master.artificial].sum()) if len(master.artificial) else 0.0
        if artificial_use <= tolerance:
            upper = objective
        relative = (upper - best_lower) / max(1.0, abs(upper))
        _log.debug(
            "round %d: lower %.8g upper %.8g gap %.2e, %d plans in, artificials %.3g, %.1f s "
            "(pricing %.1f, master %.1f, sample %.1f)",
            rounds,
            best_lower,
            upper,
            relative,
            len(entering),
            artificial_use,
            time.perf_counter() - started,
            timer["pricing"],
            timer["master"],
            timer["sample"],
        )
        if relative <= gap or (not len(entering) and artificial_use <= tolerance):
            break
        if not len(entering):  # converged with artificials in use: price them higher
            master.raise_big_m(100.0)
            continue
        elapsed = time.perf_counter() - started
        if rounds >= max_rounds or (time_limit is not None and elapsed > time_limit):
            raise SolverError(
                f"decomposition stopped after {rounds} rounds, {elapsed:.1f} s with a proven gap "
                f"of {relative:.2e} (target {gap:.0e})",
                status=f"gap {relative:.2e}",
                solver="highs",
            )
    x_full = _combine(master, weights, blocks, arrays)
    violation = max_violation(arrays, x_full)
    if violation > tolerance:
        raise SolverError(
            f"decomposition primal violates a bound by {violation:.2e} (relative)",
            status="infeasible primal",
            solver="highs",
        )
    primal = float(arrays.cost @ x_full) + arrays.offset
    lower_total = best_lower + arrays.offset
    return Decomposed(
        objective=primal,
        lower_bound=lower_total,
        gap=(primal - lower_total) / max(1.0, abs(primal)),
        x=x_full,
        seconds=time.perf_counter() - started,
        rounds=rounds,
        columns=master.n_cols - len(master.artificial),
        max_violation=violation,
    )


def _big_m(arrays: LpArrays) -> float:
    """Price per unit of running over a shared row, above any real cost of keeping to it."""
    link = arrays.matrix[np.nonzero(arrays.row_sku < 0)[0]]
    coefficients = np.abs(link.data[link.data != 0])
    costs = np.abs(arrays.cost)
    if not len(coefficients) or not len(costs):
        return 1.0
    return 10.0 * max(1.0, float(costs.max())) / float(coefficients.min())


def _sample_prices(
    blocks: _Blocks, arrays: LpArrays, usage: sp.csr_matrix, sample_skus: int
) -> np.ndarray:
    """Prices of the shared rows from one LP over an evenly spaced sample of SKUs, each shared
    row's bounds cut to the sample's share of what all unpriced plans put on it.

    The shared rows see many SKUs, so a sample of a few hundred, held to its share of each row,
    prices them close to the whole LP's duals; the decomposition then starts from there instead
    of from zero (and proves its gap whatever these prices are)."""
    import highspy

    skus = np.linspace(0, blocks.n_skus - 1, sample_skus).round().astype(np.int64)
    skus = np.unique(skus)
    cols = _ranges(blocks.col_start[skus], blocks.col_start[skus + 1])
    rows = _ranges(blocks.row_start[skus], blocks.row_start[skus + 1])
    total = np.asarray(usage.sum(axis=1)).ravel()
    part = np.asarray(usage[:, skus].sum(axis=1)).ravel()
    share = np.where(total > 0, part / np.where(total > 0, total, 1.0), len(skus) / blocks.n_skus)
    link_lower = arrays.row_lower[blocks.link_rows] * share
    link_upper = arrays.row_upper[blocks.link_rows] * share
    n_link = len(blocks.link_rows)
    # Elastic shared rows (cost big M), so the sample LP is never infeasible.
    elastic = sp.vstack(
        [sp.csc_matrix((len(rows), 2 * n_link)), sp.hstack([-sp.eye(n_link), sp.eye(n_link)])]
    )
    matrix = sp.hstack(
        [sp.vstack([blocks.own[rows][:, cols], blocks.link[:, cols]]), elastic], format="csc"
    )
    big_m = _big_m(arrays)
    lp = highspy.HighsLp()
    lp.num_col_ = matrix.shape[1]
    lp.num_row_ = matrix.shape[0]
    lp.col_cost_ = np.concatenate([blocks.cost[cols], np.full(2 * n_link, big_m)])
    lp.col_lower_ = np.concatenate([blocks.col_lower[cols], np.zeros(2 * n_link)])
    lp.col_upper_ = _finite(
        np.concatenate([blocks.col_upper[cols], np.full(2 * n_link, np.inf)]), 1.0
    )
    lp.row_lower_ = _finite(np.concatenate([blocks.row_lower[rows], link_lower]), -1.0)
    lp.row_upper_ = _finite(np.concatenate([blocks.row_upper[rows], link_upper]), 1.0)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    highs = _highs()
    highs.passModel(lp)  # type: ignore[attr-defined]
    highs.run()  # type: ignore[attr-defined]
    _check_optimal(highs, "the sample LP")
    duals = np.asarray(highs.getSolution().row_dual)[len(rows) :]  # type: ignore[attr-defined]
    # Keep the sign a bound allows (a row without an upper bound takes no negative price).
    duals = np.where(np.isfinite(arrays.row_upper[blocks.link_rows]), duals, np.maximum(duals, 0))
    return np.where(np.isfinite(arrays.row_lower[blocks.link_rows]), duals, np.minimum(duals, 0))


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of arange(start, end) for each pair, without a Python loop."""
    sizes = ends - starts
    return np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))


def _per_sku(values: np.ndarray, col_start: np.ndarray) -> np.ndarray:
    """Sum of values over each SKU's columns (SKU order; a SKU may have no columns)."""
    sums = np.concatenate([[0.0], np.cumsum(values)])
    return sums[col_start[1:]] - sums[col_start[:-1]]


def _lagrangian(
    priced: np.ndarray,
    x: np.ndarray,
    duals: np.ndarray,
    col_start: np.ndarray,
    link_lower: np.ndarray,
    link_upper: np.ndarray,
) -> float:
    """Lower bound sum_s min (c - L^T y) x_s + y b from x optimal at prices y: a shared row
    priced below zero counts at its upper bound, above zero at its lower bound."""
    rhs = np.where(duals < 0, link_upper, np.where(duals > 0, link_lower, 0.0))
    if not np.isfinite(rhs).all():  # a dual of the wrong sign (rounding): no valid bound
        return -np.inf
    return float(priced @ x + duals @ rhs)


def _combine(master: _Master, weights: np.ndarray, blocks: _Blocks, arrays: LpArrays) -> np.ndarray:
    """x = sum over plan columns of weight * plan, back in the arrays' column order."""
    x_sorted = np.zeros(len(blocks.cost))
    column = len(master.artificial)
    for skus, plans in zip(master.sku, master.plans, strict=True):
        sizes = blocks.col_start[skus + 1] - blocks.col_start[skus]
        w = weights[column : column + len(skus)]
        column += len(skus)
        cols = _ranges(blocks.col_start[skus], blocks.col_start[skus + 1])
        np.add.at(x_sorted, cols, np.repeat(w, sizes) * plans)
    x = np.empty_like(x_sorted)
    x[blocks.col_order] = x_sorted
    return x


def solve_decomposed(
    arrays: LpArrays, *, gap: float = 1e-4, time_limit: float | None = None, batch_skus: int = 50
) -> tuple[float, np.ndarray, float]:
    """`solve_arrays`'s shape, by decomposition: (objective, x, seconds), x within `gap` of the
    optimum (proven) and feasible for every row and bound."""
    result = decompose(arrays, gap=gap, time_limit=time_limit, batch_skus=batch_skus)
    return result.objective, result.x, result.seconds
