"""The SKU decomposition reaches the optimum of the same LP, with a feasible primal."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import allocation.decompose as decompose_module
from allocation.decompose import decompose, max_violation, solve_decomposed
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
    expected, _, _ = solve_arrays(arrays, "simplex")
    uncoupled, _, _ = solve_arrays(_without_shared_rows(arrays), "simplex")
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
    expected, _, _ = solve_arrays(roomy, "simplex")
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
    expected, _, _ = solve_arrays(arrays, "simplex")
    objective, x, seconds = solve_decomposed(arrays, gap=1e-9)
    assert objective == pytest.approx(expected, rel=1e-6)
    assert x.shape == arrays.cost.shape and seconds >= 0
    _assert_feasible(arrays, x)


def test_pricing_in_two_worker_processes_reaches_the_same_optimum() -> None:
    arrays = _arrays(40, 6, 5, seed=5)
    expected, _, _ = solve_arrays(arrays, "simplex")
    result = decompose(arrays, gap=1e-9, batch_skus=6, sample_skus=10, workers=2)
    assert result.objective == pytest.approx(expected, rel=1e-6)
    _assert_feasible(arrays, result.x)


def test_max_violation_names_the_worst_relative_breach() -> None:
    arrays = _arrays(3, 3, 2, seed=0)
    _, x, _ = solve_arrays(arrays, "simplex")
    assert max_violation(arrays, x) <= 1e-9
    bad = x.copy()
    bad[0] = arrays.col_upper[0] + 5.0 if np.isfinite(arrays.col_upper[0]) else -5.0
    assert max_violation(arrays, bad) >= 5.0 / max(1.0, abs(arrays.col_upper[0]))
