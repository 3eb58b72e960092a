"""The allocation LP solved by SKU: Dantzig-Wolfe decomposition over the shared rows.

SKUs are independent except through a few rows shared by all of them (warehouse capacity, lane
capacity, yellow credit: `LpArrays.row_sku == -1`, about a hundred rows against millions of
SKU rows). One HiGHS solve of the whole LP pays for that size in every simplex iteration, so:

- pricing: the SKU blocks with the shared rows priced at duals y, min (c - L^T y) x over each
  block. SKUs are solved in batches (`batch_skus` per HiGHS model, no presolve: one call per SKU
  costs more in overhead than the solve); each batch keeps its HiGHS model so the next round,
  which only changes costs, restarts from the last optimal basis. With `workers` > 1 the batches
  are split over processes forked once (each keeps its models; only costs and plans cross);
- first prices: the blocks at zero prices, then LPs over an evenly spaced sample of
  `sample_skus` SKUs (`sample_size`), dealt into LPs of at most SAMPLE_LP_MAX SKUs solved side
  by side in the workers, each with every shared row cut to its SKUs' share of what those
  unpriced plans put on it; the mean of their duals prices the first real round, whose plans
  become the references;
- master: one HiGHS LP over the shared rows and one convexity row per SKU, its columns the plans
  priced so far as differences from the SKU's reference plan (sparse: a plan differs from its
  reference in a few places), warm-started by the primal simplex as plans enter, plans it prices
  out dropped after each round; its duals, smoothed towards those of the best bound so far, are
  the next prices. Artificial columns at cost `big_m` on the shared rows keep it feasible from
  the first round (raised if the optimum still uses them); while it uses them, its duals are
  capped at the best bound's largest price, the cap doubled each such round: a dual of big M
  would price the row thousands of times too high and the next plans would empty it at any cost;
- bounds: each round's pricing gives the Lagrangian lower bound sum_s min (c - L^T y) x_s + y b,
  valid for any y of the right sign; the master's optimum, a convex combination of each SKU's
  own feasible plans that meets the shared rows, is feasible for every row of the LP and its
  objective is an upper bound. The solve stops when (upper - lower) / |upper| <= `gap`, so the
  gap to the true optimum is proven, not estimated; the primal is checked against every row and
  column bound of the arrays before it is returned;
- re-solves (`Decomposition`, kept open): new column bounds reach the pricing models in place
  (their bases kept), the rounds restart from the last best-bound prices, and a plan feasible
  for the new bounds may serve as every SKU's reference (the planner's pack repair gives one).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import scipy.sparse as sp

from allocation.errors import SolverError
from allocation.highs import fit_tolerance, quiet_highs
from allocation.scale import ArraySolution, LpArrays, solve_arrays
from allocation.solve import OPTIMAL, TIME_LIMITED

_log = logging.getLogger(__name__)
Progress = Callable[[str], None]

SPREAD = (0.85, 1.2)  # price factors of the extra plans around the sampled prices
BATCH_SKUS = 25  # SKUs per pricing model: 50 cold-solve slower, 10 pay more per-call overhead
DIRECT_SKUS = 300  # up to this many SKUs solve_decomposed makes one HiGHS call
# Weight of the best-bound prices in the prices of the next round: SMOOTHING while the proven
# gap is above TAIL_GAP (or none is proven yet), TAIL_SMOOTHING once it is below.
SMOOTHING, TAIL_SMOOTHING, TAIL_GAP = 0.85, 0.5, 1e-3
OVERRUN_CAP = 1.0  # prices while the master overruns a shared row: at most this x the best's
SAMPLE_SHARE, SAMPLE_MIN, SAMPLE_MAX = 0.15, 100, 1200  # SKUs of the sample LPs (`sample_size`)
SAMPLE_LP_MAX = 600  # SKUs of one sample LP: a larger sample is dealt into several LPs

__all__ = ["Decomposed", "Decomposition", "decompose", "max_violation", "solve_decomposed"]


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
    timing: dict[str, float]  # wall seconds in pricing, master and sample LP
    status: str = OPTIMAL  # "time_limited": time_limit stopped it before the target gap
    prices: np.ndarray | None = None  # shared-row prices of the best lower bound (a warm start)


def _highs() -> object:
    """HiGHS by the simplex without presolve: every LP here is warm-started from its last
    basis or made of small SKU blocks, which presolve barely shrinks."""
    highs = quiet_highs()
    highs.setOptionValue("solver", "simplex")
    highs.setOptionValue("presolve", "off")
    return highs


def _blocks_highs() -> object:
    """HiGHS for LPs of whole SKU blocks (pricing batches, sample LPs), with Dantzig pricing in
    the dual simplex: on these small flow LPs it takes less time than the default steepest edge
    for the cold pass and the sample LPs, the same for warm passes, in the same rounds
    (BENCHMARKS.md, Allocation)."""
    highs = _highs()
    highs.setOptionValue("simplex_dual_edge_weight_strategy", 0)  # type: ignore[attr-defined]
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
        # Columns first (a gather of whole columns in CSC), then rows of that in CSR: faster at
        # 10,000 SKUs than indexing rows and then columns of one CSR matrix (BENCHMARKS.md).
        ordered = arrays.matrix.tocsc()[:, self.col_order].tocsr()
        self.own = ordered[self.row_order]  # block diagonal
        self.link = ordered[self.link_rows].tocsc()  # shared rows x columns
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
    """One HiGHS model per batch of SKUs in `batches`, kept between rounds (warm start on new
    costs). Works on the columns of those batches only: [first_col, end_col) in SKU order."""

    def __init__(self, blocks: _Blocks, batches: range) -> None:
        self.blocks = blocks
        self.batches = batches
        self.first_col = int(blocks.col_start[blocks.batches[batches.start][0]])
        self.end_col = int(blocks.col_start[blocks.batches[batches.stop - 1][1]])
        self.models: dict[int, object] = {}

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
        highs = _blocks_highs()
        bounds = (b.col_lower[c0:c1], b.col_upper[c0:c1], b.row_lower[r0:r1], b.row_upper[r0:r1])
        fit_tolerance(highs, *bounds)  # type: ignore[arg-type]
        highs.passModel(lp)  # type: ignore[attr-defined]
        return highs

    def rebound(self, lower: np.ndarray, upper: np.ndarray) -> None:
        """New column bounds for these batches' columns (lower, upper: their columns); each
        model keeps its basis, so the next solve restarts from there."""
        b = self.blocks
        b.col_lower[self.first_col : self.end_col] = lower
        b.col_upper[self.first_col : self.end_col] = upper
        for batch, highs in self.models.items():
            lo, hi = b.batches[batch]
            c0, c1 = b.col_start[lo] - self.first_col, b.col_start[hi] - self.first_col
            n = int(c1 - c0)
            highs.changeColsBounds(  # type: ignore[attr-defined]
                n, np.arange(n, dtype=np.int32), lower[c0:c1], _finite(upper[c0:c1], 1.0)
            )

    def solve(self, priced: np.ndarray) -> np.ndarray:
        """min priced x over the SKU blocks of these batches (priced, x: their columns)."""
        b = self.blocks
        x = np.empty(len(priced))
        for batch in self.batches:
            lo, hi = b.batches[batch]
            c0, c1 = b.col_start[lo] - self.first_col, b.col_start[hi] - self.first_col
            cost = priced[c0:c1]
            highs = self.models.get(batch)
            if highs is None:
                highs = self.models[batch] = self._model(batch, cost)
            else:
                n = int(c1 - c0)
                highs.changeColsCost(n, np.arange(n, dtype=np.int32), cost)  # type: ignore[attr-defined]
            highs.run()  # type: ignore[attr-defined]
            _check_optimal(highs, f"SKU batch {lo}..{hi - 1}")
            x[c0:c1] = highs.getSolution().col_value  # type: ignore[attr-defined]
        return x


def _serve(blocks: _Blocks, batches: range, conn: Connection) -> None:
    """A pricing worker: keeps its batches' models, prices whatever costs arrive, solves sample
    LPs (a list of `_SampleLp`) and takes new column bounds (a tuple (lower, upper), no answer)."""
    pricer = _Pricer(blocks, batches)
    while (message := conn.recv()) is not None:
        if isinstance(message, tuple):
            pricer.rebound(*message)
            continue
        try:
            if isinstance(message, list):
                conn.send(("ok", [_sample_duals(blocks, sample) for sample in message]))
            else:
                conn.send(("ok", pricer.solve(message)))
        except SolverError as exc:
            conn.send(("error", str(exc), exc.status))


def _answer(conn: Connection) -> Any:
    """A worker's answer, or its SolverError raised here."""
    answer = conn.recv()
    if answer[0] == "error":
        raise SolverError(answer[1], status=answer[2], solver="highs")
    return answer[1]


