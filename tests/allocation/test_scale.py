"""The array build is the same LP as the PuLP build: same optimum on random instances."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocation.decompose import max_violation
from allocation.explain import explain
from allocation.model import build_problem
from allocation.plan import SolverFacts
from allocation.scale import build_arrays, solve_arrays
from allocation.solution import from_arrays, from_variables
from allocation.solve import solve_problem
from tests.allocation.conftest import example_inputs


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 10_000), st.integers(1, 12), st.integers(1, 7), st.integers(0, 8), st.booleans()
)
def test_array_build_matches_the_pulp_build(
    seed: int, skus: int, locations: int, distributors: int, early_days_apart: bool
) -> None:
    inputs = example_inputs(skus, locations, distributors, seed, early_days_apart=early_days_apart)
    problem, _ = build_problem(inputs)
    expected = solve_problem(problem).objective
    for method in ("simplex", "ipm"):
        solved = solve_arrays(build_arrays(inputs), method)
        assert solved.status == "optimal" and solved.gap == 0.0
        assert solved.objective == pytest.approx(expected, rel=1e-6, abs=1e-6)
        assert (solved.x >= -1e-7).all()


def test_sku_tags_split_the_matrix_into_blocks_and_shared_rows() -> None:
    inputs = example_inputs(9, 5, 4, seed=2)
    network = inputs.network
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


@pytest.mark.parametrize(("seed", "early_days_apart"), [(1, False), (4, True), (7, True)])
def test_col_key_maps_the_array_solution_onto_the_pulp_variables(
    seed: int, early_days_apart: bool
) -> None:
    inputs = example_inputs(12, 6, 6, seed, early_days_apart=early_days_apart)
    assert len(inputs.early) > 0 if early_days_apart else inputs.early.empty
    problem, variables = build_problem(inputs)
    expected = solve_problem(problem).objective
    arrays = build_arrays(inputs)
    groups: dict[str, dict[Any, Any]] = {
        "x": variables.flow,
        "y": variables.supply,
        "e": variables.ending,
        "u": variables.short,
        "v": variables.safety_short,
        "b": variables.early_short,
        "c": variables.early_safety_short,
        "o": variables.over,
        "g": variables.fair_gap,
    }
    # One column per PuLP variable, and the rows explain names exist in the PuLP problem.
    assert len(arrays.col_key) == arrays.shape[1] == len(set(arrays.col_key))
    assert set(arrays.col_key) == {(letter, k) for letter, g in groups.items() for k in g}
    assert set(arrays.row_name) <= set(variables.constraints)
    # The PuLP optimum written into the columns by col_key keeps every row and has its cost.
    pulp_x = np.array([groups[letter][key].varValue or 0.0 for letter, key in arrays.col_key])
    assert max_violation(arrays, pulp_x) <= 1e-7
    assert float(arrays.cost @ pulp_x) == pytest.approx(expected, rel=1e-7, abs=1e-7)
    # explain reads the array optimum like the PuLP one: same objective, totals, binding rows.
    solved = solve_arrays(arrays, "simplex")
    objective, x = solved.objective, solved.x
    facts = SolverFacts("optimal", objective, 0.0, 0.0, "highs")
    ours_solution, theirs_solution = from_arrays(arrays, x), from_variables(variables)
    ours, theirs = explain(inputs, ours_solution, facts), explain(inputs, theirs_solution, facts)
    left = sum(ours_solution.ending.values())  # before rounding: a tie moves no stock left
    assert left == pytest.approx(sum(theirs_solution.ending.values()), rel=1e-7, abs=1e-6)
    assert sum(ours.kpis["cost"].values()) == pytest.approx(expected, rel=1e-6, abs=1e-6)
    for kpi in ("units_transferred", "units_unmet", "fill_rate"):
        assert ours.kpis[kpi] == pytest.approx(theirs.kpis[kpi], rel=1e-5, abs=1e-5), kpi
    # Each line's quantity is rounded to whole units, and a tie (the same distributor served
    # from either of two warehouses at the same cost) may split a line differently.
    lines = len(theirs.replenishment)
    for kpi in ("units_replenished", "stock_after_plan"):
        assert ours.kpis[kpi] == pytest.approx(theirs.kpis[kpi], abs=lines * 0.5 + 1e-6), kpi


def test_column_keys_are_made_on_first_use_and_pickle() -> None:
    import pickle

    arrays = build_arrays(example_inputs(4, 3, 2, seed=1))
    keys = arrays.col_key
    assert len(keys) == arrays.shape[1]  # known before any key is made
    made = list(keys)
    assert len(made) == len(set(made)) == arrays.shape[1]
    assert {letter for letter, _ in made} >= {"x", "e", "y", "u"}
    assert (keys[0], keys[-1]) == (made[0], made[-1])
    assert list(pickle.loads(pickle.dumps(arrays)).col_key) == made


def test_column_keys_by_letter_index_the_same_columns_as_the_flat_keys() -> None:
    arrays = build_arrays(example_inputs(4, 3, 2, seed=1))
    by_letter = arrays.col_key.by_letter()  # before the flat keys are made
    letters = arrays.col_key.letters()
    made = list(arrays.col_key)
    assert len(letters) == len(made) == arrays.shape[1]
    assert [letter for letter, _ in made] == letters.tolist()
    for letter, (keys, index) in by_letter.items():
        assert [made[i] for i in index.tolist()] == [(letter, key) for key in keys]
    assert sum(len(index) for _, index in by_letter.values()) == arrays.shape[1]
    keys, index = arrays.col_key.of("x")
    assert keys == by_letter["x"][0] and index.tolist() == by_letter["x"][1].tolist()
    absent_keys, absent_index = arrays.col_key.of("z")  # no column of that letter
    assert absent_keys == [] and len(absent_index) == 0


@pytest.mark.parametrize("seed", [0, 1])
def test_timing_rows_are_the_same_in_both_builds(seed: int) -> None:
    # These instances have rows for stock that reaches a warehouse too late (some one lane
    # upstream, `via`): both builds name the same rows and reach the same optimum.
    inputs = example_inputs(20, 6, 8, seed)
    assert inputs.timing and any(row.via for row in inputs.timing)
    problem, variables = build_problem(inputs)
    arrays = build_arrays(inputs)
    pulp_rows = {name for name in variables.constraints if name.startswith("timing[")}
    assert pulp_rows == {name for name in arrays.row_name if name.startswith("timing[")}
    expected = solve_problem(problem).objective
    assert solve_arrays(arrays, "simplex").objective == pytest.approx(expected, rel=1e-9)
