"""`plan()`: validate inputs, build the LP, solve it, repair pack rounding, explain the result."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import replace
from typing import Any

import pandas as pd
import pulp

from allocation.errors import SolverError
from allocation.inputs import IN_TRANSIT, LOCATION, ON_HAND, SKU, validate_demand, validate_stock
from allocation.model import ModelInputs, Variables, build_problem, prepare_inputs
from allocation.network import Network
from allocation.plan import (
    ALERT_COLUMNS,
    REPLENISHMENT_COLUMNS,
    TRANSFER_COLUMNS,
    UNMET_COLUMNS,
    Plan,
    SolverFacts,
)
from allocation.policy import CATCHMENT, Policy
from allocation.solve import SolveOutcome, SolverName, solve_problem

__all__ = ["plan"]

_EPS = 1e-6
REPAIR_SECONDS = 10.0  # most seconds the pack-rounding MILP may take before its best is used
REPAIR_GAP = 1e-3  # relative gap at which the pack-rounding MILP stops
_SMALL = 0.01  # units; less unmet than this is rounding noise, not a shortage worth a line


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
) -> Plan:
    """Plan transfers and distributor replenishment for one review period.

    network, stock (sku, node, on_hand, in_transit, arrival_date), demand (forecast contract),
    policy (defaults when None). today: first day of the plan (default: first forecast date).
    solver: "highs" or "cbc". time_limit: seconds; when given, a feasible solution found within
    it is accepted and labelled "time_limited". integer_packs: exact pack sizes and MOQs with
    integer variables; otherwise the LP is rounded to packs and repaired by a re-solve that
    keeps every constraint.
    """
    policy = policy or Policy()
    started = time.perf_counter()
    stock = validate_stock(stock, network)
    demand = validate_demand(demand, network)
    inputs = prepare_inputs(
        network,
        stock,
        demand,
        policy,
        today=None if today is None else pd.Timestamp(today),
        integer_packs=integer_packs,
    )
    problem, variables = build_problem(inputs)
    build_seconds = time.perf_counter() - started
    gap = REPAIR_GAP if integer_packs else None  # MILP stops within 0.1 % of its optimum
    outcome = solve_problem(problem, solver, time_limit, mip_gap=gap)
    solve_seconds = outcome.seconds
    repair = None
    if not integer_packs and variables.supply_free:
        outcome, repair = _repair_packs(problem, variables, inputs, solver, time_limit)
        solve_seconds += outcome.seconds
    facts = SolverFacts(
        status=outcome.status,
        objective=outcome.objective,
        build_seconds=build_seconds,
        solve_seconds=solve_seconds,
        solver=solver,
        detail=outcome.detail,
        repair=repair,
    )
    return explain(inputs, variables, facts)


# ---------------------------------------------------------------------------------------------
# Pack rounding and repair (LP mode).


def _pack_range(value: float, pack: int, moq: int, cap: float) -> tuple[int, int, int]:
    """Whole packs a suggestion may round to around its LP value: (low, high, moq_packs).

    low / high: the packs just below and just above the LP value (never above the order-up-to
    cap); a suggestion below the MOQ may become nothing or exactly the MOQ."""
    most = math.floor(cap / pack + 1e-9)
    moq_packs = math.ceil(moq / pack - 1e-9)
    low = min(math.floor(value / pack + 1e-9), most)
    high = min(math.ceil(value / pack - 1e-9), most)
    if low < moq_packs:
        low = 0
        high = moq_packs if value > 1e-9 and moq_packs <= most else 0
    return low, high, moq_packs


def _floor_suggestion(value: float, pack: int, moq: int) -> float:
    quantity = math.floor(value / pack + 1e-9) * pack
    return float(quantity if quantity >= moq else 0.0)


def _repair_packs(
    problem: pulp.LpProblem,
    variables: Variables,
    inputs: ModelInputs,
    solver: SolverName,
    time_limit: float | None,
) -> tuple[SolveOutcome, str]:
    """Round suggestions to whole packs (MOQ or nothing) keeping every constraint.

    Each suggestion may only take the whole packs next to its LP value (or, below the MOQ,
    nothing or the MOQ); the solver picks the best of those roundings in a small MILP whose
    other variables stay continuous, so every constraint still holds. Should that fail, every
    suggestion is rounded down and fixed, which only lowers quantities against upper-bound rows,
    and the rest is re-solved."""
    distributors = {d.id: d for d in inputs.network.distributors}
    lp_values = {key: float(y.varValue or 0.0) for key, y in variables.supply_free.items()}
    for key, y in variables.supply_free.items():
        d = distributors[key[1]]
        cap = float(y.upBound if y.upBound is not None else 0.0)
        low, high, moq_packs = _pack_range(lp_values[key], d.pack_size, d.moq, cap)
        y.lowBound, y.upBound = low * d.pack_size, high * d.pack_size
        if high > low:
            name = y.name
            packs = problem.add_variable(f"{name}_k", lowBound=low, upBound=high, cat="Integer")
            problem.addConstraint(y - d.pack_size * packs == 0, f"{name}_pack")
            if low == 0 and moq_packs > 1:
                opened = problem.add_variable(f"{name}_z", cat="Binary")
                problem.addConstraint(packs - moq_packs * opened >= 0, f"{name}_moq")
                problem.addConstraint(packs - high * opened <= 0, f"{name}_open")
    try:
        outcome = solve_problem(problem, solver, REPAIR_SECONDS, mip_gap=REPAIR_GAP)
        changed = sum(
            abs(float(y.varValue or 0) - lp_values[k]) > _EPS
            for k, y in variables.supply_free.items()
        )
        stopped = (
            " (best rounding found in the time allowed)" if outcome.status != "optimal" else ""
        )
        outcome = replace(outcome, status="optimal")  # the LP optimum was proven; this is rounding
        return outcome, (
            f"{changed} suggestion(s) rounded to whole packs / MOQ next to the LP value, "
            f"rounding chosen by MILP within {REPAIR_GAP:.1%} of its optimum{stopped}"
        )
    except SolverError as exc:
        first_error = exc
    for key, y in variables.supply_free.items():
        d = distributors[key[1]]
        y.lowBound = y.upBound = _floor_suggestion(lp_values[key], d.pack_size, d.moq)
    try:
        outcome = solve_problem(problem, solver, time_limit)
    except SolverError as exc:
        raise SolverError(
            f"pack rounding could not be repaired ({first_error}; rounding down: {exc})",
            status=exc.status,
            solver=solver,
        ) from exc
    return outcome, "suggestions rounded down to whole packs / MOQ, re-solved"


# ---------------------------------------------------------------------------------------------
# Explanation: frames with the numbers behind every line.


def _value(item: Any) -> float:
    return float(pulp.value(item) or 0.0)


def _binding(variables: Variables, name: str) -> bool:
    row = variables.constraints.get(name)
    return row is not None and row.slack is not None and abs(row.slack) < 1e-6


def explain(inputs: ModelInputs, variables: Variables, facts: SolverFacts) -> Plan:
    """Turn a solved problem into the plan's frames, alerts and KPIs."""
    needs = inputs.needs.set_index([SKU, LOCATION])
    stock = inputs.stock.set_index([SKU, "node"])
    transfers = _transfers(inputs, variables, needs, stock)
    replenishment = _replenishment(inputs, variables)
    unmet = _unmet(inputs, variables)
    ending = {key: _value(e) for key, e in variables.ending.items()}
    alerts = _alerts(inputs, variables, ending)
    kpis = _kpis(inputs, variables, transfers, replenishment, unmet, ending)
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


