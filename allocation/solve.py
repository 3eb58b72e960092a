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
from allocation.highs import fit_tolerance, quiet_highs

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
    detail: the solver's own status words; gap: a MILP's relative gap between its solution and
    its proven bound, where the solver reports one (HiGHS; None for an LP and for CBC)."""

    status: str
    solver: SolverName
    objective: float
    seconds: float
    detail: str
    gap: float | None = None


def _make_solver(
    name: SolverName, time_limit: float | None, mip_gap: float | None, warm_start: bool = False
) -> pulp.LpSolver:
    if name == "highs":
        return pulp.HiGHS(msg=False, timeLimit=time_limit, threads=1, gapRel=mip_gap)
    if name == "cbc":
        return pulp.PULP_CBC_CMD(
            msg=False, timeLimit=time_limit, threads=1, gapRel=mip_gap, warmStart=warm_start
        )
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
    if not problem.isMIP() and problem.sol_status == pulp.LpSolutionIntegerFeasible:
        detail = f"stopped before an optimum ({detail})"  # "Optimal / Solution Found" misleads
    # Only a MILP's incumbent is a plan: an LP stopped mid-simplex hands back a point CBC
    # calls a solution that need not keep every row (then the next stage found it infeasible).
    if (
        time_limit is not None
        and problem.isMIP()
        and problem.sol_status == pulp.LpSolutionIntegerFeasible
    ):
        return TIME_LIMITED, detail
    return "", detail


def solve_problem(
    problem: pulp.LpProblem,
    solver: SolverName = "highs",
    time_limit: float | None = None,
    mip_gap: float | None = None,
    start: Mapping[pulp.LpVariable, float] | None = None,
) -> SolveOutcome:
    """Solve and verify. time_limit (seconds): when given, a feasible best solution found within
    it is accepted and labelled "time_limited"; without it only a proven optimum passes.
    mip_gap: relative gap at which a MILP counts as solved (the solver's default when None).
    start: a MILP's starting solution, a value for every variable; the solver checks it and,
    when it takes it (feasible within its tolerances), searches from it, so a time-limited
    result is no worse."""
    started = time.perf_counter()
    if start is not None:  # inside the bounds: another solve's values carry its tolerances
        start = {var: _clipped(var, value) for var, value in start.items()}
    if solver == "highs":
        _run_highs(problem, time_limit, mip_gap, start)
    else:
        for var, value in (start or {}).items():
            var.setInitialValue(value)
        try:
            problem.solve(_make_solver(solver, time_limit, mip_gap, warm_start=start is not None))
        except pulp.PulpSolverError as exc:
            raise SolverError(
                f"{solver} failed to run: {exc}", status="error", solver=solver
            ) from exc
    return _verified(problem, solver, time_limit, time.perf_counter() - started)


def _clipped(var: pulp.LpVariable, value: float) -> float:
    low = -np.inf if var.lowBound is None else var.lowBound
    high = np.inf if var.upBound is None else var.upBound
    return float(min(max(value, low), high))


def resolve_fixed(
    problem: pulp.LpProblem,
    fixed: Mapping[pulp.LpVariable, float],
    solver: SolverName = "highs",
    time_limit: float | None = None,
) -> SolveOutcome:
    """Fix some variables of a problem solved by `solve_problem` and solve it again, verified.

    Only bounds may have changed since. With HiGHS only those columns' bounds change in the
    model it still holds, so the simplex starts from the previous optimal basis (a warm start,
    no rebuild); CBC solves from scratch."""
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
    _read_highs(problem)
    return _verified(problem, solver, time_limit, time.perf_counter() - started)


def _run_highs(
    problem: pulp.LpProblem,
    time_limit: float | None,
    mip_gap: float | None,
    start: Mapping[pulp.LpVariable, float] | None,
) -> None:
    """Hand the problem to HiGHS as arrays in one call, run it, read the solution back.

    PuLP's own HiGHS interface adds one column and one row per call into highspy and lists the
    variables again (walking every constraint) each time it builds or reads a model; at
    thousands of SKUs that costs more than the simplex. The model stays in
    `problem.solverModel` (as PuLP keeps it), the columns in `problem.highs_columns`."""
    import highspy

    columns = problem.variables()
    rows = problem.constraints()
    for i, var in enumerate(columns):
        var.index = i
    cost = np.zeros(len(columns))
    for var, coefficient in problem.objective.items():
        cost[var.index] = coefficient
    starts, indices, values = [0], [], []
    lower, upper = np.full(len(rows), -highspy.kHighsInf), np.full(len(rows), highspy.kHighsInf)
    for r, row in enumerate(rows):
        for var, coefficient in row.items():
            indices.append(var.index)
            values.append(coefficient)
        starts.append(len(indices))
        if row.sense != pulp.LpConstraintLE:
            lower[r] = -row.constant
        if row.sense != pulp.LpConstraintGE:
            upper[r] = -row.constant
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(columns), len(rows)
    lp.col_cost_ = cost
    lp.offset_ = float(problem.objective.constant)
    col_lower = np.array(
        [-highspy.kHighsInf if v.lowBound is None else v.lowBound for v in columns], dtype=float
    )
    col_upper = np.array(
        [highspy.kHighsInf if v.upBound is None else v.upBound for v in columns], dtype=float
    )
    lp.col_lower_, lp.col_upper_ = col_lower, col_upper
    lp.row_lower_, lp.row_upper_ = lower, upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(columns), len(rows)
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(indices, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(values, dtype=float)
    if any(v.cat == pulp.LpInteger for v in columns):
        lp.integrality_ = [
            highspy.HighsVarType.kInteger
            if v.cat == pulp.LpInteger
            else highspy.HighsVarType.kContinuous
            for v in columns
        ]
    highs = quiet_highs()
    fit_tolerance(highs, col_lower, col_upper, lower, upper)
    if time_limit is not None:
        highs.setOptionValue("time_limit", float(time_limit))
    if mip_gap is not None:
        highs.setOptionValue("mip_rel_gap", float(mip_gap))
    highs.passModel(lp)
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = [start[var] for var in columns]
        solution.value_valid = True
        highs.setSolution(solution)
    problem.solverModel, problem.highs_columns = highs, columns
    highs.run()
    _read_highs(problem)


def _read_highs(problem: pulp.LpProblem) -> None:
    """Copy HiGHS's column values into the variables and row slacks into the constraints
    (PuLP's sign convention: >= 0 when the row holds)."""
    solution = problem.solverModel.getSolution()
    if not solution.value_valid:  # nothing to read; the status check names why
        return
    for var, value in zip(problem.highs_columns, solution.col_value, strict=True):
        var.varValue = value
    for row, value in zip(problem.constraints(), solution.row_value, strict=True):
        slack = row.constant + value
        row.slack = -slack if row.sense == pulp.LpConstraintLE else slack


def _stopped_at_limit(
    problem: pulp.LpProblem, solver: SolverName, time_limit: float | None
) -> bool:
    """Whether a solve that proved nothing stopped at its time limit (not on the model)."""
    if time_limit is None:
        return False
    if solver == "highs":
        import highspy

        return bool(problem.solverModel.getModelStatus() == highspy.HighsModelStatus.kTimeLimit)
    # CBC says nothing of its limit: stopped there it is "Not Solved", or "Optimal" with a point
    # it did not prove; a model it could prove nothing for is "Infeasible" or "Unbounded".
    return bool(problem.status in (pulp.LpStatusNotSolved, pulp.LpStatusOptimal))


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
            timed_out=_stopped_at_limit(problem, solver, time_limit),
        )
    objective = float(pulp.value(problem.objective) or 0.0)
    gap = None
    if solver == "highs" and problem.isMIP():
        gap = float(problem.solverModel.getInfo().mip_gap)
    return SolveOutcome(status, solver, objective, seconds, detail, gap)
