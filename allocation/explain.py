"""`explain()`: a solved plan as the frames a person acts on. Transfers and replenishment with
the numbers behind each line (forecast over the cover period, safety stock, stock, the binding
constraint), the day each line can leave, unmet demand with who bears it and why, and KPIs; the
alerts come from `allocation.alerts`."""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from typing import Any

import numpy as np
import pandas as pd

from allocation.alerts import plan_alerts
from allocation.errors import listed
from allocation.inputs import IN_TRANSIT, LOCATION, NODE, ON_HAND, SKU
from allocation.model import Arc, ModelInputs, early_days
from allocation.network import Distributor
from allocation.plan import (
    REPLENISHMENT_COLUMNS,
    TRANSFER_COLUMNS,
    UNMET_COLUMNS,
    Plan,
    SolverFacts,
)
from allocation.policy import CATCHMENT
from allocation.schedule import Line, departures
from allocation.solution import DECIMALS, EPS, SMALL, Solution, by_key, landings

__all__ = ["LATE", "explain"]

LATE = "late"  # in a line's binding: it arrives after its destination's cover period
_ONWARD_SHOWN = 3  # destinations a transfer's reason names where its units go on


def explain(inputs: ModelInputs, solution: Solution, facts: SolverFacts) -> Plan:
    """Turn a solved problem into the plan's frames, alerts and KPIs."""
    orders, timed_out = _orders(inputs, solution), _timed_out(inputs, solution)
    transfers, replenishment = _scheduled(
        inputs, _transfers(inputs, solution), _replenishment(inputs, solution, orders, timed_out)
    )
    unmet = _unmet(inputs, solution, orders, timed_out)
    alerts = plan_alerts(inputs, solution, replenishment)
    kpis = _kpis(inputs, solution, transfers, replenishment, unmet, alerts)
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
    in_transit = landings(
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
    daily = by_key(inputs.needs[inputs.needs["kind"] == "distributor"], LOCATION, "daily")
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


def _dates(today: pd.Timestamp, offsets: Iterable[int]) -> dict[int, pd.Timestamp]:
    """The date of each day offset from today: one Timestamp sum per offset, not per plan line."""
    return {days: today + pd.Timedelta(days=days) for days in set(offsets)}


def _transfers(inputs: ModelInputs, solution: Solution) -> pd.DataFrame:
    means = by_key(inputs.needs, LOCATION, "mean")
    safeties = by_key(inputs.needs, LOCATION, "safety")
    seen = by_key(inputs.needs, LOCATION, "forecast_days")
    on_hands = by_key(inputs.stock, "node", ON_HAND)
    in_times = by_key(inputs.stock, "node", "in_time")
    onward = _onward(inputs, solution)
    first_day = early_days(inputs.arcs)
    early = by_key(inputs.early, LOCATION, "forecast")
    early_stock = by_key(inputs.early, LOCATION, "stock")
    rows = []
    for (s, i), quantity in solution.flow.items():
        if quantity <= EPS:
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
                *arc.cross_rows(s),
            )
            if _full(inputs, solution, name, s)
        ]
        if arc.kind == "lane":
            why = "supply down the chain"
        elif arc.kind == "lateral":
            why = "lateral transfer within the region"
        else:
            excess = inputs.cross_region_cap.get(f"cross_region[{s},{arc.origin}]", 0.0)
            why = (
                f"cross-region transfer of overstock ({excess:.0f} units above the bound at origin)"
            )
        rows.append(
            {
                "sku": s,
                "origin": arc.origin,
                "destination": arc.destination,
                "quantity": round(quantity, DECIMALS),
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
                        if dest in means
                        else "has no demand of its own"
                    )
                    + (
                        _passed_on(onward[dest])
                        if dest in onward
                        else _kept(inputs, s, arc)
                        if dest not in means
                        else ""
                    )
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


def _kept(inputs: ModelInputs, s: str, arc: Arc) -> str:
    """Why stock goes to a warehouse that neither sells it nor passes it on: it leaves the
    origin's overstock (that stock costs its overstock penalty there, not here)."""
    bound = inputs.policy.overstock_days
    over = inputs.available.get((s, arc.origin), 0.0) - bound * inputs.node_daily.get(
        (s, arc.origin), 0.0
    )
    text = " and passes none of it on in this plan"
    if over > EPS:
        text += f": it holds what {arc.origin} has above its {bound:g}-day bound ({over:.0f} units)"
    return text


def _onward(
    inputs: ModelInputs, solution: Solution
) -> dict[tuple[str, str], list[tuple[str, float]]]:
    """What each (sku, warehouse) sends on in the plan: its transfers out and its supply to
    distributors, as (destination, units), largest first."""
    onward: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for (s, i), quantity in solution.flow.items():
        if quantity > EPS:
            onward[(s, inputs.arcs[i].origin)].append((inputs.arcs[i].destination, quantity))
    for (s, d, w), quantity in solution.supply.items():
        if quantity > EPS:
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
    if f"order_up_to[{s},{d}]" in solution.binding or supplied > need + EPS:
        return f"need covered (order-up-to level{_rounded_up(distributor, supplied, need)})"
    if _credit_spent(inputs, solution, distributor, s, orders):
        return f"credit limit (yellow, guaranteed {distributor.guaranteed_amount:g})"
    if solution.ending[(s, w)] <= EPS:
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
    if supplied <= need + EPS:
        return ""
    pack, moq = distributor.pack_size, distributor.moq
    if moq > need + EPS and supplied <= distributor.first_order + EPS:
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
        needs[column].astype(float).round(DECIMALS).tolist()  # no 3.0000000000000004
        for column in ("mean", "safety", ON_HAND, IN_TRANSIT, "need", "service_target")
    )
    cover = needs["cover_days"].astype(int).tolist()
    seen = needs["forecast_days"].tolist()
    upstream = _Upstream.of(inputs, solution, dict(zip(row_of, need_units, strict=True)))
    rows = []
    for (s, d, w), y in solution.supply.items():
        # Whole packs by construction (exact or repaired); drop the solver's float dust.
        quantity = float(round(y))
        if quantity <= EPS:
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
    upstream = _Upstream.of(inputs, solution, by_key(inputs.needs, LOCATION, "need"))
    rows = []
    for (s, j), short in solution.short.items():
        uncovered = solution.safety_short[(s, j)]
        if short <= SMALL and uncovered <= SMALL:
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
                "quantity": round(short, DECIMALS),
                "safety_uncovered": round(uncovered, DECIMALS),
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
    plain = [row for row in rows if row["cause"] == _NO_STOCK and row["quantity"] > SMALL]
    if not plain or inputs.policy.stockout_day_weight <= 0:
        return rows
    skus = {row["sku"] for row in plain}
    needs = inputs.needs[inputs.needs[SKU].isin(skus)]
    daily = by_key(needs, LOCATION, "daily")
    tier = dict(zip(zip(needs[SKU], needs[LOCATION], strict=True), needs["tier"], strict=True))
    # where each location's stock of a SKU came from in this plan
    received: dict[tuple[str, str], set[str]] = defaultdict(set)
    for (s, i), units in solution.flow.items():
        if s in skus and units > SMALL:
            received[(s, inputs.arcs[i].destination)].add(inputs.arcs[i].origin)
    for (s, buyer, w), units in solution.supply.items():
        if s in skus and units > SMALL:
            received[(s, buyer)].add(w)
    sources: dict[str, set[str]] = defaultdict(set)
    for arc in inputs.arcs:
        sources[arc.destination].add(arc.origin)
    for distributor in inputs.network.distributors:
        sources[distributor.id].update(distributor.served_by)
    covered: dict[str, list[tuple[float, str]]] = defaultdict(list)  # by SKU, slowest first
    for (s, k), d in daily.items():
        if d > 0 and (s, k) in received and solution.short.get((s, k), math.inf) <= SMALL:
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
    units = d.pack_size if orders.units[(s, d.id)] > EPS else d.first_order
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
        > (d.guaranteed_amount or 0.0) + EPS
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
    return _full_on_the_way(inputs, solution, upstream, s, j, inputs.window[j]) or _NO_STOCK


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
                lane for lane, room in self.lane_room.items() if room < unit - EPS
            )
        return self.full_lanes[unit]

    @classmethod
    def of(
        cls, inputs: ModelInputs, solution: Solution, needs: dict[tuple[str, str], float]
    ) -> _Upstream:
        arrivals = inputs.arrivals
        on_hand = by_key(inputs.stock, NODE, ON_HAND)
        shipments = landings(
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


def _stock_within_reach(
    inputs: ModelInputs,
    solution: Solution,
    upstream: _Upstream,
    s: str,
    w: str,
    days: int,
    over_full: bool = False,
) -> str | None:
    """A warehouse that the plan leaves holding s above its own catchment's need, there early
    enough to reach w before day `days` by lanes and laterals of its region (not cross-region
    ones, which carry only overstock; not lanes the plan fills), nearest first; None where none
    does. Where one does, w was not short of stock to pass on: whole packs or cost kept it
    there. Of what it holds, stock due there too late to leave in time does not count (it
    stays, at worst): in transit arriving on day 6 was said to reach an 8-day cover by day 9.
    over_full: count lanes the plan fills as a way too (`_full_on_the_way`)."""
    avoided = frozenset() if over_full else upstream.full(inputs, s)
    for u, lead in upstream.lead_into(w, days, avoided):
        # landing on day `days` is late: the cover period is days 0 .. days - 1
        late = inputs.available.get((s, u), 0.0) - upstream.there_by(s, u, days - lead - 1)
        left = solution.ending.get((s, u), 0.0) - max(0.0, late)
        if left > upstream.needs.get((s, u), 0.0) + SMALL:
            return u
    return None


def _full_on_the_way(
    inputs: ModelInputs, solution: Solution, upstream: _Upstream, s: str, w: str, days: int
) -> str | None:
    """Where no stock within reach was left over (`_stock_within_reach`) but some is over lanes
    the plan fills: those lanes (the ones between warehouses that reach w in time), and the
    stock they hold back; None otherwise. A lane filled two steps up read "stock or reach"."""
    full = upstream.full(inputs, s)
    if not full:
        return None
    source = _stock_within_reach(inputs, solution, upstream, s, w, days, over_full=True)
    reach = {u for u, _ in upstream.lead_into(w, days, frozenset())} | {w}
    lanes = sorted(
        arc.name
        for arc in inputs.arcs
        if arc.name in full and arc.origin in reach and arc.destination in reach
    )
    if source is None or not lanes:
        return None
    return (
        f"lane capacity: {', '.join(lanes)} carries all it can; stock is left at {source}, "
        f"which reaches {w} in time only over it"
    )


def _full(inputs: ModelInputs, solution: Solution, row: str, s: str) -> bool:
    """Whether `row` holds back more of s: it binds, or (a capacity or lane-capacity row) it has
    less room left than one unit of s takes, as whole units may leave it."""
    unit = inputs.sku_info[s].unit_volume if inputs.network.capacity_unit == "volume" else 1.0
    return row in solution.binding or solution.room.get(row, math.inf) < unit - EPS


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
            if quantity > EPS:
                into[(s, inputs.arcs[i].destination)].append((i, quantity))
    held: set[tuple[str, str, str]] = set()
    for row in rows:
        counted = set(row.arcs_in)
        late_in = sum(q for i, q in into.get((row.sku, row.node), []) if i not in counted)
        if inputs.available.get((row.sku, row.node), 0.0) + late_in > row.rhs + SMALL:
            held.update((row.sku, d, w) for d, w in row.deliveries if w == row.node)
    return held


def _order_above_need(d: Distributor, need: float) -> str | None:
    """The cause where distributor d's smallest order (its MOQ in whole packs) is above its
    need (units), else None."""
    smallest = d.first_order
    if smallest <= need + SMALL:
        return None
    return (
        f"MOQ / pack size: its smallest order, {smallest:g} units, is above its need of {need:.1f}"
    )


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
    left = [
        w for w in d.served_by if solution.ending.get((s, w), 0.0) > needs.get((s, w), 0.0) + SMALL
    ]
    late = [w for w in left if (s, d.id, w) in timed_out]
    if late:
        return (
            f"timing: the stock left at {late[0]} is not there in time to reach {d.id} inside its "
            f"cover period of {inputs.window[d.id]} days ({d.lead_time_days} of them on the way)"
        )
    # The order-up-to row lets a smallest order above the need through, so the MOQ holds a
    # distributor back only where stock was left to send it: with none in reach it read "MOQ"
    # (even "1 unit above its need of 0.8") where no stock was the cause.
    moq = _order_above_need(d, need)
    if left and moq:
        return moq
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
        if source is not None and moq:
            return moq
        if source is not None and d.pack_size > 1:
            return (
                f"whole packs of {d.pack_size:g}: stock is left at {source}, which reaches "
                f"{w} in time (another whole pack did not pay)"
            )
        if source is not None:
            return _left_upstream(source, w)
    for w in d.served_by:
        blocked = _full_on_the_way(inputs, solution, upstream, s, w, budget)
        if blocked:
            return f"{blocked} (it serves {d.id})"
    return _NO_STOCK


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
    alerts: pd.DataFrame,
) -> dict[str, Any]:
    """Expected fill rate (share of mean demand covered) by tier, expected stockout days, days of
    supply, cost split; beside the fill rates, which count the cover period as a whole, the
    SKU-locations of each tier that may run dry before their delivery lands (the
    `early_stockout_risk` alerts): a strategic fill rate of 100 % sat beside an alert of 56.8
    units short at a strategic distributor while its delivery waited.

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
        "early_stockout_risks_by_tier": _early_risks(needs, alerts),
        "cost": dict(solution.cost_terms),
    }


def _early_risks(needs: pd.DataFrame, alerts: pd.DataFrame) -> dict[str, int]:
    """`early_stockout_risk` alerts by the tier of their location (catchment: a forward
    warehouse's own demand)."""
    tier = dict(zip(needs[LOCATION].astype(str), needs["tier"].astype(str), strict=True))
    early = alerts.loc[alerts["kind"] == "early_stockout_risk", "node"].astype(str)
    return {str(name): int(count) for name, count in early.map(tier).value_counts().items()}
