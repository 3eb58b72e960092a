"""The array build is the same LP as the PuLP build: same optimum on random instances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import allocation as al
from allocation.generate import example_network
from allocation.model import build_problem, prepare_inputs
from allocation.scale import build_arrays, solve_arrays
from allocation.solve import solve_problem


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(1, 12), st.integers(1, 7), st.integers(0, 8))
def test_array_build_matches_the_pulp_build(
    seed: int, skus: int, locations: int, distributors: int
) -> None:
    instance = example_network(skus, locations, distributors, seed=seed, horizon_days=14)
    network = instance.network
    inputs = prepare_inputs(
        network,
        al.validate_stock(instance.stock, network),
        al.validate_demand(instance.demand, network),
        instance.policy,
    )
    problem, _ = build_problem(inputs)
    expected = solve_problem(problem).objective
    for method in ("simplex", "ipm"):
        objective, x, _ = solve_arrays(build_arrays(inputs), method)
        assert objective == pytest.approx(expected, rel=1e-6, abs=1e-6)
        assert (x >= -1e-7).all()


def test_sku_tags_split_the_matrix_into_blocks_and_shared_rows() -> None:
    instance = example_network(9, 5, 4, seed=2, horizon_days=14)
    network = instance.network
    inputs = prepare_inputs(
        network,
        al.validate_stock(instance.stock, network),
        al.validate_demand(instance.demand, network),
        instance.policy,
    )
    arrays = build_arrays(inputs)
    rows, cols = arrays.shape
    assert arrays.row_sku.shape == (rows,) and arrays.col_sku.shape == (cols,)
    entries = arrays.matrix.tocoo()
    row_sku = arrays.row_sku[entries.row]
    own = row_sku >= 0
    # A SKU's own row touches only that SKU's columns; every column belongs to a SKU.
    assert (row_sku[own] == arrays.col_sku[entries.col][own]).all()
    assert set(np.unique(arrays.col_sku)) == set(range(len(inputs.skus)))
    shared = np.unique(entries.row[~own])
    assert len(shared) >= len(network.warehouses)  # at least one capacity row per warehouse
    assert (np.isinf(arrays.row_lower[shared]) & np.isfinite(arrays.row_upper[shared])).all()
