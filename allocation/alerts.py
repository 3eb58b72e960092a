"""The alerts of a plan, each with the figures behind it: stockout risk (over the cover period
and before the first delivery can land), overstock and slow movers (at warehouses and at
distributors), series without a forecast and overdue shipments."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from allocation.inputs import IN_TRANSIT, LOCATION, NODE, ON_HAND, SKU
from allocation.model import ModelInputs, early_days
from allocation.plan import ALERT_COLUMNS, AlertKind
from allocation.solution import DECIMALS, EPS, SMALL, Solution, by_key, landings

__all__ = ["plan_alerts"]


def plan_alerts(
    inputs: ModelInputs, solution: Solution, replenishment: pd.DataFrame
) -> pd.DataFrame:
    """Every alert of a plan; `replenishment` as scheduled (`explain._scheduled`)."""
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
        if (s, j) not in solution.short or mean <= SMALL:  # a forecast of 0.0 has no risk
            continue
        short = solution.short[(s, j)]
        # Planned stock short of the mean: what covers it. Less than SMALL short is float
        # dust, not a risk (a mean's rounding once raised alerts on locations fully covered).
        stock = max(0.0, round(mean - short, DECIMALS))  # no -0.0 from float dust
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
            if w.kind == "forward" and end > EPS and days_end > policy.overstock_days:
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
            if start > EPS and days_start > policy.slow_mover_days:
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
        days_start = np.where(daily > 0, start / daily, np.where(start > EPS, np.inf, 0.0))
        days_end = np.where(daily > 0, end / daily, np.where(end > EPS, np.inf, 0.0))
    rows = []
    kinds: tuple[tuple[AlertKind, np.ndarray, np.ndarray, float], ...] = (
        ("slow_mover", start, days_start, policy.slow_mover_days),
        ("overstock", end, days_end, policy.overstock_days),
    )
    for kind, units, days, bound in kinds:
        for i in np.flatnonzero((units > EPS) & (days > bound)):
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
    daily = by_key(inputs.needs, LOCATION, "daily")
    on_hand = by_key(inputs.needs, LOCATION, ON_HAND)
    # What lands at each (sku, distributor), by day: its shipments in transit and every
    # delivery of the plan (another warehouse's may land before the waiting one)
    arrivals = inputs.arrivals
    incoming = landings(arrivals[SKU], arrivals[NODE], arrivals["in_time_day"], arrivals["in_time"])
    delivered = landings(
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
    there = by_key(early, LOCATION, "stock")
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
        stock = max(0.0, round(there[(s, f)], DECIMALS))
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
                if stock <= reachable + SMALL and reachable < forecast - SMALL
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
    return short > SMALL and (short >= 1.0 - 1e-9 or stock < 1.0)


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
        "stock": round(stock, DECIMALS),
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
    daily = by_key(inputs.needs, LOCATION, "daily")  # a distributor's (node_daily: warehouses')
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
