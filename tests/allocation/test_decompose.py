"""The SKU decomposition reaches the optimum of the same LP, with a feasible primal."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

import allocation.decompose as decompose_module
from allocation.decompose import Decomposition, decompose, max_violation, solve_decomposed
from allocation.errors import SolverError
from allocation.scale import LpArrays, build_arrays, solve_arrays
from tests.allocation.conftest import example_inputs


def _arrays(skus: int, locations: int, distributors: int, seed: int) -> LpArrays:
    return build_arrays(example_inputs(skus, locations, distributors, seed))


def _without_shared_rows(arrays: LpArrays) -> LpArrays:
    shared = arrays.row_sku < 0
    return dataclasses.replace(
        arrays,
        row_lower=np.where(shared, -np.inf, arrays.row_lower),
        row_upper=np.where(shared, np.inf, arrays.row_upper),
    )


def _assert_feasible(arrays: LpArrays, x: np.ndarray) -> None:
    activity = arrays.matrix @ x
    slack = 1e-6 * np.maximum(1.0, np.abs(activity))
    assert (activity >= arrays.row_lower - slack).all()
    assert (activity <= arrays.row_upper + slack).all()
    assert (x >= arrays.col_lower - 1e-6).all()
    assert (x <= arrays.col_upper + 1e-6 * np.maximum(1.0, np.abs(x))).all()


@pytest.mark.parametrize(("skus", "sample"), [(30, 0), (60, 15)])
def test_decomposition_matches_the_monolithic_optimum_where_capacity_binds(
    skus: int, sample: int
) -> None:
    arrays = _arrays(skus, 8, 6, seed=3)
    expected = solve_arrays(arrays, "simplex").objective
    uncoupled = solve_arrays(_without_shared_rows(arrays), "simplex").objective
    # The shared rows (warehouse / lane capacity, credit) bind: without them it is much cheaper.
    assert uncoupled < expected * (1 - 1e-3)
    result = decompose(arrays, gap=1e-9, batch_skus=7, sample_skus=sample)
    assert result.objective == pytest.approx(expected, rel=1e-6)
    assert result.lower_bound <= expected * (1 + 1e-9)
    assert result.gap <= 1e-6
    assert result.max_violation <= 1e-6
    assert result.rounds > 1
    _assert_feasible(arrays, result.x)
    assert float(arrays.cost @ result.x) + arrays.offset == pytest.approx(result.objective)


def test_decomposition_with_slack_capacity_takes_each_skus_own_optimum() -> None:
    arrays = _arrays(25, 6, 5, seed=11)
    shared = arrays.row_sku < 0
    roomy = dataclasses.replace(
        arrays, row_upper=np.where(shared, arrays.row_upper * 1e3 + 1e6, arrays.row_upper)
    )
    expected = solve_arrays(roomy, "simplex").objective
    result = decompose(roomy, gap=1e-9)
    assert result.objective == pytest.approx(expected, rel=1e-6)
    _assert_feasible(roomy, result.x)
    assert result.rounds == 1  # unpriced plans fit: proven at once


@pytest.mark.parametrize("direct_skus", [10, 100])
def test_solve_decomposed_has_solve_arrays_shape_on_either_route(
    direct_skus: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decompose_module, "DIRECT_SKUS", direct_skus)  # 20 SKUs: both routes
    arrays = _arrays(20, 6, 5, seed=8)
    expected = solve_arrays(arrays, "simplex").objective
    solved = solve_decomposed(arrays, gap=1e-9)
    assert solved.objective == pytest.approx(expected, rel=1e-6)
    assert solved.x.shape == arrays.cost.shape and solved.seconds >= 0
    assert solved.status == "optimal" and solved.gap is not None and solved.gap <= 1e-6
    _assert_feasible(arrays, solved.x)


def test_pricing_in_two_worker_processes_reaches_the_same_optimum() -> None:
    arrays = _arrays(40, 6, 5, seed=5)
    expected = solve_arrays(arrays, "simplex").objective
    result = decompose(arrays, gap=1e-9, batch_skus=6, sample_skus=10, workers=2)
    assert result.objective == pytest.approx(expected, rel=1e-6)
    _assert_feasible(arrays, result.x)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_warm_re_solve_under_new_bounds_reaches_the_cold_optimum_in_fewer_rounds(
    workers: int,
) -> None:
    # The planner's re-solve around whole packs: the suggestion columns y fixed near their LP
    # values. Kept open, the decomposition restarts from its last prices and the pricing
    # models' bases (in the workers too) and must reach what a cold solve of the re-bounded LP
    # reaches, in fewer rounds over three instances (on one, float dust in the safety stocks
    # moves either count by a round or two).
    warm_rounds = cold_rounds = 0
    for seed in (5, 1, 2):
        arrays = _arrays(40, 6, 5, seed=seed)
        suggestions = np.array([letter == "y" for letter, _ in arrays.col_key])
        with Decomposition(arrays, batch_skus=6, workers=workers, direct_skus=0) as decomposition:
            first = decomposition.solve(gap=1e-9, sample_skus=10)
            packs = np.floor(first.x / 5.0 + 1e-9) * 5.0  # down: never more than is in stock
            lower = np.where(suggestions, packs, arrays.col_lower)
            upper = np.where(suggestions, packs, arrays.col_upper)
            warm = decomposition.solve(gap=1e-9, col_lower=lower, col_upper=upper)
        fixed = dataclasses.replace(arrays, col_lower=lower, col_upper=upper)
        expected = solve_arrays(fixed, "simplex").objective
        cold = decompose(fixed, gap=1e-9, batch_skus=6, sample_skus=10)
        assert expected > first.objective * (1 + 1e-6)  # the packs cost something: bounds moved
        assert warm.objective == pytest.approx(expected, rel=1e-6)
        assert cold.objective == pytest.approx(expected, rel=1e-6)
        _assert_feasible(fixed, warm.x)
        assert np.allclose(warm.x[suggestions], packs[suggestions])
        warm_rounds, cold_rounds = warm_rounds + warm.rounds, cold_rounds + cold.rounds
    assert warm_rounds < cold_rounds


def test_a_re_solve_from_a_feasible_start_plan_reaches_the_optimum_under_its_bounds() -> None:
    # The planner starts the re-solve from the pack repair's own plan: the master holds a plan
    # within every shared row from its first solve. Here the start is a plan feasible for the
    # re-bounded LP but far from its optimum (every cost zero, so HiGHS stops at any vertex).
    arrays = _arrays(40, 6, 5, seed=5)
    suggestions = np.array([letter == "y" for letter, _ in arrays.col_key])
    with Decomposition(arrays, batch_skus=6, direct_skus=0) as decomposition:
        first = decomposition.solve(gap=1e-9, sample_skus=10)
        packs = np.floor(first.x / 5.0 + 1e-9) * 5.0
        lower = np.where(suggestions, packs, arrays.col_lower)
        upper = np.where(suggestions, packs, arrays.col_upper)
        fixed = dataclasses.replace(arrays, col_lower=lower, col_upper=upper)
        start = solve_arrays(dataclasses.replace(fixed, cost=np.zeros_like(fixed.cost)), "simplex")
        started = float(fixed.cost @ start.x) + fixed.offset
        result = decomposition.solve(gap=1e-9, col_lower=lower, col_upper=upper, start_plan=start.x)
    expected = solve_arrays(fixed, "simplex").objective
    assert started > expected * (1 + 1e-3)  # the start plan is feasible, not optimal
    assert result.objective == pytest.approx(expected, rel=1e-6)
    _assert_feasible(fixed, result.x)


def test_max_violation_names_the_worst_relative_breach() -> None:
    arrays = _arrays(3, 3, 2, seed=0)
    x = solve_arrays(arrays, "simplex").x
    assert max_violation(arrays, x) <= 1e-9
    bad = x.copy()
    bad[0] = arrays.col_upper[0] + 5.0 if np.isfinite(arrays.col_upper[0]) else -5.0
    assert max_violation(arrays, bad) >= 5.0 / max(1.0, abs(arrays.col_upper[0]))


def test_a_time_limit_returns_the_best_plan_so_far_with_its_proven_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arrays = _arrays(60, 8, 6, seed=3)
    expected = solve_arrays(arrays, "simplex").objective
    exact = decompose(arrays, gap=1e-9, batch_skus=7, sample_skus=0)
    # A clock that ticks one second per reading makes the cut deterministic.
    ticks = itertools.count()
    monkeypatch.setattr(decompose_module.time, "perf_counter", lambda: float(next(ticks)))
    statuses = []
    for limit in range(0, 20 * exact.rounds, 3):
        try:
            result = decompose(arrays, gap=1e-9, batch_skus=7, sample_skus=0, time_limit=limit)
        except SolverError as exc:  # no plan within every shared row yet: nothing to return
            assert exc.status == "no feasible plan" and not statuses
            continue
        statuses.append(result.status)
        _assert_feasible(arrays, result.x)
        assert result.lower_bound <= expected * (1 + 1e-9) <= result.objective * (1 + 2e-9)
        if result.status == "time_limited":  # stopped early, and says how far from the optimum
            assert result.rounds < exact.rounds and result.gap > 1e-9
    assert "time_limited" in statuses and statuses[-1] == "optimal"


def test_a_time_limit_that_stops_the_dual_simplex_early_is_a_solver_error() -> None:
    # The direct route's dual simplex has no primal feasible x when stopped: nothing to return.
    arrays = _arrays(60, 8, 6, seed=3)
    with pytest.raises(SolverError) as caught:
        solve_arrays(arrays, "simplex", time_limit=0.0)
    assert caught.value.status == "Time limit reached"


def test_the_sample_lps_take_a_share_of_the_skus_within_their_bounds() -> None:
    from allocation.decompose import sample_size

    assert [sample_size(n) for n in (301, 1_000, 3_000, 10_000, 100_000)] == [
        100,
        150,
        450,
        1_200,
        1_200,
    ]


def test_a_sample_is_dealt_into_small_lps_each_spread_over_the_skus_and_its_share_of_the_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from allocation.decompose import _big_m, _Blocks, _Pricing, _sample_lps

    monkeypatch.setattr(decompose_module, "SAMPLE_LP_MAX", 4)
    arrays = _arrays(40, 6, 5, seed=5)
    blocks = _Blocks(arrays, batch_skus=7)
    unpriced = _Pricing(blocks, workers=1).solve(blocks.cost)
    lps = _sample_lps(blocks, arrays, unpriced, blocks.link @ unpriced, 10, _big_m(arrays))
    assert [len(lp.skus) for lp in lps] == [4, 3, 3]
    skus = np.concatenate([lp.skus for lp in lps])
    assert sorted(skus) == [0, 4, 9, 13, 17, 22, 26, 30, 35, 39]  # evenly spaced, each once
    assert [lp.skus[0] for lp in lps] == [0, 4, 9]  # dealt round-robin: each spans the SKUs
    assert all(lp.skus[-1] >= 30 for lp in lps)
    # Together the LPs hold the sample's share of each row that the unpriced plans use, each
    # LP its own SKUs' share of it.
    total = blocks.link @ unpriced
    used = total > 0
    upper = arrays.row_upper[blocks.link_rows]
    capped = used & np.isfinite(upper)
    assert capped.any()
    sample_cols = np.concatenate(
        [np.arange(blocks.col_start[s], blocks.col_start[s + 1]) for s in sorted(skus)]
    )
    share = (blocks.link[:, sample_cols] @ unpriced[sample_cols])[capped] / total[capped]
    np.testing.assert_allclose(
        sum(lp.link_upper[capped] for lp in lps), share * upper[capped], rtol=1e-9
    )
    for lp in lps:
        cols = np.concatenate(
            [np.arange(blocks.col_start[s], blocks.col_start[s + 1]) for s in lp.skus]
        )
        np.testing.assert_array_equal(lp.col_upper, blocks.col_upper[cols])


@pytest.mark.parametrize("workers", [1, 2])
def test_several_sample_lps_in_process_or_in_workers_price_the_rounds_to_the_optimum(
    workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decompose_module, "SAMPLE_LP_MAX", 5)
    arrays = _arrays(60, 8, 6, seed=3)
    said: list[str] = []
    with Decomposition(arrays, batch_skus=7, workers=workers, direct_skus=0) as decomposition:
        result = decomposition.solve(gap=1e-9, sample_skus=15, progress=said.append)
    assert "pricing the shared rows from 3 LPs over 15 SKUs" in said
    assert result.objective == pytest.approx(solve_arrays(arrays, "simplex").objective, rel=1e-6)
    assert result.gap <= 1e-6
    _assert_feasible(arrays, result.x)


def test_an_overrunning_master_is_priced_at_most_a_multiple_of_the_best_bounds_prices() -> None:
    from allocation.decompose import _capped

    duals = np.array([-96_460.0, -2.0, 0.0, 5.0])  # -96,460: an artificial's big M
    center = np.array([-3.0, -1.0, 0.0, 0.5])
    np.testing.assert_array_equal(_capped(duals, center, 1.0), [-3.0, -2.0, 0.0, 3.0])
    np.testing.assert_array_equal(_capped(duals, center, 2.0), [-6.0, -2.0, 0.0, 5.0])
    # No best-bound prices yet (a start from zero prices): nothing to scale a cap by.
    np.testing.assert_array_equal(_capped(duals, np.zeros(4), 1.0), duals)


def test_a_master_that_first_overruns_a_shared_row_still_proves_the_optimum() -> None:
    arrays = _arrays(60, 8, 6, seed=3)
    said: list[str] = []
    with Decomposition(arrays, batch_skus=7, direct_skus=0) as decomposition:
        result = decomposition.solve(gap=1e-9, sample_skus=15, progress=said.append)
    assert "pricing the shared rows from an LP over 15 SKUs" in said
    rounds = [line for line in said if line.startswith("round ")]
    # The first masters need the artificials (no plan within every shared row yet) ...
    assert "no plan yet" in rounds[0]
    assert sum("no plan yet" in line for line in rounds) >= 2
    # ... and the capped prices still lead to the proven optimum.
    assert "no plan yet" not in rounds[-1]
    assert result.objective == pytest.approx(solve_arrays(arrays, "simplex").objective, rel=1e-6)
    assert result.gap <= 1e-6


def test_prices_lean_on_the_best_bound_until_the_gap_is_small_then_on_the_master() -> None:
    from allocation.decompose import SMOOTHING, TAIL_GAP, TAIL_SMOOTHING, _smoothing

    assert TAIL_SMOOTHING < SMOOTHING
    assert _smoothing(np.inf) == SMOOTHING  # no plan within every shared row yet
    assert _smoothing(10 * TAIL_GAP) == SMOOTHING
    assert _smoothing(TAIL_GAP) == _smoothing(TAIL_GAP / 10) == TAIL_SMOOTHING
