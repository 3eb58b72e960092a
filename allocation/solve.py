"""Solve a PuLP problem with HiGHS (default) or CBC and check the solver's real status.

PuLP maps a HiGHS run that stopped at its time limit to "Optimal" (often with a zero objective),
so the status is read from HiGHS itself. Only a proven optimum passes, or, when the caller set a
time limit, a feasible solution found within it, labelled "time_limited". Anything else is a
SolverError that names the solver's own status.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pulp

from allocation.errors import SolverError

__all__ = [
    "OPTIMAL",
    "SOLVERS",
    "TIME_LIMITED",
    "SolveOutcome",
    "SolverName",
    "resolve_fixed",
    "solve_problem",
]

SolverName = Literal["highs", "cbc"]
SOLVERS: tuple[SolverName, ...] = ("highs", "cbc")
OPTIMAL = "optimal"
TIME_LIMITED = "time_limited"


@dataclass(frozen=True)
class SolveOutcome:
    """status: "optimal" or "time_limited"; objective in money; seconds of wall time;
    detail: the solver's own status words."""

    status: str
    solver: SolverName
    objective: float
    seconds: float
    detail: str


def _make_solver(
    name: SolverName, time_limit: float | None, mip_gap: float | None
) -> pulp.LpSolver:
    if name == "highs":
        return pulp.HiGHS(msg=False, timeLimit=time_limit, threads=1, gapRel=mip_gap)
    if name == "cbc":
        return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, threads=1, gapRel=mip_gap)
    raise ValueError(f"unknown solver {name!r}; expected one of {SOLVERS}")


def _highs_outcome(problem: pulp.LpProblem, time_limit: float | None) -> tuple[str, str]:
    import highspy

    highs = problem.solverModel
    model_status = highs.getModelStatus()
    detail = highs.modelStatusToString(model_status)
    if model_status == highspy.HighsModelStatus.kOptimal:
        return OPTIMAL, detail
    feasible = highs.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
    if model_status == highspy.HighsModelStatus.kTimeLimit and time_limit is not None and feasible:
        return TIME_LIMITED, detail
    return "", detail


def _cbc_outcome(problem: pulp.LpProblem, time_limit: float | None) -> tuple[str, str]:
    detail = f"{pulp.LpStatus[problem.status]} / {pulp.LpSolution[problem.sol_status]}"
    if problem.status == pulp.LpStatusOptimal and problem.sol_status == pulp.LpSolutionOptimal:
        return OPTIMAL, detail
    if time_limit is not None and problem.sol_status == pulp.LpSolutionIntegerFeasible:
        return TIME_LIMITED, detail
    return "", detail


def solve_problem(
    problem: pulp.LpProblem,
    solver: SolverName = "highs",
    time_limit: float | None = None,
    mip_gap: float | None = None,
) -> SolveOutcome:
    """Solve and verify. time_limit (seconds): when given, a feasible best solution found within
    it is accepted and labelled "time_limited"; without it only a proven optimum passes.
    mip_gap: relative gap at which a MILP counts as solved (the solver's default when None)."""
    backend = _make_solver(solver, time_limit, mip_gap)
    started = time.perf_counter()
    try:
        problem.solve(backend)
    except pulp.PulpSolverError as exc:
        raise SolverError(f"{solver} failed to run: {exc}", status="error", solver=solver) from exc
    return _verified(problem, solver, time_limit, time.perf_counter() - started)


def resolve_fixed(
    problem: pulp.LpProblem,
    fixed: Mapping[pulp.LpVariable, float],
    solver: SolverName = "highs",
    time_limit: float | None = None,
) -> SolveOutcome:
    """Fix some variables of a problem solved by `solve_problem` and solve it again, verified.

    With HiGHS only those columns' bounds change in the model it still holds, so the simplex
    starts from the previous optimal basis (a warm start, no rebuild); CBC solves from scratch."""
    for var, value in fixed.items():
        var.lowBound = var.upBound = value
    highs = getattr(problem, "solverModel", None)
    if solver != "highs" or highs is None:
        return solve_problem(problem, solver, time_limit)
    indices = np.array([var.index for var in fixed], dtype=np.int32)
    values = np.array(list(fixed.values()), dtype=float)
    highs.changeColsBounds(len(indices), indices, values, values)
    highs.setOptionValue("time_limit", float("inf") if time_limit is None else float(time_limit))
    started = time.perf_counter()
    highs.run()
    seconds = time.perf_counter() - started
    problem.assignStatus(*pulp.HiGHS(msg=False).findSolutionValues(problem))
    return _verified(problem, solver, time_limit, seconds)


def _verified(
    problem: pulp.LpProblem, solver: SolverName, time_limit: float | None, seconds: float
) -> SolveOutcome:
    """The outcome of a solve that just ran, or a SolverError naming the solver's status."""
    status, detail = (
        _highs_outcome(problem, time_limit)
        if solver == "highs"
        else _cbc_outcome(problem, time_limit)
    )
    if not status:
        limit = f" within the time limit of {time_limit:g} s" if time_limit is not None else ""
        raise SolverError(
            f"{solver} did not prove an optimal plan{limit}: solver status {detail!r}",
            status=detail,
            solver=solver,
        )
    objective = float(pulp.value(problem.objective) or 0.0)
    return SolveOutcome(status, solver, objective, seconds, detail)
