"""`plan()`: validate inputs, build the LP, solve it, round to whole packs, explain the result."""

from __future__ import annotations

import datetime as dt
import heapq
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from graphlib import TopologicalSorter
from typing import Any

import numpy as np
import pandas as pd
import pulp

from allocation.decompose import Decomposition, Progress
from allocation.errors import AllocationInputError, SolverError, listed
from allocation.inputs import (
    DATE,
    FIRST_DAY,
    IN_TRANSIT,
    LAST_DAY,
    LOCATION,
    NODE,
    ON_HAND,
    SKU,
    validate_demand,
    validate_stock,
)
from allocation.model import (
    Arc,
    ModelInputs,
    Variables,
    build_problem,
    early_days,
    prepare_inputs,
)
from allocation.network import Distributor, Network
from allocation.packs import PackRepair, SupplyKey, view_of_arrays, view_of_problem
from allocation.plan import (
    ALERT_COLUMNS,
    REPLENISHMENT_COLUMNS,
    TRANSFER_COLUMNS,
    UNMET_COLUMNS,
    AlertKind,
    Plan,
    SolverFacts,
)
from allocation.policy import CATCHMENT, Policy
from allocation.scale import ArraySolution, LpArrays, build_arrays, settle_early
from allocation.schedule import Line, departures
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

LATE = "late"  # in a line's binding: it arrives after its destination's cover period

_EPS = 1e-6
MILP_GAP = 1e-3  # relative gap at which the exact-packs MILP stops
# Money the whole-unit rounding may stay above its best rounding, relative to the plan's objective.
WHOLE_UNITS_GAP = 1e-3
_SMALL = 0.01  # units; less unmet than this is rounding noise, not a shortage worth a line
_ONWARD_SHOWN = 3  # destinations a transfer's reason names where its units go on
_DECIMALS = 6  # of a plan line's units: 2.999999999999999 is the solver's float dust, not a plan
DECOMPOSE_GAP = 1e-4  # relative gap to the LP optimum the decomposed path proves
_BIND = 1e-6  # a row whose slack is this close to zero binds (names the constraint in a line)
_CAPACITY_ROWS = ("capacity[", "lane_capacity[")  # rows whose room `Solution.room` keeps


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
    return _from_variables(variables), facts


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
    return solution, replace(
        facts, repair=f"packs exact by MILP ({_proven(facts.gap)}), {began}, {spent:.1f} s)"
    )


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
            start[variables.opened[key]] = float(units > _EPS)
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