class _Pricing:
    """Pricing of all batches, split over `workers` processes forked from this one (each keeps
    its own HiGHS models, so only costs and plans cross the pipes); 1 worker: in process."""

    def __init__(self, blocks: _Blocks, workers: int) -> None:
        self.blocks = blocks
        groups = [g for g in np.array_split(np.arange(len(blocks.batches)), workers) if len(g)]
        spans = [range(int(g[0]), int(g[-1]) + 1) for g in groups]
        self.local = _Pricer(blocks, spans[0]) if len(spans) == 1 else None
        self.workers: list[tuple[mp.process.BaseProcess, Connection, int, int]] = []
        if self.local is None:
            context = mp.get_context("fork")  # the blocks are shared, not pickled
            for span in spans:
                mine, theirs = context.Pipe()
                process = context.Process(target=_serve, args=(blocks, span, theirs), daemon=True)
                process.start()
                theirs.close()
                lo, hi = blocks.batches[span.start][0], blocks.batches[span.stop - 1][1]
                first, end = int(blocks.col_start[lo]), int(blocks.col_start[hi])
                self.workers.append((process, mine, first, end))

    def solve(self, priced: np.ndarray) -> np.ndarray:
        if self.local is not None:
            return self.local.solve(priced)
        for _, conn, first, end in self.workers:
            conn.send(priced[first:end])
        x = np.empty(len(priced))
        for _, conn, first, end in self.workers:
            x[first:end] = _answer(conn)
        return x

    def sample(self, samples: list[_SampleLp]) -> list[np.ndarray]:
        """The shared-row duals of each sample LP, solved side by side in the workers."""
        if self.local is not None:
            return [_sample_duals(self.blocks, sample) for sample in samples]
        n = len(self.workers)
        for i, (_, conn, _, _) in enumerate(self.workers):
            conn.send(samples[i::n])
        duals: list[np.ndarray] = [np.empty(0)] * len(samples)
        for i, (_, conn, _, _) in enumerate(self.workers):
            duals[i::n] = _answer(conn)
        return duals

    def rebound(self, lower: np.ndarray, upper: np.ndarray) -> None:
        """New column bounds (SKU order) for every pricing model."""
        if self.local is not None:
            self.local.rebound(lower, upper)
        for _, conn, first, end in self.workers:
            conn.send((lower[first:end], upper[first:end]))

    def close(self) -> None:
        for process, conn, _, _ in self.workers:
            conn.send(None)
            conn.close()
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