def _transfers(
    inputs: ModelInputs, variables: Variables, needs: pd.DataFrame, stock: pd.DataFrame
) -> pd.DataFrame:
    rows = []
    for (s, i), x in variables.flow.items():
        quantity = _value(x)
        if quantity <= _EPS:
            continue
        arc = inputs.arcs[i]
        dest = (s, arc.destination)
        forecast = float(needs["mean"].get(dest, 0.0))
        safety = float(needs["safety"].get(dest, 0.0))
        on_hand = float(stock[ON_HAND].get(dest, 0.0))
        in_transit = float(stock["in_time"].get(dest, 0.0))
        binding = [
            name
            for name in (
                f"lane_capacity[{arc.name}]",
                f"capacity[{arc.destination}]",
                f"cross_region[{s},{arc.name}]",
            )
            if _binding(variables, name)
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
                "quantity": quantity,
                "arrives": inputs.today + pd.Timedelta(days=arc.lead_time_days),
                "kind": arc.kind,
                "cost_per_unit": arc.cost_per_unit,
                "dest_forecast": forecast,
                "dest_safety_stock": safety,
                "dest_on_hand": on_hand,
                "dest_in_transit": in_transit,
                "binding": ";".join(binding),
                "reason": (
                    f"{why}: {arc.destination} forecast {forecast:.1f} over "
                    f"{inputs.window[arc.destination]} days + safety stock {safety:.1f}, "
                    f"on hand {on_hand:.1f}, in transit {in_transit:.1f}"
                ),
            }
        )
    return pd.DataFrame(rows, columns=TRANSFER_COLUMNS)