# Column letter of `LpArrays.col_key` -> the `Solution` field and the cost term it belongs to.
_FIELD = {
    "x": "flow",
    "y": "supply",
    "e": "ending",
    "u": "short",
    "v": "safety_short",
    "b": "early_short",
    "c": "early_safety_short",
    "o": "over",
    "g": "fair_gap",
}
_TERM = {
    "x": "transport",
    "y": "transport",
    "e": "holding",
    "u": "shortage_penalty",
    "v": "shortage_penalty",
    "b": "shortage_penalty",
    "c": "shortage_penalty",
    "o": "overstock_penalty",
    "g": "fair_share_penalty",
}


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
        repair = PackRepair(inputs, view_of_arrays(inputs, arrays, solved.x))
        if repair.keys:
            say(f"rounding {len(repair.keys):,} suggestions to whole packs")
            repair.run()
            greedy_seconds = time.perf_counter() - began
            _write(plan, arrays, repair.plan())
            solved = resolve("y", "suggestions rounded to whole packs")
            facts = replace(
                facts,
                status=_worst(solved.status, facts.status),
                objective=solved.objective,
                solve_seconds=facts.solve_seconds + solved.seconds,
                repair=_packs_note(
                    repair, "transfers re-optimised around them", solved.objective, lp
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
            _write(plan, arrays, {"flow": whole.flows, **whole.changes})
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
    return explain(inputs, _from_arrays(inputs, arrays, solved.x), facts)


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


def _by_field(arrays: LpArrays, values: np.ndarray) -> dict[str, dict[Any, float]]:
    """Column values (a solution, or the costs) as {`Solution` field: {model key: value}}."""
    groups: dict[str, dict[Any, float]] = {name: {} for name in _FIELD.values()}
    for letter, (keys, index) in arrays.col_key.by_letter().items():
        groups[_FIELD[letter]].update(zip(keys, values[index].tolist(), strict=True))
    return groups


def _write(plan: np.ndarray, arrays: LpArrays, values: dict[str, dict[Any, float]]) -> None:
    """Write into `plan` (a column vector of `arrays`) the values given by `Solution` field and
    model key (the inverse of `_by_field`); a column whose key is not given keeps its value,
    but the early shortages, which follow from the rest (`settle_early`): the plan keeps every
    row, as the decomposition's start must."""
    for letter, (keys, index) in arrays.col_key.by_letter().items():
        given = values.get(_FIELD[letter], {})
        if given:
            kept = plan[index].tolist()
            plan[index] = [given.get(key, old) for key, old in zip(keys, kept, strict=True)]
    settle_early(arrays, plan)


def _from_arrays(inputs: ModelInputs, arrays: LpArrays, x: np.ndarray) -> Solution:
    """The array LP's solution by `build_problem`'s keys (`LpArrays.col_key`); the rows that
    explain names bind when they are at a bound (cross_region: its x at its upper bound)."""
    groups = _by_field(arrays, x)
    letters = arrays.col_key.letters()
    money = arrays.cost * x
    terms = dict.fromkeys(_TERM.values(), 0.0)
    for letter, term in _TERM.items():
        terms[term] += float(money[letters == letter].sum())
    names = list(arrays.row_name)
    rows = np.array([arrays.row_name[name] for name in names], dtype=np.int64)
    activity = arrays.matrix[rows] @ x if len(rows) else np.zeros(0)
    upper, lower = arrays.row_upper[rows], arrays.row_lower[rows]
    bound = np.where(np.isfinite(upper), upper, lower)
    binding = {names[i] for i in np.nonzero(np.abs(activity - bound) < _BIND)[0]}
    room = {
        name: float(upper[i] - activity[i])
        for i, name in enumerate(names)
        if name.startswith(_CAPACITY_ROWS)
    }
    flow_keys, flows = arrays.col_key.of("x")
    cap = arrays.col_upper[flows]
    for j in np.nonzero(np.isfinite(cap) & (x[flows] >= cap - _BIND))[0]:
        s, a = flow_keys[j]
        binding.add(f"cross_region[{s},{inputs.arcs[int(a)].name}]")
    return Solution(**groups, cost_terms=terms, binding=binding, room=room)


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
        repair, "transfers re-optimised around them", outcome.objective, facts.objective
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


def _packs_note(repair: PackRepair, transfers: str, objective: float, lp: float) -> str:
    raised, lowered = repair.changes()
    return (
        f"{raised + lowered} suggestion(s) rounded to whole packs / MOQ by greedy repair "
        f"({raised} up, {lowered} down; no MILP), {transfers}; objective {objective:,.2f} vs LP "
        f"bound {lp:,.2f} (+{_share(objective - lp, lp)})"
    )


def _share(part: float, whole: float) -> str:
    return f"{part / abs(whole):.1%}" if whole else f"{part:,.2f}"


# ---------------------------------------------------------------------------------------------
# Explanation: frames with the numbers behind every line.


def _value(item: Any) -> float:
    if isinstance(item, pulp.LpVariable):  # most lines: read the value, no expression walk
        return float(item.varValue or 0.0)
    return float(pulp.value(item) or 0.0)


@dataclass
class Solution:
    """A solved LP as plain numbers, whichever way it was built: the values of `Variables`
    (units, by the same keys), the cost split (money) and the names of the binding rows."""

    flow: dict[tuple[str, int], float]
    supply: dict[SupplyKey, float]
    ending: dict[tuple[str, str], float]
    short: dict[tuple[str, str], float]
    safety_short: dict[tuple[str, str], float]
    early_short: dict[tuple[str, str], float]
    early_safety_short: dict[tuple[str, str], float]
    over: dict[tuple[str, str], float]
    fair_gap: dict[tuple[str, str], float]
    cost_terms: dict[str, float]
    binding: set[str]
    # Room left in each capacity and lane-capacity row (its units: units or volume). After
    # whole units a row may keep less than one unit's room: full, though its slack is not 0.
    room: dict[str, float] = field(default_factory=dict)


def _from_variables(variables: Variables) -> Solution:
    """The PuLP problem's solution; a row binds when its slack is (solver) zero."""

    def values(group: dict[Any, Any]) -> dict[Any, float]:
        return {key: _value(item) for key, item in group.items()}

    slack = {
        name: row.slack for name, row in variables.constraints.items() if row.slack is not None
    }
    return Solution(
        flow=values(variables.flow),
        supply=values(variables.supply),
        ending=values(variables.ending),
        short=values(variables.short),
        safety_short=values(variables.safety_short),
        early_short=values(variables.early_short),
        early_safety_short=values(variables.early_safety_short),
        over=values(variables.over),
        fair_gap=values(variables.fair_gap),
        cost_terms=values(variables.cost_terms),
        binding={name for name, value in slack.items() if abs(value) < _BIND},
        room={
            name: float(value) for name, value in slack.items() if name.startswith(_CAPACITY_ROWS)
        },
    )


def explain(inputs: ModelInputs, solution: Solution, facts: SolverFacts) -> Plan:
    """Turn a solved problem into the plan's frames, alerts and KPIs."""
    orders, timed_out = _orders(inputs, solution), _timed_out(inputs, solution)
    transfers, replenishment = _scheduled(
        inputs, _transfers(inputs, solution), _replenishment(inputs, solution, orders, timed_out)
    )
    unmet = _unmet(inputs, solution, orders, timed_out)
    alerts = _alerts(inputs, solution, replenishment)
    kpis = _kpis(inputs, solution, transfers, replenishment, unmet)
    return Plan(
        transfers=transfers,
        replenishment=replenishment,
        unmet=unmet,
        alerts=alerts,
        kpis=kpis,
        solver=facts,
        today=inputs.today,
        needs=inputs.needs,
    )


def _scheduled(
    inputs: ModelInputs, transfers: pd.DataFrame, replenishment: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables with the day each line can leave (`departs`) and arrive (`arrives`) once the
    stock it carries is at its origin (`allocation.schedule`); a line that then arrives after
    its destination's cover period says so in `binding` and `reason` (README: chains of
    lanes)."""
    lead = {(a.origin, a.destination, a.kind): a.lead_time_days for a in inputs.arcs}
    delivery = {(d.warehouse, d.distributor): d.lead_time_days for d in inputs.deliveries}
    window = inputs.window
    stock = inputs.stock
    keys = list(zip(stock[SKU], stock[NODE], strict=True))
    on_hand = dict(zip(keys, stock[ON_HAND].astype(float), strict=True))
    runs_out = _runs_out(inputs, on_hand)
    penalty = inputs.policy.shortage_penalty
    tier = {d.id: d.tier for d in inputs.network.distributors}
    priority = {node: penalty[tier.get(node, CATCHMENT)] for node in window}
    lines = [
        Line(s, o, d, q, lead[(o, d, k)], window[d], runs_out(s, d), priority[d])
        for s, o, d, q, k in zip(
            transfers[SKU],
            transfers["origin"],
            transfers["destination"],
            transfers["quantity"].astype(float),
            transfers["kind"],
            strict=True,
        )
    ] + [
        Line(s, w, d, q, delivery[(w, d)], window[d], runs_out(s, d), priority[d])
        for s, w, d, q in zip(
            replenishment[SKU],
            replenishment["source"],
            replenishment["distributor"],
            replenishment["quantity"].astype(float),
            strict=True,
        )
    ]
    arrivals = inputs.arrivals
    in_transit = _landing(
        arrivals[SKU], arrivals[NODE], arrivals["in_time_day"], arrivals["in_time"]
    )
    lanes = inputs.network.lanes
    order = TopologicalSorter(  # upstream first: each warehouse after its lanes' origins
        {
            w.id: {lane.origin for lane in lanes if lane.destination == w.id}
            for w in inputs.network.warehouses
        }
    ).static_order()
    leave = departures(lines, on_hand, in_transit, order)
    n = len(transfers)
    return _dated(transfers, lines[:n], leave[:n], inputs.today), _dated(
        replenishment, lines[n:], leave[n:], inputs.today
    )


def _runs_out(
    inputs: ModelInputs, on_hand: dict[tuple[str, str], float]
) -> Callable[[str, str], float]:
    """Days a node's stock on hand of a SKU lasts at its daily demand (a warehouse's: its
    catchment and the distributors it serves; a distributor's: its forecast); infinite where
    it sells nothing."""
    daily = _by_key(inputs.needs[inputs.needs["kind"] == "distributor"], LOCATION, "daily")
    daily.update(inputs.node_daily)

    def days(s: str, node: str) -> float:
        rate = daily.get((s, node), 0.0)
        return on_hand.get((s, node), 0.0) / rate if rate > 0 else math.inf

    return days


def _dated(
    frame: pd.DataFrame, lines: list[Line], leave: np.ndarray, today: pd.Timestamp
) -> pd.DataFrame:
    """frame with `departs` and `arrives` from the schedule, late lines marked."""
    frame = frame.copy()
    lead = np.array([line.lead for line in lines], dtype=int)
    window = np.array([line.window for line in lines], dtype=int)
    arrival = leave.astype(int) + lead
    days = _dates(today, set(leave.astype(int).tolist()) | set(arrival.tolist()))
    frame["departs"] = [days[int(day)] for day in leave]
    frame["arrives"] = [days[int(day)] for day in arrival]
    late = np.flatnonzero(arrival >= window)
    if len(late):
        binding, reason = frame["binding"].tolist(), frame["reason"].tolist()
        for i in late.tolist():
            binding[i] = ";".join(part for part in (binding[i], LATE) if part)
            reason[i] += (
                f"; late: its stock is at {lines[i].origin} on day {int(leave[i])}, so it "
                f"arrives on day {int(arrival[i])}, after the {window[i]}-day cover period"
            )
        frame["binding"], frame["reason"] = binding, reason
    return frame


def _is_late(frame: pd.DataFrame) -> pd.Series:
    """Lines whose binding holds the word `late` the schedule adds (`_dated`), not a row name
    that happens to contain it (capacity[plate-1])."""
    return frame["binding"].astype(str).str.split(";").map(lambda parts: LATE in parts)


def _by_key(frame: pd.DataFrame, location: str, column: str) -> dict[tuple[str, str], float]:
    """{(sku, location): value} of one column: a dict lookup per plan line, not a MultiIndex one."""
    keys = zip(frame[SKU], frame[location], strict=True)
    return dict(zip(keys, frame[column].astype(float).round(_DECIMALS), strict=True))


def _dates(today: pd.Timestamp, offsets: Iterable[int]) -> dict[int, pd.Timestamp]:
    """The date of each day offset from today: one Timestamp sum per offset, not per plan line."""
    return {days: today + pd.Timedelta(days=days) for days in set(offsets)}


def _transfers(inputs: ModelInputs, solution: Solution) -> pd.DataFrame:
    means = _by_key(inputs.needs, LOCATION, "mean")
    safeties = _by_key(inputs.needs, LOCATION, "safety")
    seen = _by_key(inputs.needs, LOCATION, "forecast_days")
    on_hands = _by_key(inputs.stock, "node", ON_HAND)
    in_times = _by_key(inputs.stock, "node", "in_time")
    onward = _onward(inputs, solution)
    first_day = early_days(inputs.arcs)
    early = _by_key(inputs.early, LOCATION, "forecast")
    early_stock = _by_key(inputs.early, LOCATION, "stock")
    rows = []
    for (s, i), quantity in solution.flow.items():
        if quantity <= _EPS:
            continue
        arc = inputs.arcs[i]
        dest = (s, arc.destination)
        forecast = means.get(dest, 0.0)
        safety = safeties.get(dest, 0.0)
        on_hand = on_hands.get(dest, 0.0)
        in_transit = in_times.get(dest, 0.0)
        window = inputs.window[arc.destination]
        binding = [
            name
            for name in (
                f"lane_capacity[{arc.name}]",
                f"capacity[{arc.destination}]",
                f"cross_region[{s},{arc.name}]",
            )
            if _full(inputs, solution, name, s)
        ]
        if arc.kind == "lane":
            why = "supply down the chain"
        elif arc.kind == "lateral":
            why = "lateral transfer within the region"
        else:
            excess = inputs.cross_region_cap.get((s, arc.origin), 0.0)
            why = (
                f"cross-region transfer of overstock ({excess:.0f} units above the bound at origin)"
            )
        rows.append(
            {
                "sku": s,
                "origin": arc.origin,
                "destination": arc.destination,
                "quantity": round(quantity, _DECIMALS),
                "kind": arc.kind,
                "cost_per_unit": arc.cost_per_unit,
                "dest_forecast": forecast,
                "dest_safety_stock": safety,
                "dest_on_hand": on_hand,
                "dest_in_transit": in_transit,
                "binding": ";".join(binding),
                "reason": (
                    f"{why}: {arc.destination} "
                    + (
                        f"forecast {forecast:.1f} over {window} days"
                        f"{_scaled_from(seen.get(dest, window), window)} + safety stock "
                        f"{safety:.1f}"
                        if dest in means or dest not in onward
                        else "has no demand of its own"
                    )
                    + (_passed_on(onward[dest]) if dest in onward else "")
                    + f", on hand {on_hand:.1f}, in transit {in_transit:.1f}"
                    + (
                        f"; lands on day {arc.lead_time_days}, before its lane can (day "
                        f"{first_day[arc.destination]}): forecast {early[dest]:.1f} over those "
                        f"days, {early_stock[dest]:.1f} there by then"
                        if dest in early and arc.lead_time_days < first_day[arc.destination]
                        else ""
                    )
                ),
            }
        )
    return pd.DataFrame(rows, columns=TRANSFER_COLUMNS)


def _onward(
    inputs: ModelInputs, solution: Solution
) -> dict[tuple[str, str], list[tuple[str, float]]]:
    """What each (sku, warehouse) sends on in the plan: its transfers out and its supply to
    distributors, as (destination, units), largest first."""
    onward: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for (s, i), quantity in solution.flow.items():
        if quantity > _EPS:
            onward[(s, inputs.arcs[i].origin)].append((inputs.arcs[i].destination, quantity))
    for (s, d, w), quantity in solution.supply.items():
        if quantity > _EPS:
            onward[(s, w)].append((d, quantity))
    return {key: sorted(lines, key=lambda line: -line[1]) for key, lines in onward.items()}


def _passed_on(lines: list[tuple[str, float]]) -> str:
    """What a transfer's reason adds where its destination sends units on in the same plan (a
    regional warehouse with no demand of its own, a forward one serving distributors): what the
    transfer is for beyond the destination's own forecast."""
    shown = listed([f"{d} {q:.1f}" for d, q in lines], _ONWARD_SHOWN)
    return f" and sends {sum(q for _, q in lines):.1f} on in this plan ({shown})"


def _supply_binding(
    inputs: ModelInputs,
    solution: Solution,
    distributor: Distributor,
    s: str,
    w: str,
    upstream: _Upstream,
    orders: _Orders,
    timed_out: set[tuple[str, str, str]],
) -> str:
    """The rule that set a suggestion's quantity, given all the distributor's suggestions of s
    (`orders`) and the needs per (sku, location) in `upstream` (the order-up-to level is the
    need rounded up to packs)."""
    d = distributor.id
    supplied = orders.units[(s, d)]
    need = max(0.0, upstream.needs[(s, d)])
    if f"order_up_to[{s},{d}]" in solution.binding or supplied > need + _EPS:
        return f"need covered (order-up-to level{_rounded_up(distributor, supplied, need)})"
    if _credit_spent(inputs, solution, distributor, s, orders):
        return f"credit limit (yellow, guaranteed {distributor.guaranteed_amount:g})"
    if solution.ending[(s, w)] <= _EPS:
        full = _full_inbound(inputs, s, w, solution)
        if full:
            return full
        budget = inputs.window[d] - distributor.lead_time_days
        if _stock_within_reach(inputs, solution, upstream, s, w, budget) is None:
            return f"stock at {w} exhausted"
    if (s, d, w) in timed_out:
        return f"timing: the rest at {w} is not there in time to reach {d} inside its cover period"
    if f"fair_share[{s},{distributor.tier}]" in solution.binding:
        return f"fair share of tier {distributor.tier}"
    return "pack / MOQ rounding or cost trade-off"


def _rounded_up(distributor: Distributor, supplied: float, need: float) -> str:
    """What a reason adds where the quantity is above the need: the MOQ, whole packs or whole
    units it was raised to, so that the numbers it shows add up to the quantity."""
    if supplied <= need + _EPS:
        return ""
    pack, moq = distributor.pack_size, distributor.moq
    if moq > need + _EPS and supplied <= distributor.first_order + _EPS:
        return f", raised to the MOQ of {moq:g}"
    if pack > 1:
        return f", rounded up to whole packs of {pack:g}"
    return ", rounded up to whole units"


def _replenishment(
    inputs: ModelInputs,
    solution: Solution,
    orders: _Orders,
    timed_out: set[tuple[str, str, str]],
) -> pd.DataFrame:
    distributors = {d.id: d for d in inputs.network.distributors}
    needs = inputs.needs
    # The need row of each (sku, location) by position in column lists: `to_dict("records")`
    # boxes every value of 600,000 rows through pandas, seconds at 10,000 SKUs.
    row_of = dict(
        zip(zip(needs[SKU], needs[LOCATION], strict=True), range(len(needs)), strict=True)
    )
    means, safeties, on_hands, in_transits, need_units, targets = (
        needs[column].astype(float).round(_DECIMALS).tolist()  # no 3.0000000000000004
        for column in ("mean", "safety", ON_HAND, IN_TRANSIT, "need", "service_target")
    )
    cover = needs["cover_days"].astype(int).tolist()
    seen = needs["forecast_days"].tolist()
    upstream = _Upstream.of(inputs, solution, dict(zip(row_of, need_units, strict=True)))
    rows = []
    for (s, d, w), y in solution.supply.items():
        # Whole packs by construction (exact or repaired); drop the solver's float dust.
        quantity = float(round(y))
        if quantity <= _EPS:
            continue
        i = row_of[(s, d)]
        binding = _supply_binding(
            inputs, solution, distributors[d], s, w, upstream, orders, timed_out
        )
        rows.append(
            {
                "distributor": d,
                "sku": s,
                "quantity": quantity,
                "source": w,
                "tier": distributors[d].tier,
                "credit": distributors[d].credit,
                "forecast": means[i],
                "safety_stock": safeties[i],
                "on_hand": on_hands[i],
                "in_transit": in_transits[i],
                "need": need_units[i],
                "cover_days": cover[i],
                "binding": binding,
                "reason": (
                    f"forecast {means[i]:.1f} over {cover[i]} days{_scaled_from(seen[i], cover[i])}"
                    " + safety stock "
                    f"{safeties[i]:.1f} (service {targets[i]:.0%}) - on hand "
                    f"{on_hands[i]:.1f} - in transit {in_transits[i]:.1f} = "
                    f"need {need_units[i]:.1f}; "
                    f"{binding}"
                ),
            }
        )
    return pd.DataFrame(rows, columns=REPLENISHMENT_COLUMNS)


def _scaled_from(forecast_days: float, cover_days: int) -> str:
    """What a reason adds when the forecast held fewer days of the cover period than it has:
    the mean was scaled up from those days (`allocation.safety.cover_demand`)."""
    if forecast_days >= cover_days - 1e-9:
        return ""
    return f" (scaled up from {forecast_days:g} forecast days)"


def _unmet(
    inputs: ModelInputs,
    solution: Solution,
    orders: _Orders,
    timed_out: set[tuple[str, str, str]],
) -> pd.DataFrame:
    distributors = {d.id: d for d in inputs.network.distributors}
    upstream = _Upstream.of(inputs, solution, _by_key(inputs.needs, LOCATION, "need"))
    rows = []
    for (s, j), short in solution.short.items():
        uncovered = solution.safety_short[(s, j)]
        if short <= _SMALL and uncovered <= _SMALL:
            continue
        if j in distributors:
            d = distributors[j]
            bearer = f"{d.tier} distributor {j}"
            tier: str = d.tier
            if d.credit == "red":
                cause = "red credit: no supply"
            elif _credit_spent(inputs, solution, d, s, orders):
                smallest = _smallest_order(inputs, d, s, orders)
                cause = (
                    f"yellow credit: {orders.spent[j]:,.2f} of the guaranteed "
                    f"{d.guaranteed_amount:,.2f} spent; its smallest order of {s} costs "
                    f"{smallest:,.2f}"
                )
            else:
                cause = _distributor_cause(inputs, d, s, upstream, solution, timed_out)
        else:
            bearer, tier = f"forward catchment {j}", CATCHMENT
            cause = _forward_cause(inputs, s, j, solution, upstream)
        rows.append(
            {
                "sku": s,
                "location": j,
                "quantity": round(short, _DECIMALS),
                "safety_uncovered": round(uncovered, _DECIMALS),
                "bearer": bearer,
                "tier": tier,
                "cause": cause,
            }
        )
    return pd.DataFrame(_name_slower_covered(inputs, solution, rows), columns=UNMET_COLUMNS)


def _name_slower_covered(
    inputs: ModelInputs, solution: Solution, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """An unmet line short of stock names the location of its tier that sells least a day among
    those the plan covered in full from a warehouse that could also have served it: under
    shortage the stockout-day weight gives those the stock first
    (`allocation.model.stockout_day_weighted`), as the same units short would leave them out of
    stock for more days. Only the SKUs of such lines are looked at (a million needs rows at
    scale)."""
    plain = [row for row in rows if row["cause"] == _NO_STOCK and row["quantity"] > _SMALL]
    if not plain or inputs.policy.stockout_day_weight <= 0:
        return rows
    skus = {row["sku"] for row in plain}
    needs = inputs.needs[inputs.needs[SKU].isin(skus)]
    daily = _by_key(needs, LOCATION, "daily")
    tier = dict(zip(zip(needs[SKU], needs[LOCATION], strict=True), needs["tier"], strict=True))
    # where each location's stock of a SKU came from in this plan
    received: dict[tuple[str, str], set[str]] = defaultdict(set)
    for (s, i), units in solution.flow.items():
        if s in skus and units > _SMALL:
            received[(s, inputs.arcs[i].destination)].add(inputs.arcs[i].origin)
    for (s, buyer, w), units in solution.supply.items():
        if s in skus and units > _SMALL:
            received[(s, buyer)].add(w)
    sources: dict[str, set[str]] = defaultdict(set)
    for arc in inputs.arcs:
        sources[arc.destination].add(arc.origin)
    for distributor in inputs.network.distributors:
        sources[distributor.id].update(distributor.served_by)
    covered: dict[str, list[tuple[float, str]]] = defaultdict(list)  # by SKU, slowest first
    for (s, k), d in daily.items():
        if d > 0 and (s, k) in received and solution.short.get((s, k), math.inf) <= _SMALL:
            covered[s].append((d, k))
    for found in covered.values():
        found.sort()
    for row in plain:
        s, j = row["sku"], row["location"]
        own = daily[(s, j)]
        for d, k in covered[s]:
            if d >= own:
                break
            shared = received[(s, k)] & sources[j]
            if tier[(s, k)] == row["tier"] and shared:
                row["cause"] += (
                    f"; {k}, selling less a day ({d:.3g} against {own:.3g}), was covered first "
                    f"from {min(shared)}: the same units short would leave more days out of "
                    "stock there"
                )
                break
    return rows


@dataclass
class _Orders:
    """A solution's suggestions in whole units: units of each (sku, distributor), money of
    each distributor."""

    units: dict[tuple[str, str], float]
    spent: dict[str, float]


def _orders(inputs: ModelInputs, solution: Solution) -> _Orders:
    units: dict[tuple[str, str], float] = defaultdict(float)
    spent: dict[str, float] = defaultdict(float)
    for (s, d, _w), y in solution.supply.items():
        units[(s, d)] += float(round(y))
        spent[d] += inputs.sku_info[s].unit_cost * round(y)
    return _Orders(units, spent)


def _smallest_order(inputs: ModelInputs, d: Distributor, s: str, orders: _Orders) -> float:
    """The least d could add to its order of s, in money: its MOQ in whole packs where it has
    none yet, one pack where it has (past the MOQ, one more pack is enough)."""
    units = d.pack_size if orders.units[(s, d.id)] > _EPS else d.first_order
    return units * inputs.sku_info[s].unit_cost


def _credit_spent(
    inputs: ModelInputs, solution: Solution, d: Distributor, s: str, orders: _Orders
) -> bool:
    """Whether yellow credit stops d's orders of s: its row binds, or what is left of the
    guaranteed amount is below its smallest order (whole packs rarely leave the row binding, so
    the row alone named stock, reach or rounding instead of the credit)."""
    return d.credit == "yellow" and (
        f"credit[{d.id}]" in solution.binding
        or orders.spent[d.id] + _smallest_order(inputs, d, s, orders)
        > (d.guaranteed_amount or 0.0) + _EPS
    )


_NO_STOCK = "stock or reach: not enough stock that arrives in time"


def _forward_cause(
    inputs: ModelInputs, s: str, j: str, solution: Solution, upstream: _Upstream
) -> str:
    """Why a forward catchment is left short of s: its warehouse is full, a lane into it is,
    stock within reach was left where it is (moving more did not pay), or no stock reached
    it in time."""
    full = _full_inbound(inputs, s, j, solution)
    if full:
        return full
    source = _stock_within_reach(inputs, solution, upstream, s, j, inputs.window[j])
    if source is not None:
        return _left_upstream(source, j)
    return _NO_STOCK


def _left_upstream(upstream: str, w: str) -> str:
    return (
        f"cost or whole units: stock is left at {upstream}, which reaches {w} in time (moving "
        "more cost more than the shortage)"
    )


@dataclass(frozen=True)
class _Upstream:
    """What a short line's cause reads of the stock around it: the need of each (sku,
    location), each (sku, warehouse)'s stock on hand and in-time shipments by day, and the
    lanes the plan fills (by the size of a unit: one row per lane, shared by every SKU)."""

    needs: dict[tuple[str, str], float]
    on_hand: dict[tuple[str, str], float]
    shipments: dict[tuple[str, str], list[tuple[int, float]]]
    lane_room: dict[str, float]  # room left on each lane with a capacity (0: it binds)
    into: dict[str, list[Arc]]  # lanes and laterals by destination (not cross-region ones)
    full_lanes: dict[float, frozenset[str]] = field(default_factory=dict)  # unit -> lanes
    leads: dict[tuple[str, int, frozenset[str]], list[tuple[str, int]]] = field(
        default_factory=dict
    )

    def lead_into(self, w: str, days: int, full: frozenset[str]) -> list[tuple[str, int]]:
        """(warehouse, shortest lead time in days) of each warehouse that can send to w
        before day `days` (w itself left out), nearest first, over lanes and laterals but
        those named `full`: Dijkstra backwards, once per warehouse, budget and full lanes."""
        key = (w, days, full)
        if key not in self.leads:
            best = {w: 0}
            queue = [(0, w)]
            while queue:
                spent, node = heapq.heappop(queue)
                if spent > best.get(node, math.inf):
                    continue
                for arc in self.into.get(node, []):
                    total = spent + arc.lead_time_days
                    if (
                        arc.name not in full
                        and total < days
                        and total < best.get(arc.origin, math.inf)
                    ):
                        best[arc.origin] = total
                        heapq.heappush(queue, (total, arc.origin))
            del best[w]
            self.leads[key] = sorted(best.items(), key=lambda item: (item[1], item[0]))
        return self.leads[key]

    def full(self, inputs: ModelInputs, s: str) -> frozenset[str]:
        """The lanes with less room left than one unit of s (`_full`), worked out once per
        unit size: per short line over every lane, they took 25 s at 10,000 SKUs."""
        unit = inputs.sku_info[s].unit_volume if inputs.network.capacity_unit == "volume" else 1.0
        if unit not in self.full_lanes:
            self.full_lanes[unit] = frozenset(
                lane for lane, room in self.lane_room.items() if room < unit - _EPS
            )
        return self.full_lanes[unit]

    @classmethod
    def of(
        cls, inputs: ModelInputs, solution: Solution, needs: dict[tuple[str, str], float]
    ) -> _Upstream:
        arrivals = inputs.arrivals
        on_hand = _by_key(inputs.stock, NODE, ON_HAND)
        shipments = _landing(
            arrivals[SKU], arrivals[NODE], arrivals["in_time_day"], arrivals["in_time"]
        )
        lane_room = {}
        for arc in inputs.arcs:
            if arc.capacity is not None:
                row = f"lane_capacity[{arc.name}]"
                binds = row in solution.binding
                lane_room[arc.name] = 0.0 if binds else solution.room.get(row, math.inf)
        into: dict[str, list[Arc]] = defaultdict(list)
        for arc in inputs.arcs:
            if arc.kind != "cross_region":  # they carry only overstock
                into[arc.destination].append(arc)
        return cls(needs, on_hand, shipments, lane_room, dict(into))

    def there_by(self, s: str, node: str, day: int) -> float:
        """Units of s at `node` by `day` (from today): on hand and shipments due by then."""
        due = sum(units for arrives, units in self.shipments.get((s, node), []) if arrives <= day)
        return self.on_hand.get((s, node), 0.0) + due


def _landing(
    skus: pd.Series, nodes: pd.Series, days: pd.Series, units: pd.Series
) -> defaultdict[tuple[str, str], list[tuple[int, float]]]:
    """(day it lands, units) of each shipment, by (sku, node)."""
    landing: defaultdict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    for key, day, quantity in zip(
        zip(skus, nodes, strict=True), days.astype(int), units.astype(float), strict=True
    ):
        landing[key].append((int(day), float(quantity)))
    return landing


def _stock_within_reach(
    inputs: ModelInputs,
    solution: Solution,
    upstream: _Upstream,
    s: str,
    w: str,
    days: int,
) -> str | None:
    """A warehouse that the plan leaves holding s above its own catchment's need, there early
    enough to reach w before day `days` by lanes and laterals of its region (not cross-region
    ones, which carry only overstock; not lanes the plan fills), nearest first; None where none
    does. Where one does, w was not short of stock to pass on: whole packs or cost kept it
    there. Of what it holds, stock due there too late to leave in time does not count (it
    stays, at worst): in transit arriving on day 6 was said to reach an 8-day cover by day 9."""
    for u, lead in upstream.lead_into(w, days, upstream.full(inputs, s)):
        # landing on day `days` is late: the cover period is days 0 .. days - 1
        late = inputs.available.get((s, u), 0.0) - upstream.there_by(s, u, days - lead - 1)
        left = solution.ending.get((s, u), 0.0) - max(0.0, late)
        if left > upstream.needs.get((s, u), 0.0) + _SMALL:
            return u
    return None


def _full(inputs: ModelInputs, solution: Solution, row: str, s: str) -> bool:
    """Whether `row` holds back more of s: it binds, or (a capacity or lane-capacity row) it has
    less room left than one unit of s takes, as whole units may leave it."""
    unit = inputs.sku_info[s].unit_volume if inputs.network.capacity_unit == "volume" else 1.0
    return row in solution.binding or solution.room.get(row, math.inf) < unit - _EPS


def _full_inbound(inputs: ModelInputs, s: str, w: str, solution: Solution) -> str | None:
    """The row that keeps more of s out of warehouse w: its capacity, or the lanes into it at
    theirs (`_full`); None where neither is."""
    if _full(inputs, solution, f"capacity[{w}]", s):
        return f"capacity: warehouse {w} is full"
    full_lanes = [
        a.name
        for a in inputs.arcs
        if a.destination == w and _full(inputs, solution, f"lane_capacity[{a.name}]", s)
    ]
    if full_lanes:
        return f"lane capacity: {', '.join(full_lanes)} carries all it can"
    return None


def _timed_out(inputs: ModelInputs, solution: Solution) -> set[tuple[str, str, str]]:
    """(sku, distributor, warehouse) deliveries that a timing row holds back: the row binds,
    covers the delivery, and the warehouse has stock that is not there early enough for it
    (more than the row's early stock, or a transfer in by a lane the row does not count). A
    row binds trivially where nothing is early and nothing leaves: alone it said "timing" where
    whole packs kept the stock."""
    rows = [r for r in inputs.timing if r.deliveries and r.name in solution.binding]
    into: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    if rows:  # transfers into each (sku, node), by lane
        for (s, i), quantity in solution.flow.items():
            if quantity > _EPS:
                into[(s, inputs.arcs[i].destination)].append((i, quantity))
    held: set[tuple[str, str, str]] = set()
    for row in rows:
        counted = set(row.arcs_in)
        late_in = sum(q for i, q in into.get((row.sku, row.node), []) if i not in counted)
        if inputs.available.get((row.sku, row.node), 0.0) + late_in > row.rhs + _SMALL:
            held.update((row.sku, d, w) for d, w in row.deliveries if w == row.node)
    return held


def _distributor_cause(
    inputs: ModelInputs,
    d: Distributor,
    s: str,
    upstream: _Upstream,
    solution: Solution,
    timed_out: set[tuple[str, str, str]],
) -> str:
    """Why a distributor with credit is left short: its smallest order (MOQ, one pack) is above
    what it needs, or whole packs left stock at a warehouse serving it, or no stock reached it.
    upstream: the needs per (sku, location); a forward warehouse's is its own catchment's, and
    only stock left above it was there to give."""
    needs = upstream.needs
    need = needs.get((s, d.id), 0.0)
    smallest = d.first_order
    if smallest > need + _SMALL:
        return (
            f"MOQ / pack size: its smallest order, {smallest:g} units, is above its need of "
            f"{need:.1f}"
        )
    left = [
        w for w in d.served_by if solution.ending.get((s, w), 0.0) > needs.get((s, w), 0.0) + _SMALL
    ]
    late = [w for w in left if (s, d.id, w) in timed_out]
    if late:
        return (
            f"timing: the stock left at {late[0]} is not there in time to reach {d.id} inside its "
            f"cover period of {inputs.window[d.id]} days ({d.lead_time_days} of them on the way)"
        )
    if left and d.pack_size > 1:
        return (
            f"whole packs of {d.pack_size:g}: stock is left at {left[0]} beyond its own "
            "catchment's need (another whole pack did not pay)"
        )
    if left:
        return (
            f"cost: stock is left at {left[0]} beyond its own catchment's need (moving it cost "
            "more than the shortage)"
        )
    for w in d.served_by:  # the warehouses serving it get no more in
        full = _full_inbound(inputs, s, w, solution)
        if full:
            return f"{full} (it serves {d.id})"
    budget = inputs.window[d.id] - d.lead_time_days
    for w in d.served_by:
        source = _stock_within_reach(inputs, solution, upstream, s, w, budget)
        if source is not None and d.pack_size > 1:
            return (
                f"whole packs of {d.pack_size:g}: stock is left at {source}, which reaches "
                f"{w} in time (another whole pack did not pay)"
            )
        if source is not None:
            return _left_upstream(source, w)
    return _NO_STOCK


def _alerts(inputs: ModelInputs, solution: Solution, replenishment: pd.DataFrame) -> pd.DataFrame:
    """Every alert of a plan; `replenishment` as scheduled (`_scheduled`)."""
    policy = inputs.policy
    needs = inputs.needs
    rows = _no_forecast_alerts(inputs) + _overdue_alerts(inputs) + _early_alerts(inputs, solution)
    rows += _distributor_stock_alerts(inputs, solution)
    rows += _waiting_delivery_alerts(inputs, replenishment)
    for s, j, mean, rate, cover_days in zip(
        needs[SKU].astype(str).tolist(),
        needs[LOCATION].astype(str).tolist(),
        needs["mean"].astype(float).tolist(),
        needs["daily"].astype(float).tolist(),
        needs["cover_days"].astype(int).tolist(),
        strict=True,
    ):
        if (s, j) not in solution.short or mean <= _SMALL:  # a forecast of 0.0 has no risk
            continue
        short = solution.short[(s, j)]
        # Planned stock short of the mean: what covers it. Less than _SMALL short is float
        # dust, not a risk (a mean's rounding once raised alerts on locations fully covered).
        stock = max(0.0, round(mean - short, _DECIMALS))  # no -0.0 from float dust
        cover = max(0.0, 1.0 - short / mean)
        if _short_enough(short, stock) and cover < policy.stockout_risk_cover - 1e-9:
            message = (
                f"{s} at {j}: planned stock {_units_text(stock)} covers {_share_text(cover)} of "
                f"the forecast {_units_text(mean)} over {cover_days} days ({_units_text(short)} "
                f"short), below the threshold of {policy.stockout_risk_cover:.0%}"
            )
            days = stock / rate if rate > 0 else None
            rows.append(
                _alert(
                    "stockout_risk", s, j, message, stock, rate, days, policy.stockout_risk_cover
                )
            )
    for w in inputs.network.warehouses:
        for s in inputs.skus:
            daily = inputs.node_daily.get((s, w.id), 0.0)
            start = inputs.available[(s, w.id)]
            end = solution.ending[(s, w.id)]
            days_end = end / daily if daily > 0 else (math.inf if end > 0 else 0.0)
            days_start = start / daily if daily > 0 else (math.inf if start > 0 else 0.0)
            if w.kind == "forward" and end > _EPS and days_end > policy.overstock_days:
                message = (
                    f"{s} at {w.id}: {end:.0f} units after the plan = {_days_text(days_end)} of "
                    f"supply at {daily:.2f}/day, above the bound of {policy.overstock_days:g} "
                    f"days{_long_cover(inputs, w.id)}"
                )
                rows.append(
                    _alert(
                        "overstock", s, w.id, message, end, daily, days_end, policy.overstock_days
                    )
                )
            if start > _EPS and days_start > policy.slow_mover_days:
                message = (
                    f"{s} at {w.id}: {start:.0f} units = {_days_text(days_start)} of supply at "
                    f"{daily:.2f}/day, above {policy.slow_mover_days:g} days"
                )
                threshold = policy.slow_mover_days
                rows.append(
                    _alert("slow_mover", s, w.id, message, start, daily, days_start, threshold)
                )
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


def _distributor_stock_alerts(inputs: ModelInputs, solution: Solution) -> list[dict[str, Any]]:
    """slow_mover and overstock at distributors, as at warehouses: a distributor's stock (on
    hand and in transit) above `slow_mover_days` of its forecast, and its stock after the plan
    (with the plan's deliveries) above `overstock_days`. Channel stock the brand no longer
    sees on its shelves was never flagged: 400 units at 0.6 a day raised nothing."""
    policy = inputs.policy
    needs = inputs.needs[inputs.needs["kind"] == "distributor"]
    if needs.empty:
        return []
    supplied: dict[tuple[str, str], float] = defaultdict(float)
    for (s, d, _w), y in solution.supply.items():
        supplied[(s, d)] += float(round(y))
    skus, places = needs[SKU].astype(str).tolist(), needs[LOCATION].astype(str).tolist()
    start = (needs[ON_HAND] + needs[IN_TRANSIT]).to_numpy(dtype=float)
    end = start + np.array([supplied.get(key, 0.0) for key in zip(skus, places, strict=True)])
    daily = needs["daily"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        days_start = np.where(daily > 0, start / daily, np.where(start > _EPS, np.inf, 0.0))
        days_end = np.where(daily > 0, end / daily, np.where(end > _EPS, np.inf, 0.0))
    rows = []
    kinds: tuple[tuple[AlertKind, np.ndarray, np.ndarray, float], ...] = (
        ("slow_mover", start, days_start, policy.slow_mover_days),
        ("overstock", end, days_end, policy.overstock_days),
    )
    for kind, units, days, bound in kinds:
        for i in np.flatnonzero((units > _EPS) & (days > bound)):
            s, d, rate = skus[i], places[i], float(daily[i])
            if kind == "slow_mover":
                held, above = "on hand and in transit", f"{bound:g}"
            else:
                delivered = supplied.get((s, d), 0.0)
                held = f"after the plan (on hand, in transit and {delivered:.0f} delivered)"
                above = f"the bound of {bound:g}"
            message = (
                f"{s} at {d}: {units[i]:.0f} units {held} = {_days_text(float(days[i]))} of "
                f"supply at {rate:.2f}/day, above {above} days"
            )
            rows.append(_alert(kind, s, d, message, float(units[i]), rate, float(days[i]), bound))
    return rows


def _waiting_delivery_alerts(
    inputs: ModelInputs, replenishment: pd.DataFrame
) -> list[dict[str, Any]]:
    """early_stockout_risk at a distributor whose delivery waits at its warehouse for stock
    from upstream (it departs after today) while the distributor's own stock runs out before
    the delivery lands: the cover period's rows count it covered, so nothing else says so (a
    strategic distributor with half a day of a hot SKU waited three days)."""
    if replenishment.empty:
        return []
    waiting = replenishment[replenishment["departs"] > inputs.today]
    if waiting.empty:
        return []
    first = (
        waiting.groupby([SKU, "distributor"], sort=True)[["departs", "arrives"]].min().reset_index()
    )
    daily = _by_key(inputs.needs, LOCATION, "daily")
    on_hand = _by_key(inputs.needs, LOCATION, ON_HAND)
    # What lands at each (sku, distributor), by day: its shipments in transit and every
    # delivery of the plan (another warehouse's may land before the waiting one)
    arrivals = inputs.arrivals
    incoming = _landing(arrivals[SKU], arrivals[NODE], arrivals["in_time_day"], arrivals["in_time"])
    delivered = _landing(
        replenishment[SKU],
        replenishment["distributor"],
        (replenishment["arrives"] - inputs.today).dt.days,
        replenishment["quantity"],
    )
    for key, lines in delivered.items():
        incoming[key] += lines

    def there_before(key: tuple[str, str], day: int) -> float:
        return on_hand.get(key, 0.0) + sum(u for landed, u in incoming[key] if landed < day)

    threshold = inputs.policy.stockout_risk_cover
    rows = []
    columns = (first[SKU], first["distributor"], first["departs"], first["arrives"])
    for s, d, departs, arrives in zip(*columns, strict=True):
        days = int((arrives - inputs.today).days)
        waited = int((departs - inputs.today).days)
        rate = daily.get((s, d), 0.0)
        forecast = rate * days
        stock = there_before((s, d), days)
        short = forecast - stock
        # what leaving today would have left short all the same (its lead time)
        sooner = days - waited
        by_wait = short - max(0.0, rate * sooner - there_before((s, d), sooner))
        if by_wait < 1.0 - 1e-9 or stock >= threshold * forecast - 1e-9:
            continue
        message = (
            f"{s} at {d}: its delivery waits {waited} day{'s' * (waited != 1)} for stock and "
            f"lands on day {days} "
            f"({arrives.date()}); {_units_text(stock)} units there until then, "
            f"{_share_text(stock / forecast)} of the forecast {_units_text(forecast)} over those "
            f"days ({_units_text(short)} short, {_units_text(by_wait)} of them for the wait), "
            f"below the threshold of {threshold:.0%}"
        )
        rows.append(
            _alert("early_stockout_risk", s, d, message, stock, rate, stock / rate, threshold)
        )
    return rows


def _early_alerts(inputs: ModelInputs, solution: Solution) -> list[dict[str, Any]]:
    """early_stockout_risk: a forward warehouse whose stock before its fastest lane can land
    covers less of its forecast over those days than `stockout_risk_cover` (with
    `Policy.early_days_apart`). Its stock then is the `early[s,f]` row's: on hand, in transit
    arriving before that day and transfers landing sooner, less the transfers it sends. The
    LP prices only what the warehouses in reach could cover; the alert counts the rest too."""
    early = inputs.early
    if early.empty:
        return []
    first_day = early_days(inputs.arcs)
    there = _by_key(early, LOCATION, "stock")
    for (s, i), units in solution.flow.items():
        arc = inputs.arcs[i]
        if (s, arc.destination) in there and arc.lead_time_days < first_day[arc.destination]:
            there[(s, arc.destination)] += units
        if (s, arc.origin) in there:
            there[(s, arc.origin)] -= units
    threshold = inputs.policy.stockout_risk_cover
    rows = []
    for s, f, days, forecast, reachable in zip(
        early[SKU].astype(str).tolist(),
        early[LOCATION].astype(str).tolist(),
        early["days"].astype(int).tolist(),
        early["forecast"].astype(float).tolist(),
        early["mean"].astype(float).tolist(),
        strict=True,
    ):
        stock = max(0.0, round(there[(s, f)], _DECIMALS))
        if not _short_enough(forecast - stock, stock):  # e.g. safety stock alone (forecast 0)
            continue
        cover = stock / forecast
        if cover >= threshold - 1e-9:
            continue
        message = (
            f"{s} at {f}: {_units_text(stock)} units there before its fastest lane can land on "
            f"day {days}, {_share_text(cover)} of the forecast {_units_text(forecast)} over those "
            f"days ({_units_text(forecast - stock)} short), below the threshold of {threshold:.0%}"
            + (
                f"; its stock and what the warehouses of its region with a faster transfer into "
                f"it hold come to {_units_text(reachable)}"
                if stock <= reachable + _SMALL and reachable < forecast - _SMALL
                else ""
            )
        )
        rate = forecast / days
        rows.append(
            _alert("early_stockout_risk", s, f, message, stock, rate, stock / rate, threshold)
        )
    return rows


def _short_enough(short: float, stock: float) -> bool:
    """A shortfall worth a stockout alert: a whole unit or more, or any (beyond float dust) where
    there is not one unit to sell. Less than a unit short of a fractional forecast (479 units
    for 479.1) is no risk a planner can act on, and whole units or packs may not close it."""
    return short > _SMALL and (short >= 1.0 - 1e-9 or stock < 1.0)


def _share_text(share: float) -> str:
    """A share as a whole percentage that never reads 100 % while it is below one (99.98 %
    covered was printed as "covers 100 %, below the threshold of 100 %")."""
    text = f"{share:.0%}"
    return "over 99%" if share < 1.0 and text == "100%" else text


def _alert(
    kind: AlertKind,
    sku: str,
    node: str,
    message: str,
    stock: float,
    daily_demand: float,
    days_of_supply: float | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """One alerts row (ALERT_COLUMNS): stock without float dust, unlimited days as none."""
    finite = days_of_supply is not None and math.isfinite(days_of_supply)
    return {
        "kind": kind,
        "sku": sku,
        "node": node,
        "message": message,
        "stock": round(stock, _DECIMALS),
        "daily_demand": daily_demand,
        "days_of_supply": days_of_supply if finite else None,
        "threshold": threshold,
    }


def _no_forecast_alerts(inputs: ModelInputs) -> list[dict[str, Any]]:
    """Series planned for no demand because no forecast date of theirs falls in their cover
    period (a forecast that ended, or a row before `today`): said, not planned silently."""
    blind = inputs.needs[inputs.needs["forecast_days"] <= 0]
    first = inputs.today.date()
    return [
        _alert(
            "no_forecast",
            s,
            j,
            f"{s} at {j}: no forecast date inside its cover period ({cover} days from {first}): "
            "planned for no demand",
            position,
            0.0,
        )
        for s, j, cover, position in zip(
            blind[SKU].astype(str).tolist(),
            blind[LOCATION].astype(str).tolist(),
            blind["cover_days"].astype(int).tolist(),
            blind["position"].astype(float).tolist(),
            strict=True,
        )
    ]


def _overdue_alerts(inputs: ModelInputs) -> list[dict[str, Any]]:
    """Stock in transit whose arrival date has passed: the plan counts it as arriving today,
    which a shipment that went missing is not; said for each shipment, so that someone chases
    it."""
    arrivals = inputs.arrivals
    overdue = arrivals[arrivals["overdue_days"].notna()]
    first = inputs.today.date()
    daily = _by_key(inputs.needs, LOCATION, "daily")  # a distributor's (node_daily: warehouses')
    return [
        _alert(
            "overdue_in_transit",
            s,
            w,
            f"{s} at {w}: {units:g} units in transit were due {days:.0f} day(s) before {first} "
            f"(on {first - dt.timedelta(days=int(days))}); planned as arriving today",
            units,
            inputs.node_daily.get((s, w), daily.get((s, w), 0.0)),
        )
        for s, w, units, days in zip(
            overdue[SKU].astype(str).tolist(),
            overdue[NODE].astype(str).tolist(),
            overdue["in_time"].astype(float).tolist(),
            overdue["overdue_days"].astype(float).tolist(),
            strict=True,
        )
    ]


def _long_cover(inputs: ModelInputs, node: str) -> str:
    """What an overstock alert adds where the node's own cover period is past the bound: the
    plan stocks it for its lead time, so the stock it sends is the overstock."""
    window = inputs.window[node]
    if window <= inputs.policy.overstock_days:
        return ""
    return (
        f" (its cover period, lead time + review, is {window} days: stock for it passes the "
        "bound by itself)"
    )


def _units_text(units: float) -> str:
    """Units to one decimal, and a fraction below one to two significant digits: 0.04 short
    read "(0.0 short)"."""
    return f"{units:.2g}" if 0 < abs(units) < 0.95 else f"{units:.1f}"


def _days_text(days: float) -> str:
    return "unlimited days (no demand)" if math.isinf(days) else f"{days:.0f} days"


def _fill_rate(short: float, demand: float) -> float | None:
    """1 - short / demand, to nine decimals: a tier that got nothing read -2.2e-16 (and
    2.2e-16) from the float dust of summing its lines' shortages."""
    return round(max(0.0, 1.0 - short / demand), 9) if demand > 0 else None


def _kpis(
    inputs: ModelInputs,
    solution: Solution,
    transfers: pd.DataFrame,
    replenishment: pd.DataFrame,
    unmet: pd.DataFrame,
) -> dict[str, Any]:
    """Expected fill rate (share of mean demand covered) by tier, expected stockout days, days of
    supply, cost split.

    Expected stockout days: units short at a location selling d a day leave it without stock
    for about u / d of its cover period's days; summed over SKU-locations with demand, beside
    all their cover days (the measure the replay's stockout rate takes, and the stockout-day
    weight lowers)."""
    needs = inputs.needs
    demand_by_tier: dict[str, float] = defaultdict(float)
    short_by_tier: dict[str, float] = defaultdict(float)
    days_out_by_tier: dict[str, float] = defaultdict(float)
    location_days = 0.0
    for s, j, tier, mean, daily, cover in zip(
        needs[SKU].astype(str).tolist(),
        needs[LOCATION].astype(str).tolist(),
        needs["tier"].astype(str).tolist(),
        needs["mean"].astype(float).tolist(),
        needs["daily"].astype(float).tolist(),
        needs["cover_days"].astype(float).tolist(),
        strict=True,
    ):
        demand_by_tier[tier] += mean
        short = solution.short.get((s, j), 0.0)
        short_by_tier[tier] += short
        if daily > 0:
            location_days += cover
            days_out_by_tier[tier] += min(short / daily, cover)
    fill = {tier: _fill_rate(short_by_tier[tier], total) for tier, total in demand_by_tier.items()}
    total_demand = sum(demand_by_tier.values())
    total_short = sum(short_by_tier.values())
    daily_total = float(needs["daily"].sum())
    # Days of supply read every location the daily demand is at: the distributors' own stock
    # and what the plan sends them count beside what the warehouses keep.
    at_warehouses = sum(solution.ending.values())
    stock = inputs.stock
    held = stock[stock[NODE].isin({d.id for d in inputs.network.distributors})]
    at_distributors = float((held[ON_HAND] + held["in_time"]).sum())
    stock_total = at_warehouses + at_distributors + float(replenishment["quantity"].sum())
    return {
        "fill_rate": _fill_rate(total_short, total_demand),
        "fill_rate_by_tier": fill,
        "stockout_days": sum(days_out_by_tier.values()),
        "stockout_days_by_tier": dict(days_out_by_tier),
        "location_days": location_days,
        "days_of_supply": stock_total / daily_total if daily_total > 0 else None,
        "stock_after_plan": stock_total,
        "stock_at_warehouses": at_warehouses,
        "units_transferred": float(transfers["quantity"].sum()),
        "units_replenished": float(replenishment["quantity"].sum()),
        "units_unmet": float(unmet["quantity"].sum()),
        "transfers": len(transfers),
        "replenishment_lines": len(replenishment),
        "late_lines": int(_is_late(transfers).sum() + _is_late(replenishment).sum()),
        "cost": dict(solution.cost_terms),
    }
