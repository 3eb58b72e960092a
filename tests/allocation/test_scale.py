"""The array build is the same LP as the PuLP build: same optimum on random instances."""

from __future__ import annotations

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