def _supply_binding(inputs: ModelInputs, variables: Variables, s: str, d: str, w: str) -> str:
    distributor = next(x for x in inputs.network.distributors if x.id == d)
    if _binding(variables, f"order_up_to[{s},{d}]"):
        return "need covered (order-up-to level)"
    if distributor.credit == "yellow" and _binding(variables, f"credit[{d}]"):
        return f"credit limit (yellow, guaranteed {distributor.guaranteed_amount:g})"
    if _value(variables.ending[(s, w)]) <= _EPS:
        return f"stock at {w} exhausted"
    if _binding(variables, f"fair_share[{s},{distributor.tier}]"):
        return f"fair share of tier {distributor.tier}"
    return "pack / MOQ rounding or cost trade-off"


def _replenishment(inputs: ModelInputs, variables: Variables) -> pd.DataFrame:
    distributors = {d.id: d for d in inputs.network.distributors}
    lead = {(d.distributor, d.warehouse): d.lead_time_days for d in inputs.deliveries}
    need_of: dict[tuple[str, str], dict[str, Any]] = {
        (str(r[SKU]), str(r[LOCATION])): {str(k): v for k, v in r.items()}
        for r in inputs.needs.to_dict("records")
    }
    rows = []
    for (s, d, w), y in variables.supply.items():
        # Whole packs by construction (exact or repaired); drop the solver's float dust.
        quantity = float(round(_value(y)))
        if quantity <= _EPS:
            continue
        row = need_of[(s, d)]
        binding = _supply_binding(inputs, variables, s, d, w)
        rows.append(
            {
                "distributor": d,
                "sku": s,
                "quantity": quantity,
                "source": w,
                "arrives": inputs.today + pd.Timedelta(days=lead[(d, w)]),
                "tier": distributors[d].tier,
                "credit": distributors[d].credit,
                "forecast": float(row["mean"]),
                "safety_stock": float(row["safety"]),
                "on_hand": float(row[ON_HAND]),
                "in_transit": float(row[IN_TRANSIT]),
                "need": float(row["need"]),
                "cover_days": int(row["cover_days"]),
                "binding": binding,
                "reason": (
                    f"forecast {row['mean']:.1f} over {int(row['cover_days'])} days + safety stock "
                    f"{row['safety']:.1f} (service {row['service_target']:.0%}) - on hand "
                    f"{row[ON_HAND]:.1f} - in transit {row[IN_TRANSIT]:.1f} = "
                    f"need {row['need']:.1f}; "
                    f"{binding}"
                ),
            }
        )
    return pd.DataFrame(rows, columns=REPLENISHMENT_COLUMNS)


def _unmet(inputs: ModelInputs, variables: Variables) -> pd.DataFrame:
    distributors = {d.id: d for d in inputs.network.distributors}
    rows = []
    for (s, j), u in variables.short.items():
        short = _value(u)
        uncovered = _value(variables.safety_short[(s, j)])
        if short <= _SMALL and uncovered <= _SMALL:
            continue
        if j in distributors:
            d = distributors[j]
            bearer = f"{d.tier} distributor {j}"
            tier: str = d.tier
            if d.credit == "red":
                cause = "red credit: no supply"
            elif d.credit == "yellow" and _binding(variables, f"credit[{j}]"):
                cause = "yellow credit: guaranteed amount reached"
            else:
                cause = "stock or reach: not enough stock that arrives in time"
        else:
            bearer, tier = f"forward catchment {j}", CATCHMENT
            cause = "stock or reach: not enough stock that arrives in time"
        rows.append(
            {
                "sku": s,
                "location": j,
                "quantity": short,
                "safety_uncovered": uncovered,
                "bearer": bearer,
                "tier": tier,
                "cause": cause,
            }
        )
    return pd.DataFrame(rows, columns=UNMET_COLUMNS)