class _Master:
    """The restricted master LP, relative to one reference plan per SKU.

    A SKU's plans enter as differences from its reference plan x0_s, with weights w >= 0,
    sum_k w_sk <= 1 (the reference takes the rest): x_s = x0_s + sum_k w_sk (x_sk - x0_s). The
    same LP as the textbook master, but the references' use of the shared rows moves into their
    bounds and a column holds only where a plan differs from the reference, a few entries
    instead of one per warehouse. Artificial columns let each shared row run over (under) its
    bound at `big_m` per unit, so the master is feasible from the first round."""

    def __init__(self, blocks: _Blocks, arrays: LpArrays, big_m: float) -> None:
        self.highs = _highs()
        # New columns keep the last basis primal feasible: the primal simplex restarts there.
        self.highs.setOptionValue("simplex_strategy", 4)  # type: ignore[attr-defined]
        self.blocks = blocks
        self.n_link = len(blocks.link_rows)
        self.link_lower = arrays.row_lower[blocks.link_rows]
        self.link_upper = arrays.row_upper[blocks.link_rows]
        fit_tolerance(self.highs, self.link_lower, self.link_upper)  # type: ignore[arg-type]
        rows, signs = [], []
        for i in range(self.n_link):
            if np.isfinite(self.link_upper[i]):
                rows.append(i)
                signs.append(-1.0)
            if np.isfinite(self.link_lower[i]):
                rows.append(i)
                signs.append(1.0)
        self.artificial = np.arange(len(rows))
        self.big_m = big_m
        self.reference = np.zeros(len(blocks.cost))
        self.reference_cost = 0.0
        self.sku: list[np.ndarray] = []  # SKU of each plan column, per round
        self.plans: list[np.ndarray] = []  # x of that SKU's columns, per round (concatenated)
        self.n_plans = 0
        self.highs.addRows(  # type: ignore[attr-defined]
            self.n_link + blocks.n_skus,
            _finite(np.concatenate([self.link_lower, np.zeros(blocks.n_skus)]), -1.0),
            _finite(np.concatenate([self.link_upper, np.ones(blocks.n_skus)]), 1.0),
            0,
            [],
            [],
            [],
        )
        self._add(
            np.full(len(rows), big_m),
            sp.csc_matrix(
                (signs, (rows, np.arange(len(rows)))),
                shape=(self.n_link + blocks.n_skus, len(rows)),
            ),
        )

    def set_reference(self, x: np.ndarray) -> None:
        """Take x (every SKU's plan, SKU order) as the reference; before any plan column."""
        self.reference = x.copy()
        self.reference_cost = float(self.blocks.cost @ x)
        used = self.blocks.link @ x
        n = self.n_link
        self.highs.changeRowsBounds(  # type: ignore[attr-defined]
            n,
            np.arange(n, dtype=np.int32),
            _finite(self.link_lower - used, -1.0),
            _finite(self.link_upper - used, 1.0),
        )

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

    def add_plans(self, skus: np.ndarray, x: np.ndarray) -> None:
        """One column per SKU in `skus` (sorted): its plan in x (all SKUs, SKU order)."""
        b = self.blocks
        cols = _ranges(b.col_start[skus], b.col_start[skus + 1])
        plans = x[cols]
        diff = plans - self.reference[cols]
        local = np.repeat(np.arange(len(skus)), np.diff(b.col_start)[skus])
        cost = np.bincount(local, weights=b.cost[cols] * diff, minlength=len(skus))
        moved = np.nonzero(diff)[0]  # a plan differs from its reference in a few places
        usage = b.link[:, cols[moved]] @ sp.csc_matrix(
            (diff[moved], (np.arange(len(moved)), local[moved])), shape=(len(moved), len(skus))
        )
        usage = sp.csc_matrix(usage)
        usage.data[np.abs(usage.data) < 1e-12] = 0.0  # rounding dust where plans agree
        usage.eliminate_zeros()
        convexity = sp.csc_matrix(
            (np.ones(len(skus)), (skus, np.arange(len(skus)))), shape=(b.n_skus, len(skus))
        )
        self._add(cost, sp.vstack([usage, convexity], format="csc"))
        self.sku.append(skus)
        self.plans.append(plans)
        self.n_plans += len(skus)

    def solve(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """(objective, weights of all columns, shared-row duals, convexity duals). Then drops
        the plans of earlier rounds that the optimum prices out (weight 0, reduced cost > 0):
        a smaller master pivots faster, and a dropped plan that matters is priced again."""
        self.highs.run()  # type: ignore[attr-defined]
        _check_optimal(self.highs, "the master LP")
        solution = self.highs.getSolution()  # type: ignore[attr-defined]
        duals = np.asarray(solution.row_dual)
        info = self.highs.getInfo()  # type: ignore[attr-defined]
        objective = self.reference_cost + float(info.objective_function_value)
        weights = np.asarray(solution.col_value)
        if len(self.sku) > 1:
            weights = self._prune(weights, np.asarray(solution.col_dual))
        return objective, weights, duals[: self.n_link], duals[self.n_link :]

    def _prune(self, weights: np.ndarray, reduced: np.ndarray) -> np.ndarray:
        b = self.blocks
        n_art = len(self.artificial)
        drop = (weights <= 1e-12) & (reduced > 1e-9)
        drop[:n_art] = False
        last = sum(len(k) for k in self.sku[:-1])
        drop[n_art + last :] = False  # the newest plans stay a round
        if not drop.any():
            return weights
        gone = np.nonzero(drop)[0].astype(np.int32)
        self.highs.deleteCols(len(gone), gone)  # type: ignore[attr-defined]
        column = n_art
        for i, (skus, plans) in enumerate(zip(self.sku, self.plans, strict=True)):
            keep = ~drop[column : column + len(skus)]
            column += len(skus)
            sizes = b.col_start[skus + 1] - b.col_start[skus]
            self.sku[i], self.plans[i] = skus[keep], plans[np.repeat(keep, sizes)]
        self.n_plans -= len(gone)
        return weights[~drop]

    def raise_big_m(self, factor: float) -> None:
        self.big_m *= factor
        n = len(self.artificial)
        self.highs.changeColsCost(  # type: ignore[attr-defined]
            n, self.artificial.astype(np.int32), np.full(n, self.big_m)
        )

    def combine(self, weights: np.ndarray) -> np.ndarray:
        """x = reference + sum over plan columns of weight * (plan - reference), SKU order."""
        b = self.blocks
        x = self.reference.copy()
        column = len(self.artificial)
        for skus, plans in zip(self.sku, self.plans, strict=True):
            sizes = b.col_start[skus + 1] - b.col_start[skus]
            w = weights[column : column + len(skus)]
            column += len(skus)
            cols = _ranges(b.col_start[skus], b.col_start[skus + 1])
            np.add.at(x, cols, np.repeat(w, sizes) * (plans - self.reference[cols]))
        return x


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


class Decomposition:
    """The SKU blocks of one LP and their pricing models (in `workers` processes), kept open
    between solves: a solve with new column bounds restarts from the prices the last solve
    ended at and from each pricing model's basis, where a new decomposition would price every
    SKU from scratch and solve the sample LP again. Up to `direct_skus` SKUs (default
    DIRECT_SKUS) `solution` makes one HiGHS call instead (faster there: 1.1 s vs 2.9 s at 100
    SKUs x 50 locations). Close it (or use it in a `with`)."""

    def __init__(
        self,
        arrays: LpArrays,
        *,
        batch_skus: int = BATCH_SKUS,
        workers: int = 1,
        direct_skus: int | None = None,
    ) -> None:
        self.arrays = arrays
        n_skus = int(arrays.col_sku.max()) + 1 if len(arrays.col_sku) else 0
        self.direct = n_skus <= (DIRECT_SKUS if direct_skus is None else direct_skus)
        self.blocks = _Blocks(arrays, batch_skus)
        # Forks before this process holds any HiGHS model.
        self.pricer = None if self.direct else _Pricing(self.blocks, workers)
        self.prices: np.ndarray | None = None

    def __enter__(self) -> Decomposition:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.pricer is not None:
            self.pricer.close()

    def solution(
        self,
        *,
        gap: float = 1e-4,
        time_limit: float | None = None,
        col_lower: np.ndarray | None = None,
        col_upper: np.ndarray | None = None,
        start_plan: np.ndarray | None = None,
        progress: Progress | None = None,
    ) -> ArraySolution:
        """Like `solve_arrays`: x feasible for every row and bound and within `gap` of the
        optimum (proven), or with `time_limit` the best x when it ran out, labelled
        "time_limited" with its proven gap; under col_lower / col_upper when given."""
        if self.direct:
            self._rebound(col_lower, col_upper)
            return solve_arrays(self.arrays, "simplex", time_limit=time_limit)
        result = self.solve(
            gap=gap,
            time_limit=time_limit,
            col_lower=col_lower,
            col_upper=col_upper,
            start_plan=start_plan,
            progress=progress,
        )
        return ArraySolution(
            objective=result.objective,
            x=result.x,
            seconds=result.seconds,
            status=result.status,
            gap=result.gap,
        )

    def _rebound(self, col_lower: np.ndarray | None, col_upper: np.ndarray | None) -> None:
        if col_lower is None and col_upper is None:
            return
        self.arrays = replace(
            self.arrays,
            col_lower=self.arrays.col_lower if col_lower is None else col_lower,
            col_upper=self.arrays.col_upper if col_upper is None else col_upper,
        )
        order = self.blocks.col_order
        self.blocks.col_lower[:] = self.arrays.col_lower[order]
        self.blocks.col_upper[:] = self.arrays.col_upper[order]
        if self.pricer is not None:
            self.pricer.rebound(self.blocks.col_lower, self.blocks.col_upper)

    def solve(
        self,
        *,
        gap: float = 1e-4,
        max_rounds: int = 200,
        time_limit: float | None = None,
        tolerance: float = 1e-6,
        sample_skus: int | None = None,
        col_lower: np.ndarray | None = None,
        col_upper: np.ndarray | None = None,
        start_plan: np.ndarray | None = None,
        progress: Progress | None = None,
    ) -> Decomposed:
        """Solve to a proven relative `gap` (see `decompose`); with col_lower / col_upper
        (arrays order) the LP under those column bounds instead, warm from the last solve;
        start_plan: a plan feasible for that LP (arrays order) to start the master from;
        progress: told each round's proven gap."""
        started = time.perf_counter()
        if self.pricer is None:
            raise ValueError("a Decomposition of at most direct_skus SKUs only gives solution()")
        self._rebound(col_lower, col_upper)
        result = _decompose(
            self.arrays,
            self.blocks,
            self.pricer,
            started,
            gap,
            max_rounds,
            time_limit,
            tolerance,
            sample_skus,
            self.prices,
            start_plan,
            progress,
        )
        self.prices = result.prices
        return result


def decompose(
    arrays: LpArrays,
    *,
    gap: float = 1e-4,
    batch_skus: int = BATCH_SKUS,
    max_rounds: int = 200,
    time_limit: float | None = None,
    tolerance: float = 1e-6,
    sample_skus: int | None = None,
    workers: int = 1,
) -> Decomposed:
    """Solve the LP of `arrays` by Dantzig-Wolfe over SKUs to a proven relative `gap`.

    batch_skus: SKUs per pricing model. sample_skus: SKUs of the LPs that price the shared rows
    first, at most SAMPLE_LP_MAX per LP (0: start from zero prices; None: `sample_size` of the
    SKU count). workers: processes that price and solve those LPs (1: this one).
    time_limit: seconds after which the best plan so far is returned, labelled "time_limited"
    with the gap it proves, once the master has one within every shared row.
    Raises SolverError when a subproblem or the master fails, when the gap is not reached in
    `max_rounds` rounds (or by `time_limit` without any such plan; saying the gap reached), or
    when the primal violates a bound of the LP by more than `tolerance` (relative)."""
    with Decomposition(
        arrays, batch_skus=batch_skus, workers=workers, direct_skus=0
    ) as decomposition:
        return decomposition.solve(
            gap=gap,
            max_rounds=max_rounds,
            time_limit=time_limit,
            tolerance=tolerance,
            sample_skus=sample_skus,
        )


def _decompose(
    arrays: LpArrays,
    blocks: _Blocks,
    pricer: _Pricing,
    started: float,
    gap: float,
    max_rounds: int,
    time_limit: float | None,
    tolerance: float,
    sample_skus: int | None,
    start: np.ndarray | None = None,
    start_plan: np.ndarray | None = None,
    progress: Progress | None = None,
) -> Decomposed:
    """The rounds; from the prices `start` when given (a warm re-solve: no sample LP), and
    with `start_plan` (x feasible for the LP, arrays order) that plan as every SKU's reference:
    the master then has a plan within every shared row from its first solve."""
    link = blocks.link
    link_lower = arrays.row_lower[blocks.link_rows]
    link_upper = arrays.row_upper[blocks.link_rows]
    master = _Master(blocks, arrays, big_m=_big_m(arrays))
    # Prices: the master's duals, smoothed towards the prices of the best lower bound so far
    # (Wentges): raw master duals swing from round to round and waste pricing passes. Weight
    # SMOOTHING = 0.85 on the best-bound prices: at 10,000 SKUs fewer plans enter each round and
    # the serial master takes about two thirds of its time with 0.7, in as many rounds or up to
    # three more. Below a gap of TAIL_GAP the master's duals are close and 0.85 only holds them
    # back: 20 rounds instead of 15 from there to 1e-4 at seed 1 (BENCHMARKS.md).
    master_duals = np.zeros(len(blocks.link_rows))
    center = master_duals.copy()
    convexity = np.zeros(blocks.n_skus)
    best_lower = -np.inf
    upper = np.inf
    rounds = 0
    smoothing = SMOOTHING
    timer = {"pricing": 0.0, "master": 0.0, "sample": 0.0}
    has_reference = start_plan is not None
    referenced = 0  # round whose plans are the references
    if start_plan is not None:
        master.set_reference(start_plan[blocks.col_order])
    start_from = start
    status = OPTIMAL
    overrun_rounds = 0  # consecutive rounds whose master uses artificials
    relative = np.inf  # the proven gap of the last round (none yet)
    while True:
        rounds += 1
        duals = smoothing * center + (1 - smoothing) * master_duals
        if start_from is not None:
            duals, start_from = start_from, None
        priced = blocks.cost - link.T @ duals
        tick = time.perf_counter()
        x = pricer.solve(priced)
        timer["pricing"] += time.perf_counter() - tick
        lower = _lagrangian(priced, x, duals, link_lower, link_upper)
        if lower > best_lower:
            best_lower, center = lower, duals
        entering = np.zeros(0, dtype=np.int64)
        if not has_reference:
            used = link @ x
            overrun = np.any(used > link_upper + tolerance * np.maximum(1.0, np.abs(link_upper)))
            if sample_skus is None:
                sample_skus = sample_size(blocks.n_skus)
            if rounds == 1 and start is None and overrun and 0 < sample_skus < blocks.n_skus:
                # Unpriced plans overrun shared rows: price them from a sample first, and take
                # the plans at those prices (closer to the optimum) as the references.
                samples = _sample_lps(blocks, arrays, x, used, sample_skus, master.big_m)
                if progress is not None:
                    lps = "an LP" if len(samples) == 1 else f"{len(samples)} LPs"
                    progress(f"pricing the shared rows from {lps} over {sample_skus} SKUs")
                tick = time.perf_counter()
                # Their mean: one LP's duals are a vertex of its dual polytope, picked among
                # ties; the mean of disjoint samples' duals lies between such vertices, as the
                # smoothed prices of the rounds do (`sample_size` has the rounds it saves).
                start_from = np.mean(pricer.sample(samples), axis=0)
                timer["sample"] += time.perf_counter() - tick
                continue
            master.set_reference(x)
            has_reference = True
            referenced = rounds
            if np.any(duals != 0):
                # Plans at prices around the sampled ones: the master can mix them at once.
                for factor in SPREAD:
                    tick = time.perf_counter()
                    around = pricer.solve(blocks.cost - link.T @ (factor * duals))
                    timer["pricing"] += time.perf_counter() - tick
                    differs = _per_sku(np.abs(around - x), blocks.col_start) > 1e-9
                    master.add_plans(np.nonzero(differs)[0], around)
        else:
            # Reduced cost of each SKU's new plan against the master's own duals (none yet in
            # the first round from a start plan: every plan that differs from it enters).
            at_master = blocks.cost - link.T @ master_duals
            reduced = _per_sku(at_master * (x - master.reference), blocks.col_start) - convexity
            scale = np.maximum(1.0, np.abs(_per_sku(at_master * x, blocks.col_start)))
            entering = np.nonzero(reduced < -tolerance * scale)[0]
            if rounds == 1:
                moved = _per_sku(np.abs(x - master.reference), blocks.col_start)
                entering = np.nonzero(moved > 1e-9)[0]
            if not len(entering) and smoothing > 0 and np.any(duals != master_duals):
                smoothing = 0.0  # smoothed prices found nothing: price at the master's duals
                continue
            smoothing = _smoothing(relative)
            if len(entering):
                master.add_plans(entering, x)
        tick = time.perf_counter()
        objective, weights, master_duals, convexity = master.solve()
        master_duals = _signed(master_duals, link_lower, link_upper)
        timer["master"] += time.perf_counter() - tick
        artificial_use = float(weights[master.artificial].sum()) if len(master.artificial) else 0.0
        if artificial_use <= tolerance:
            upper = objective
            overrun_rounds = 0
        else:
            # The master still runs over a shared row: its dual there is the artificial's big M,
            # thousands of times any real price, and plans priced at it empty the row at any
            # cost. Cap the prices at a multiple of the best bound's, doubled every round the
            # overrun lasts (so a row that needs more gets it).
            overrun_rounds += 1
            master_duals = _capped(master_duals, center, OVERRUN_CAP * 2.0 ** (overrun_rounds - 1))
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
        if progress is not None:
            proven = f"proven gap {relative:.2e}" if np.isfinite(relative) else "no plan yet"
            progress(f"round {rounds}: {proven} (target {gap:.0e}), {len(entering)} plans in")
        if relative <= gap:
            break
        if not len(entering) and rounds > referenced and artificial_use > tolerance:
            master.raise_big_m(100.0)  # converged with artificials in use: price them higher
            continue
        if not len(entering) and rounds > referenced:
            break  # no plan improves the master: it is the optimum
        elapsed = time.perf_counter() - started
        out_of_time = time_limit is not None and elapsed > time_limit
        if out_of_time and artificial_use <= tolerance:
            status = TIME_LIMITED  # asked for: the best plan so far, its gap proven
            break
        if rounds >= max_rounds or out_of_time:
            found = (
                f"a proven gap of {relative:.2e} (target {gap:.0e})"
                if np.isfinite(relative)
                else "no plan yet within every shared row (warehouse, lane capacity, credit)"
            )
            raise SolverError(
                f"decomposition stopped after {rounds} rounds, {elapsed:.1f} s with {found}",
                status=f"gap {relative:.2e}" if np.isfinite(relative) else "no feasible plan",
                solver="highs",
                timed_out=out_of_time,
            )
    x_full = np.empty(len(x))
    x_full[blocks.col_order] = master.combine(weights)
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
        columns=master.n_plans,
        max_violation=violation,
        timing=timer,
        status=status,
        prices=center,
    )


