"""HiGHS instances print nothing: stdout stays the caller's (summaries, piped JSON)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import allocation as al
from allocation.generate import example_network
from allocation.planner import DECOMPOSE_ABOVE_SERIES


def test_first_highs_of_a_process_prints_no_banner() -> None:
    code = (
        "from allocation.highs import quiet_highs\n"
        "print('before')\n"
        "h = quiet_highs()\n"
        "quiet_highs(threads=2)\n"
        "print('after', h.getOptionValue('output_flag')[1])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout == "before\nafter False\n"


def test_the_feasibility_tolerance_follows_the_largest_bound() -> None:
    from allocation.highs import DEFAULT_FEASIBILITY, fit_tolerance, quiet_highs

    highs = quiet_highs()
    fit_tolerance(highs, np.array([0.0, 5e6, np.inf]), np.array([-np.inf, 1e3]))
    assert highs.getOptionValue("primal_feasibility_tolerance")[1] == DEFAULT_FEASIBILITY
    fit_tolerance(highs, np.array([1e10, np.inf]))
    tolerance = highs.getOptionValue("primal_feasibility_tolerance")[1]
    assert 1e-6 < tolerance < 1e-4  # a few units in the last place of 1e10 (1.9e-6 each)


@pytest.mark.parametrize("decompose_above", [DECOMPOSE_ABOVE_SERIES, 0])
def test_a_billion_units_in_stock_still_plans(decompose_above: int) -> None:
    # Ten SKUs of 1e9 units sum to 1e10 in a warehouse's capacity row, which a double holds
    # only to 1.9e-6: at HiGHS's default tolerance of 1e-7 the re-solve around whole units
    # called this valid stock infeasible (helper-47).
    instance = example_network(10, 3, 4, seed=1, horizon_days=14)
    network = instance.network
    stock = instance.stock.copy()
    stock.loc[stock["node"].isin(["CW", "RW-R1"]), "on_hand"] = 1e9
    result = al.plan(
        network,
        al.validate_stock(stock, network),
        al.validate_demand(instance.demand, network),
        instance.policy,
        decompose_above=decompose_above,
    )
    assert result.solver.status == "optimal"
    assert (result.transfers["quantity"] >= 0).all()
    assert (result.transfers["quantity"] % 1 == 0).all()