def _alerts(
    inputs: ModelInputs, variables: Variables, ending: dict[tuple[str, str], float]
) -> pd.DataFrame:
    policy = inputs.policy
    rows: list[dict[str, Any]] = []
    for rec in inputs.needs.to_dict("records"):
        s, j = str(rec[SKU]), str(rec[LOCATION])
        mean, rate, cover_days = float(rec["mean"]), float(rec["daily"]), int(rec["cover_days"])
        if (s, j) not in variables.short or mean <= 0:
            continue
        short = _value(variables.short[(s, j)])
        cover = (mean - short) / mean
        if cover < policy.stockout_risk_cover - 1e-9:
            stock = mean - short
            rows.append(
                {
                    "kind": "stockout_risk",
                    "sku": s,
                    "node": j,
                    "message": (
                        f"{s} at {j}: planned stock {stock:.1f} covers {cover:.0%} of the forecast "
                        f"{mean:.1f} over {cover_days} days ({short:.1f} short)"
                    ),
                    "stock": stock,
                    "daily_demand": rate,
                    "days_of_supply": stock / rate if rate > 0 else None,
                    "threshold": policy.stockout_risk_cover,
                }
            )
    for w in inputs.network.warehouses:
        for s in inputs.skus:
            daily = inputs.node_daily.get((s, w.id), 0.0)
            start = inputs.available[(s, w.id)]
            end = ending[(s, w.id)]
            days_end = end / daily if daily > 0 else (math.inf if end > 0 else 0.0)
            days_start = start / daily if daily > 0 else (math.inf if start > 0 else 0.0)
            if w.kind == "forward" and end > _EPS and days_end > policy.overstock_days:
                rows.append(
                    {
                        "kind": "overstock",
                        "sku": s,
                        "node": w.id,
                        "message": (
                            f"{s} at {w.id}: {end:.0f} units after the plan = "
                            f"{_days_text(days_end)} of supply at {daily:.2f}/day, "
                            f"above the bound of "
                            f"{policy.overstock_days:g} days"
                        ),
                        "stock": end,
                        "daily_demand": daily,
                        "days_of_supply": days_end if math.isfinite(days_end) else None,
                        "threshold": policy.overstock_days,
                    }
                )
            if start > _EPS and days_start > policy.slow_mover_days:
                rows.append(
                    {
                        "kind": "slow_mover",
                        "sku": s,
                        "node": w.id,
                        "message": (
                            f"{s} at {w.id}: {start:.0f} units = "
                            f"{_days_text(days_start)} of supply "
                            f"at {daily:.2f}/day, above {policy.slow_mover_days:g} days"
                        ),
                        "stock": start,
                        "daily_demand": daily,
                        "days_of_supply": days_start if math.isfinite(days_start) else None,
                        "threshold": policy.slow_mover_days,
                    }
                )
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


def _days_text(days: float) -> str:
    return "unlimited days (no demand)" if math.isinf(days) else f"{days:.0f} days"


def _kpis(
    inputs: ModelInputs,
    variables: Variables,
    transfers: pd.DataFrame,
    replenishment: pd.DataFrame,
    unmet: pd.DataFrame,
    ending: dict[tuple[str, str], float],
) -> dict[str, Any]:
    """Expected fill rate (share of mean demand covered) by tier, days of supply, cost split."""
    needs = inputs.needs
    demand_by_tier: dict[str, float] = defaultdict(float)
    short_by_tier: dict[str, float] = defaultdict(float)
    for rec in needs.to_dict("records"):
        tier = str(rec["tier"])
        demand_by_tier[tier] += float(rec["mean"])
        key = (str(rec[SKU]), str(rec[LOCATION]))
        if key in variables.short:
            short_by_tier[tier] += _value(variables.short[key])
    fill = {
        tier: (1.0 - short_by_tier[tier] / total) if total > 0 else None
        for tier, total in demand_by_tier.items()
    }
    total_demand = sum(demand_by_tier.values())
    total_short = sum(short_by_tier.values())
    daily_total = float(needs["daily"].sum())
    stock_total = sum(ending.values())
    return {
        "fill_rate": (1.0 - total_short / total_demand) if total_demand > 0 else None,
        "fill_rate_by_tier": fill,
        "days_of_supply": stock_total / daily_total if daily_total > 0 else None,
        "stock_after_plan": stock_total,
        "units_transferred": float(transfers["quantity"].sum()),
        "units_replenished": float(replenishment["quantity"].sum()),
        "units_unmet": float(unmet["quantity"].sum()),
        "transfers": len(transfers),
        "replenishment_lines": len(replenishment),
        "cost": {name: _value(term) for name, term in variables.cost_terms.items()},
    }