def _big_m(arrays: LpArrays) -> float:
    """Price per unit of running over a shared row, above any real cost of keeping to it."""
    link = arrays.matrix[np.nonzero(arrays.row_sku < 0)[0]]
    coefficients = np.abs(link.data[link.data != 0])
    costs = np.abs(arrays.cost)
    if not len(coefficients) or not len(costs):
        return 1.0
    return 10.0 * max(1.0, float(costs.max())) / float(coefficients.min())


def sample_size(n_skus: int) -> int:
    """SKUs of the sample LPs together: 15 % of them, at least 100 and at most 1,200. One
    LP's simplex costs more than linearly in its size while the rounds it saves level off: at
    1,000 SKUs x 50 locations the benchmark's solve took 12.0 s with 150 against 18.6 s with
    one LP of 600 (`--sample-skus`). At 10,000, 1,200 SKUs in two LPs of 600 (side by side in
    the two workers) took 28 rounds over seeds 0-3 where one LP of 600 took 35, and at most 8
    instead of 12; four LPs of 300 took 34 (BENCHMARKS.md)."""
    return min(SAMPLE_MAX, max(SAMPLE_MIN, round(SAMPLE_SHARE * n_skus)))


@dataclass(frozen=True)
class _SampleLp:
    """One sample LP: its SKUs (SKU order), their columns' bounds, and the shared rows' bounds
    cut to those SKUs' share."""

    skus: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    link_lower: np.ndarray
    link_upper: np.ndarray
    big_m: float


