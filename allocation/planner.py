"""`plan()`: validate inputs, build the LP, solve it, round to whole packs, explain the result."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pulp

from allocation.cycles import without_cycles
from allocation.decompose import Decomposition, Progress
from allocation.errors import AllocationInputError, SolverError
from allocation.explain import explain
from allocation.inputs import (
    DATE,
    FIRST_DAY,
    LAST_DAY,
    LOCATION,
    SKU,
    validate_demand,
    validate_stock,
)
from allocation.model import (
    ModelInputs,
    Variables,
    build_problem,
    prepare_inputs,
)
from allocation.network import Network
from allocation.packs import PackRepair, view_of_arrays, view_of_problem
from allocation.plan import (
    Plan,
    SolverFacts,
)
from allocation.policy import Policy
from allocation.scale import ArraySolution, build_arrays
from allocation.solution import (
    EPS,
    Solution,
    cost_terms,
    from_arrays,
    from_variables,
    write_solution,
)
from allocation.solve import (
    OPTIMAL,
    TIME_LIMITED,
    SolveOutcome,
    SolverName,
    resolve_fixed,
    solve_problem,
)
from allocation.whole_units import WholeUnits, whole_units

__all__ = ["plan"]

MILP_GAP = 1e-3  # relative gap at which the exact-packs MILP stops
# Money the whole-unit rounding may stay above its best rounding, relative to the plan's objective.
WHOLE_UNITS_GAP = 1e-3
DECOMPOSE_GAP = 1e-4  # relative gap to the LP optimum the decomposed path proves


# Past this many SKU-location series the PuLP build no longer fits comfortably (5.2 GB and
# 201 s at 3,000 SKUs x 50 locations; about 14 GiB at 10,000): only then is the LP decomposed.
# Both paths round packs alike (+52.7 % and +52.3 % over the LP at 1,000 x 50, seed 1).
DECOMPOSE_ABOVE_SERIES = 250_000


def plan(
    network: Network,
    stock: pd.DataFrame,
    demand: pd.DataFrame,
    policy: Policy | None = None,
    *,
    today: pd.Timestamp | str | None = None,
    solver: SolverName = "highs",
    time_limit: float | None = None,
    integer_packs: bool = False,
    decompose_above: int = DECOMPOSE_ABOVE_SERIES,
    workers: int = 1,
    progress: Progress | None = None,
    stock_source: str = "stock",
    demand_source: str = "demand",
) -> Plan:
    """Plan transfers and distributor replenishment for one review period.

    network, stock (sku, node, on_hand, in_transit, arrival_date), demand (forecast contract),
    policy (defaults when None). today: first day of the plan (default: first forecast date).
    solver: "highs" or "cbc". time_limit: seconds; when given, a feasible solution found within
    it is accepted and labelled "time_limited". integer_packs: exact pack sizes and MOQs with
    integer variables (a MILP, started from the plan LP mode makes: `_plan_exact`); otherwise
    the LP optimum is rounded to whole packs by a greedy repair (`allocation.packs.PackRepair`)
    and the LP is re-solved warm with them fixed (no MILP).

    decompose_above: in LP mode with HiGHS, an instance with more SKU-location demand series
    (rows of `needs`) than this is built as arrays (`allocation.scale`, no PuLP object per
    variable) and solved by SKU
    (`allocation.decompose`, proven within DECOMPOSE_GAP of the LP optimum, `workers`
    processes pricing SKUs); the same greedy repair rounds its suggestions, reading the arrays
    instead of a PuLP problem, and the decomposition, kept open, re-solves the LP around them
    warm from its last prices and from the repair's plan. SolverFacts.method says which path ran.
    On either path the transfers are then rounded to whole units (`allocation.whole_units`) and
    the LP re-solved once more with them fixed (SolverFacts.whole_units says how).
    progress: told each step (and each round of the decomposition) in words, as it starts.
    stock_source, demand_source: what input errors name the frames by (a file's path).
    """
    say = progress or _quiet
    policy = policy or Policy()
    first_day = None if today is None else _checked_today(pd.Timestamp(today))
    started = time.perf_counter()
    say("validating the stock and forecast, demand over each cover period")
    stock = validate_stock(stock, network, source=stock_source)
    demand = validate_demand(demand, network, source=demand_source)
    inputs = prepare_inputs(
        network,
        stock,
        demand,
        policy,
        today=first_day,
        integer_packs=integer_packs,
    )
    _check_horizon(inputs, demand, demand_source, today_given=first_day is not None)
    # The inputs hold what the plan reads: let the validated forecast go before the solve
    # (0.9 GB off the peak of a 10,000-SKU plan when the caller keeps no frame; BENCHMARKS.md).
    del stock, demand
    decomposed = not integer_packs and solver == "highs" and len(inputs.needs) > decompose_above
    say(
        f"{len(inputs.skus):,} SKUs, {len(inputs.needs):,} demand series: building the LP "
        + ("as arrays, to solve by SKU" if decomposed else "(PuLP)")
    )
    try:
        if decomposed:
            return _plan_decomposed(inputs, started, time_limit, workers, say)
        if not integer_packs:
            solution, facts = _plan_pulp(inputs, solver, time_limit, started, say)
        else:
            solution, facts = _plan_exact(inputs, solver, time_limit, started, say)
    except SolverError as exc:
        if time_limit is None or not exc.timed_out:
            raise
        # A later stage names its own share of the limit (0.005 s of 0.05 s): say why.
        raise SolverError(
            f"{exc} (the plan's stages share the time limit of {time_limit:g} s: each later "
            "stage gets what the earlier ones left, at least a tenth of it; give a longer one)",
            status=exc.status,
            solver=exc.solver,
            timed_out=True,
        ) from exc
    say("explaining the plan")
    return explain(inputs, solution, facts)


def _plan_pulp(
    inputs: ModelInputs,
    solver: SolverName,
    time_limit: float | None,
    started: float,
    say: Progress,
    start: Solution | None = None,
) -> tuple[Solution, SolverFacts]:
    """Build the problem with PuLP and solve it: the LP, its suggestions rounded to whole packs
    and its transfers to whole units (LP mode), or the exact-packs MILP (from `start`, a plan
    of the same instance, when given). started: when the build began, as `time.perf_counter()`."""
    exact = inputs.integer_packs
    problem, variables = build_problem(inputs)
    build_seconds = time.perf_counter() - started
    say(f"solving the {'MILP' if exact else 'LP'} with {solver}" + (" from it" if start else ""))
    outcome = solve_problem(
        problem,
        solver,
        time_limit,
        mip_gap=MILP_GAP if exact else None,
        start=None if start is None else _start(variables, start),
    )
    facts = SolverFacts(
        status=outcome.status,
        objective=outcome.objective,
        build_seconds=build_seconds,
        solve_seconds=outcome.seconds,
        solver=solver,
        detail=outcome.detail,
        rounding="milp" if exact else "none",
        lp_objective=None if exact else outcome.objective,
        gap=outcome.gap,
    )
    if not exact and variables.supply_free:
        facts = _round_packs(problem, variables, inputs, facts, solver, time_limit, say)
    facts = _whole_transfers(problem, variables, inputs, facts, solver, time_limit, say)
    facts = _cancel_cycles(problem, variables, inputs, facts)
    return from_variables(variables), facts


def _cancel_cycles(
    problem: pulp.LpProblem, variables: Variables, inputs: ModelInputs, facts: SolverFacts
) -> SolverFacts:
    """The solved flows without stock moved round a loop (`allocation.cycles`), where every row
    the changed flows are in still holds (a timing row may count an arrival the loop brought
    early); the objective and those rows' slacks are read again. Kept as solved otherwise."""
    solved = {key: float(x.varValue or 0.0) for key, x in variables.flow.items()}
    kept = without_cycles(solved, inputs.arcs)
    changed = [key for key, units in solved.items() if kept[key] != units]
    if not changed:
        return facts
    for key in changed:
        variables.flow[key].varValue = kept[key]
    moved = {variables.flow[key].name for key in changed}
    rows = [row for row in variables.constraints.values() if any(var.name in moved for var in row)]
    if not all(row.valid(EPS * max(1.0, abs(row.constant))) for row in rows):
        for key in changed:
            variables.flow[key].varValue = solved[key]
        return facts
    for row in rows:
        value = float(row.value() or 0.0)
        row.slack = -value if row.sense == pulp.LpConstraintLE else value
    units = sum(solved[key] - kept[key] for key in changed)
    note = f"{units:,.0f} units sent round loops of warehouses taken out"
    return replace(
        facts,
        objective=float(pulp.value(problem.objective) or 0.0),
        repair=note if facts.repair is None else f"{facts.repair}; {note}",
    )


def _plan_exact(
    inputs: ModelInputs,
    solver: SolverName,
    time_limit: float | None,
    started: float,
    say: Progress,
) -> tuple[Solution, SolverFacts]:
    """Exact packs: the MILP, started from the plan LP mode makes (whole packs by the greedy
    repair, whole units). The solver checks that plan and, when it takes it (HiGHS and CBC did
    in every run here), searches from it, so a time limit stops it at a plan at least as good,
    where on its own it may hold a far worse one or none (100 x 10, seed 1, 10 s: 74,031
    alone, 10,672 started; BENCHMARKS.md, "Exact packs", also for what the start costs where
    HiGHS's own root heuristic would have done better).

    LP mode's plan comes out of the same time limit; the MILP gets what is left of it, at least
    a tenth. Should LP mode fail (a re-solve its greedy cannot satisfy, its share of the limit),
    the MILP runs without a start and the plan says why. The facts count both passes' seconds,
    and LP mode's LP optimum is the MILP's lower bound too (its relaxation, packs continuous)."""
    say("planning with the greedy pack repair first, as the MILP's starting plan")
    first: Solution | None = None
    try:
        first, first_facts = _plan_pulp(
            replace(inputs, integer_packs=False), solver, time_limit, started, say
        )
        began = f"started from the greedy repair's plan (objective {first_facts.objective:,.2f}"
    except SolverError as exc:
        began = f"no start: LP mode's plan failed ({exc}"
    spent = time.perf_counter() - started
    solution, facts = _plan_pulp(
        inputs, solver, _left(time_limit, spent), time.perf_counter(), say, start=first
    )
    if first is not None:
        facts = replace(
            facts,
            build_seconds=first_facts.build_seconds + facts.build_seconds,
            solve_seconds=first_facts.solve_seconds + facts.solve_seconds,
            lp_objective=first_facts.lp_objective,
            repair_seconds=first_facts.repair_seconds,
            whole_units_seconds=first_facts.whole_units_seconds + facts.whole_units_seconds,
            start_objective=first_facts.objective,
        )
        if facts.status == TIME_LIMITED:
            facts = replace(facts, gap=_tighter_gap(facts.gap, facts.objective, facts.lp_objective))
    repair = f"packs exact by MILP ({_proven(facts.gap)}), {began}, {spent:.1f} s)"
    return solution, replace(facts, repair="; ".join(filter(None, (repair, facts.repair))))


def _tighter_gap(gap: float | None, objective: float, lp_objective: float | None) -> float | None:
    """A time-limited MILP's relative gap against the better of its own bound and the LP
    optimum (its relaxation): stopped by a short limit, the solver's own bound was 69 % below a
    plan that the LP proved within 2.4 %. CBC reports no gap; the LP's is then the one there
    is."""
    if lp_objective is None or not math.isfinite(lp_objective):
        return gap
    lp_gap = max(0.0, objective - lp_objective) / max(abs(objective), 1e-9)
    return lp_gap if gap is None or not math.isfinite(gap) else min(gap, lp_gap)


def _proven(gap: float | None) -> str:
    if gap is None:
        return "no gap reported"
    return f"within {gap:.2%} of its bound" if math.isfinite(gap) else "no bound proven yet"


def _start(variables: Variables, solution: Solution) -> dict[pulp.LpVariable, float]:
    """The exact-packs MILP's columns at `solution`, a plan of the same instance: its packs
    (k = units / pack) and MOQ switches from the suggestions, its whole flows without their
    solver dust (integer columns), every other column as it is."""
    start = {var: float(round(solution.flow[key])) for key, var in variables.flow.items()}
    for name in (
        "ending",
        "short",
        "safety_short",
        "early_short",
        "early_safety_short",
        "over",
        "fair_gap",
    ):
        values = getattr(solution, name)
        start.update({var: values[key] for key, var in getattr(variables, name).items()})
    for key, packs in variables.packs.items():
        units = solution.supply[key]
        (_var, pack), *_ = variables.supply[key].items()
        start[packs] = float(round(units / pack))
        if key in variables.opened:
            start[variables.opened[key]] = float(units > EPS)
    return start


def _checked_today(today: pd.Timestamp) -> pd.Timestamp:
    """The plan's first day, within the days a plan can name (`allocation.inputs.LAST_DAY`)."""
    if not FIRST_DAY <= today <= LAST_DAY:
        raise AllocationInputError(
            f"today {today.date()}: expected a day from {FIRST_DAY.date()} to {LAST_DAY.date()}",
            source="today",
            field="today",
        )
    return today


def _check_horizon(
    inputs: ModelInputs, demand: pd.DataFrame, source: str, today_given: bool
) -> None:
    """A plan whose cover periods hold no forecast day would plan for no demand at all and call
    that optimal: an error instead, with the dates the forecast does cover. With no `today` the
    plan starts on the forecast's earliest day, so one stale row left in a file hid every other
    series: then any series without a forecast day in its cover period is an error too. With
    `today` given, such a series (a SKU whose forecast ended) is planned for no demand."""
    needs = inputs.needs
    blind = needs[needs["forecast_days"] <= 0]
    if not len(blind) or (today_given and len(blind) < len(needs)):
        return
    first, last = demand[DATE].min(), demand[DATE].max()
    longest = int(needs["cover_days"].max())
    starting = f"the cover periods starting {inputs.today.date()} (up to {longest} days)"
    if len(blind) == len(needs):
        # With a today given, it is the day at fault (the service names it, not the dates).
        at_fault = "today" if today_given else source
        raise AllocationInputError(
            f"{at_fault}: no forecast date inside {starting}; the forecast covers "
            f"{first.date()} to {last.date()}",
            source=at_fault,
            field="today" if today_given else DATE,
        )
    sku, location = blind[SKU].iloc[0], blind[LOCATION].iloc[0]
    dates = demand.loc[(demand[SKU] == sku) & (demand[LOCATION] == location), DATE]
    raise AllocationInputError(
        f"{source}: {len(blind)} of {len(needs)} series have no forecast date inside "
        f"{starting}, e.g. {sku} at {location}, forecast {dates.min().date()} to "
        f"{dates.max().date()}; their demand would be planned as none: with no today given "
        f"the plan starts on the forecast's earliest date, {first.date()}: give today "
        "(--today), or leave out the rows before it",
        source=source,
        field=DATE,
        item=f"{sku}@{location}",
    )


def _quiet(_message: str) -> None:
    """The progress of a plan nobody watches."""


# ---------------------------------------------------------------------------------------------
# Large instances: the LP as arrays, solved by SKU, the suggestions rounded by the same repair.


def _plan_decomposed(
    inputs: ModelInputs, started: float, time_limit: float | None, workers: int, say: Progress
) -> Plan:
    arrays = build_arrays(inputs)
    build_seconds = time.perf_counter() - started
    with Decomposition(arrays, workers=workers) as decomposition:
        say(f"solving the LP by SKU ({arrays.shape[0]:,} rows x {arrays.shape[1]:,} columns)")
        solved = decomposition.solution(gap=DECOMPOSE_GAP, time_limit=time_limit, progress=say)
        lp = solved.objective
        facts = SolverFacts(
            status=solved.status,
            objective=lp,
            build_seconds=build_seconds,
            solve_seconds=solved.seconds,
            solver="highs",
            detail=_decomposed_detail(solved, time_limit),
            lp_objective=lp,
            method="decomposed",
            gap=solved.gap,
        )
        # Each rounding fixes its columns at whole values and the decomposition, kept open,
        # solves the LP again around them, warm from its last prices and bases and from the
        # rounded plan: the rest follows, every row the solver's to keep (as on the PuLP path).
        fixed = np.zeros(arrays.shape[1], dtype=bool)
        plan = np.array(solved.x)

        def resolve(letter: str, what: str) -> ArraySolution:
            fixed[arrays.col_key.letters() == letter] = True
            say(f"re-solving the LP around the {what}")
            try:
                return decomposition.solution(
                    gap=DECOMPOSE_GAP,
                    time_limit=_left(time_limit, facts.solve_seconds),
                    col_lower=np.where(fixed, plan, arrays.col_lower),
                    col_upper=np.where(fixed, plan, arrays.col_upper),
                    start_plan=plan,
                    progress=say,
                )
            except SolverError as exc:
                advice = _EXACT_ADVICE if letter == "y" else ""
                raise _resolve_failed(exc, what, "highs", advice) from exc

        began = time.perf_counter()
        lp_terms = cost_terms(arrays, solved.x)
        repair = PackRepair(inputs, view_of_arrays(inputs, arrays, solved.x))
        if repair.keys:
            say(f"rounding {len(repair.keys):,} suggestions to whole packs")
            repair.run()
            greedy_seconds = time.perf_counter() - began
            write_solution(plan, arrays, repair.plan())
            solved = resolve("y", "suggestions rounded to whole packs")
            facts = replace(
                facts,
                status=_worst(solved.status, facts.status),
                objective=solved.objective,
                solve_seconds=facts.solve_seconds + solved.seconds,
                repair=_packs_note(
                    repair,
                    "transfers re-optimised around them",
                    solved.objective,
                    lp,
                    _above(cost_terms(arrays, solved.x), lp_terms),
                ),
                rounding="greedy",
                repair_seconds=greedy_seconds,
            )
        # The greedy's copy of the LP (a dict per variable kind) is done with: let it go before
        # the whole-unit rounding reads the LP again (the peak of a 10,000-SKU plan).
        del repair
        say("rounding the transfers to whole units")
        whole = whole_units(
            view_of_arrays(inputs, arrays, solved.x),
            inputs.arcs,
            WHOLE_UNITS_GAP * abs(facts.objective),
            _left(time_limit, facts.solve_seconds),
        )
        if whole.flows:
            # The start plan: the LP's, with the whole flows and what follows from them.
            plan = np.array(solved.x)
            write_solution(plan, arrays, {"flow": whole.flows, **whole.changes})
            solved = resolve("x", "transfers rounded to whole units")
            facts = replace(
                facts,
                status=_worst(whole.status, _worst(solved.status, facts.status)),
                objective=solved.objective,
                solve_seconds=facts.solve_seconds + solved.seconds,
                whole_units=_units_note(whole, facts.objective, solved.objective),
                whole_units_seconds=whole.seconds,
                fractional_objective=facts.objective,
            )
    say("explaining the plan")
    return explain(inputs, from_arrays(arrays, solved.x), facts)


def _worst(status: str, before: str) -> str:
    """A plan's status after another solve: time-limited when either was."""
    return status if status != OPTIMAL else before


def _decomposed_detail(solved: ArraySolution, time_limit: float | None) -> str:
    if solved.status == OPTIMAL:
        return f"decomposed by SKU, LP proven within {DECOMPOSE_GAP:.2%} of its optimum"
    proven = "no gap proven" if solved.gap is None else f"proven within {solved.gap:.2%}"
    return f"decomposed by SKU, stopped by the {time_limit:g} s time limit: LP {proven}"


# The CLI's flag and the API's field: the message reaches both.
_EXACT_ADVICE = "plan with exact packs instead (--integer-packs, or integer_packs in the API)"


def _left(time_limit: float | None, spent: float) -> float | None:
    """The time limit of the re-solve around whole packs after the LP took `spent` seconds:
    what is left of the limit, and at least a tenth of it (a re-solve with no time could only
    fail), so a plan takes at most 1.1 x the limit in the solver."""
    return None if time_limit is None else max(0.1 * time_limit, time_limit - spent)


# ---------------------------------------------------------------------------------------------
# Pack rounding (LP mode): a greedy over the LP optimum, then a warm LP re-solve around it.


def _round_packs(
    problem: pulp.LpProblem,
    variables: Variables,
    inputs: ModelInputs,
    facts: SolverFacts,
    solver: SolverName,
    time_limit: float | None,
    say: Progress,
) -> SolverFacts:
    """Round the LP's suggestions to whole packs / MOQ, then re-solve the LP around them.

    The greedy (`_PackRepair`) picks every suggestion's whole packs; the LP is then solved again
    with the suggestions fixed there (warm-started, an LP, never a MILP), so transfers, stock left,
    shortage and fair-share gaps are the solver's optimum for those suggestions and every row is
    the solver's to keep. The greedy keeps every row with its own transfers (a warehouse that
    rounding down filled past its capacity is relieved first), so the re-solve is feasible in
    practice; should it fail all the same, the error says so and points to exact mode."""
    started = time.perf_counter()
    lp_terms = _terms(variables)
    repair = PackRepair(inputs, view_of_problem(inputs, variables, problem))
    say(f"rounding {len(repair.keys):,} suggestions to whole packs")
    repair.run()
    greedy_seconds = time.perf_counter() - started
    # Whole packs of whole units: drop the float dust the greedy's steps leave.
    fixed = {y: float(round(repair.y[k])) for k, y in variables.supply_free.items()}
    say("re-solving the LP around the whole packs")
    outcome = _resolve(
        problem,
        fixed,
        solver,
        _left(time_limit, facts.solve_seconds),
        "suggestions rounded to whole packs",
        advice=_EXACT_ADVICE,
    )
    note = _packs_note(
        repair,
        "transfers re-optimised around them",
        outcome.objective,
        facts.objective,
        _above(_terms(variables), lp_terms),
    )
    return replace(
        facts,
        status=_worst(outcome.status, facts.status),
        objective=outcome.objective,
        solve_seconds=facts.solve_seconds + outcome.seconds,
        detail=outcome.detail,
        repair=note,
        rounding="greedy",
        repair_seconds=greedy_seconds,
    )


def _resolve(
    problem: pulp.LpProblem,
    fixed: dict[pulp.LpVariable, float],
    solver: SolverName,
    time_limit: float | None,
    what: str,
    advice: str = "",
) -> SolveOutcome:
    """`resolve_fixed`, its failure saying what was fixed and, when given, what to do."""
    try:
        return resolve_fixed(problem, fixed, solver, time_limit)
    except SolverError as exc:
        raise _resolve_failed(exc, what, solver, advice) from exc


def _resolve_failed(exc: SolverError, what: str, solver: str, advice: str) -> SolverError:
    """The error of a re-solve around fixed columns: what was fixed, why it failed, and what
    to do when there is advice; a re-solve stopped by the time limit needs more time instead
    (exact packs would need even more)."""
    advice = "" if exc.timed_out else advice
    return SolverError(
        f"re-solving the LP around the {what} failed ({exc})" + (f"; {advice}" if advice else ""),
        status=exc.status,
        solver=solver,
        timed_out=exc.timed_out,
    )


def _whole_transfers(
    problem: pulp.LpProblem,
    variables: Variables,
    inputs: ModelInputs,
    facts: SolverFacts,
    solver: SolverName,
    time_limit: float | None,
    say: Progress,
) -> SolverFacts:
    """Round the transfers to whole units (`allocation.whole_units`), then solve the LP again
    with them and the suggestions fixed, so the stock left, shortage and gaps are the solver's
    for those transfers and every row is checked by it once more."""
    say("rounding the transfers to whole units")
    whole = whole_units(
        view_of_problem(inputs, variables, problem),
        inputs.arcs,
        WHOLE_UNITS_GAP * abs(facts.objective),
        _left(time_limit, facts.solve_seconds),
    )
    if not whole.flows:
        return facts
    fixed = {variables.flow[key]: units for key, units in whole.flows.items()}
    # Exact packs: the packs and MOQ switches as the MILP chose them.
    switches = [*variables.packs.values(), *variables.opened.values()]
    fixed.update({v: float(round(v.varValue or 0.0)) for v in switches})
    say("re-solving the LP around the whole transfers")
    outcome = _resolve(
        problem,
        fixed,
        solver,
        _left(time_limit, facts.solve_seconds),
        "transfers rounded to whole units",
    )
    return replace(
        facts,
        status=_worst(whole.status, _worst(outcome.status, facts.status)),
        objective=outcome.objective,
        solve_seconds=facts.solve_seconds + outcome.seconds,
        whole_units=_units_note(whole, facts.objective, outcome.objective),
        whole_units_seconds=whole.seconds,
        fractional_objective=facts.objective,
    )


def _units_note(whole: WholeUnits, before: float, after: float) -> str:
    above = whole.above / abs(after) if after else 0.0
    return (
        f"{whole.rounded:,} transfer(s) of {whole.skus:,} SKU(s) rounded to whole units by a "
        f"MILP (searching {whole.searched:,} of the SKUs; {whole.seconds:.1f} s, at most "
        f"{above:.2%} above the best rounding); objective {before:,.2f} -> {after:,.2f} "
        f"(+{_share(after - before, before)})"
    )


def _packs_note(
    repair: PackRepair, transfers: str, objective: float, lp: float, above: dict[str, float]
) -> str:
    """The packs line: how many suggestions moved, and the objective against the LP bound
    with the cost terms that make the difference (`above`, money), largest first."""
    raised, lowered = repair.changes()
    return (
        f"{raised + lowered} suggestion(s) rounded to whole packs / MOQ by greedy repair "
        f"({raised} up, {lowered} down; no MILP), {transfers}; objective {objective:,.2f} vs LP "
        f"bound {lp:,.2f} (+{_share(objective - lp, lp)}{_split(above)})"
    )


def _terms(variables: Variables) -> dict[str, float]:
    """The objective at the PuLP problem's current values, by cost term (money)."""
    return {term: float(pulp.value(money) or 0.0) for term, money in variables.cost_terms.items()}


def _above(terms: dict[str, float], lp: dict[str, float]) -> dict[str, float]:
    return {term: money - lp.get(term, 0.0) for term, money in terms.items()}


# What a cost term's rise over the LP bound means once the packs are whole.
_TERM_WORDS = {
    "fair_share_penalty": "fair-share penalty (tiers below their share in whole packs)",
    "shortage_penalty": "shortage penalty",
    "overstock_penalty": "overstock penalty",
    "transport": "transport",
    "holding": "holding",
}


def _split(above: dict[str, float]) -> str:
    """': fair-share penalty (...) +5,346.01, shortage penalty +1,100.00', the terms that moved
    by a cent or more, largest first; empty when none did."""
    moved = sorted(
        ((term, money) for term, money in above.items() if abs(money) >= 0.005),
        key=lambda item: -abs(item[1]),
    )
    words = [f"{_TERM_WORDS.get(term, term)} {money:+,.2f}" for term, money in moved]
    return f": {', '.join(words)}" if words else ""


def _share(part: float, whole: float) -> str:
    return f"{part / abs(whole):.1%}" if whole else f"{part:,.2f}"