def _sample_lps(
    blocks: _Blocks,
    arrays: LpArrays,
    x: np.ndarray,
    total: np.ndarray,
    sample_skus: int,
    big_m: float,
) -> list[_SampleLp]:
    """An evenly spaced sample of `sample_skus` SKUs, dealt round-robin into LPs of at most
    SAMPLE_LP_MAX SKUs (each still spread over all SKUs), each shared row of each LP cut to its
    SKUs' share of what all unpriced plans (x) put on that row (total: all of them, link @ x);
    big_m: the price per unit of running over a shared row, as in the master.

    The shared rows see many SKUs, so a few hundred of them, held to their share of each row,
    price the rows close to the whole LP's duals; the decomposition then starts from there
    instead of from zero (and proves its gap whatever these prices are)."""
    skus = np.unique(np.linspace(0, blocks.n_skus - 1, sample_skus).round().astype(np.int64))
    count = -(-len(skus) // SAMPLE_LP_MAX)
    link_lower = arrays.row_lower[blocks.link_rows]
    link_upper = arrays.row_upper[blocks.link_rows]
    lps = []
    for k in range(count):
        part_skus = skus[k::count]
        cols = _ranges(blocks.col_start[part_skus], blocks.col_start[part_skus + 1])
        part = blocks.link[:, cols] @ x[cols]
        default = len(part_skus) / blocks.n_skus
        share = np.where(total > 0, part / np.where(total > 0, total, 1.0), default)
        lps.append(
            _SampleLp(
                part_skus,
                blocks.col_lower[cols],
                blocks.col_upper[cols],
                _scaled(link_lower, share),
                _scaled(link_upper, share),
                big_m,
            )
        )
    return lps


def _scaled(bound: np.ndarray, share: np.ndarray) -> np.ndarray:
    """bound x share where the bound is finite (an infinite bound stays one)."""
    scaled = bound.copy()
    finite = np.isfinite(bound)
    scaled[finite] *= share[finite]
    return scaled


def _sample_duals(blocks: _Blocks, sample: _SampleLp) -> np.ndarray:
    """The shared rows' duals of one sample LP, with the sign their bounds allow. Its shared
    rows are elastic (cost big M per unit over or under), so it is never infeasible."""
    import highspy

    skus = sample.skus
    cols = _ranges(blocks.col_start[skus], blocks.col_start[skus + 1])
    rows = _ranges(blocks.row_start[skus], blocks.row_start[skus + 1])
    n_link = len(blocks.link_rows)
    elastic = sp.vstack(
        [sp.csc_matrix((len(rows), 2 * n_link)), sp.hstack([-sp.eye(n_link), sp.eye(n_link)])]
    )
    matrix = sp.hstack(
        [sp.vstack([blocks.own[rows][:, cols], blocks.link[:, cols]]), elastic], format="csc"
    )
    lp = highspy.HighsLp()
    lp.num_col_ = matrix.shape[1]
    lp.num_row_ = matrix.shape[0]
    lp.col_cost_ = np.concatenate([blocks.cost[cols], np.full(2 * n_link, sample.big_m)])
    lp.col_lower_ = np.concatenate([sample.col_lower, np.zeros(2 * n_link)])
    lp.col_upper_ = _finite(np.concatenate([sample.col_upper, np.full(2 * n_link, np.inf)]), 1.0)
    lp.row_lower_ = _finite(np.concatenate([blocks.row_lower[rows], sample.link_lower]), -1.0)
    lp.row_upper_ = _finite(np.concatenate([blocks.row_upper[rows], sample.link_upper]), 1.0)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    highs = _blocks_highs()
    bounds = (sample.col_lower, sample.col_upper, sample.link_lower, sample.link_upper)
    fit_tolerance(highs, blocks.row_lower[rows], blocks.row_upper[rows], *bounds)  # type: ignore[arg-type]
    highs.passModel(lp)  # type: ignore[attr-defined]
    highs.run()  # type: ignore[attr-defined]
    _check_optimal(highs, f"the sample LP over {len(skus)} SKUs")
    duals = np.asarray(highs.getSolution().row_dual)[len(rows) :]  # type: ignore[attr-defined]
    return _signed(duals, sample.link_lower, sample.link_upper)


def _smoothing(relative: float) -> float:
    """Weight of the best-bound prices after a round that proved the gap `relative`."""
    return TAIL_SMOOTHING if relative <= TAIL_GAP else SMOOTHING


def _capped(duals: np.ndarray, center: np.ndarray, factor: float) -> np.ndarray:
    """duals cut to factor x the largest price of `center` (unchanged when center is zero)."""
    cap = factor * float(np.abs(center).max(initial=0.0))
    return np.clip(duals, -cap, cap) if cap > 0 else duals


def _signed(duals: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Shared-row prices with the sign their bounds allow: a row without an upper bound takes no
    negative price, one without a lower bound no positive one. A wrong-sign dual, even solver
    dust of 1e-15, makes the Lagrangian bound of that round minus infinity."""
    duals = np.where(np.isfinite(upper), duals, np.maximum(duals, 0))
    return np.where(np.isfinite(lower), duals, np.minimum(duals, 0))


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
    link_lower: np.ndarray,
    link_upper: np.ndarray,
) -> float:
    """Lower bound sum_s min (c - L^T y) x_s + y b from x optimal at prices y: a shared row
    priced below zero counts at its upper bound, above zero at its lower bound."""
    rhs = np.where(duals < 0, link_upper, np.where(duals > 0, link_lower, 0.0))
    if not np.isfinite(rhs).all():  # a dual of the wrong sign (rounding): no valid bound
        return -np.inf
    return float(priced @ x + duals @ rhs)


def solve_decomposed(
    arrays: LpArrays, *, gap: float = 1e-4, time_limit: float | None = None, workers: int = 1
) -> ArraySolution:
    """One `Decomposition.solution` of `arrays` (one HiGHS call up to DIRECT_SKUS SKUs)."""
    with Decomposition(arrays, workers=workers) as decomposition:
        return decomposition.solution(gap=gap, time_limit=time_limit)
