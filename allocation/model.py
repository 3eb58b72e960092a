"""The allocation LP: prepared inputs in, a PuLP problem with named constraints out.

One plan covers, for each demand location j, the cover period C_j = L_j + R days from today (L_j
its inbound lead time, R the review period). Stock counts where it will be in time: on hand plus
in transit arriving inside the node's window; a lane whose lead time ends after the destination's
window is not offered, and stock that reaches a node too late (by a slow lane in, or in transit)
does not leave it on a line due earlier (timing rows). For every SKU s (symbols as in
`allocation.policy.Policy`):

Decisions
    x[s,a] >= 0     units moved on arc a (supply lane or one direction of a lateral link;
                    rounded to whole units after the solve by `allocation.whole_units`)
    y[s,d,w] >= 0   units suggested to distributor d from warehouse w (its `served_by`)
    e[s,w] >= 0     units kept at warehouse w after the plan (serves a forward catchment)
    u[s,j], v[s,j]  units of mean demand / of safety stock left uncovered at demand location j
                    (u <= D, v <= SS)
    b[s,f], c[s,f]  the same over the days before forward warehouse f's lane can land (early;
                    c <= SS^e, b unbounded)
    o[s,f] >= 0     units of overstock at forward warehouse f above B days of supply
    g[s,t] >= 0     units below the fair share of tier t (soft, heavily penalised)

Constraints (names as in the problem, so a person can read a binding row or a dual)
    balance[s,w]          A[s,w] + sum_in x - sum_out x - sum_d y[s,d,w] - e[s,w] = 0
    capacity[w]           sum_s vol_s e[s,w] <= max(K_w, stock already there)
    lane_capacity[a]      sum_s vol_s x[s,a] <= K_a
    demand[s,j]           cover[s,j] + u[s,j] + v[s,j] >= D[s,j] + SS[s,j]
                          cover = e[s,f] at a forward warehouse, P[s,d] + sum_w y[s,d,w] at a
                          distributor (P: its own on hand and in time in transit). One row:
                          v <= SS makes u >= D - cover follow, so a row for the mean alone
                          would only repeat it (it was a fifth of the rows at scale)
    order_up_to[s,d]      sum_w y[s,d,w] <= need (D + SS - P) rounded up to whole packs and MOQ
    credit[d]             sum_s,w c_s y[s,d,w] <= G_d          (yellow credit; red gets no y)
    overstock[s,f]        e[s,f] - o[s,f] <= B * daily demand served from f
    cross_region[s,w]     sum of x[s,a] over the cross-region arcs out of w <= stock at w
                          above its overstock bound
    cross_region_in[s,r]  sum of x[s,a] over the cross-region arcs into region r <= what r's
                          demand locations lack, less what its other warehouses hold
    timing[s,w,tau(,v)]   sum of x, y leaving w due before day tau - sum of x into w arriving
                          before tau <= on hand + in transit arriving before tau (`TimingRow`:
                          only where some stock reaches w too late for such lines; with v, over
                          w and the warehouse v one lane upstream)
    early[s,f]            E[s,f] + b[s,f] + c[s,f] >= D^e[s,f] + SS^e[s,f]
                          (`early_needs`: the demand of forward warehouse f's first tau_f days,
                          tau_f the lead time of its fastest lane, meets only what is there by
                          then: E = on hand + in transit arriving before tau_f + laterals in
                          of a shorter lead time - transfers out of f)
    fair_share[s,t]       served by tier t + g[s,t] >= phi_t * need_t * min(1, supply_s / need_s)
    packs / moq           y = pack * k (k integer), y >= moq * z, y <= need * z (exact mode)

Objective (money): transport sum cost x + sum cost y + holding h R e + shortage p_j (u + b) +
kappa p_j (v + c) + overstock h H_o o + fair share penalty g. Penalties are multiples of unit
cost; a strategic distributor's penalty on a hot SKU is multiplied by m_hot so hot SKUs go
there first. p_j = p_t (1 + beta m_s / (m_s + d_j)) leans shortage towards locations with
more daily demand d_j (m_s: the SKU's median), where the same units short leave fewer days out
of stock (`stockout_day_weighted`).
Shortage is never infeasible: it is u and v, reported with the distributor (tier) that bears it.
"""

from __future__ import annotations

import graphlib
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pulp

from allocation.inputs import ARRIVAL_DATE, DATE, IN_TRANSIT, LOCATION, NODE, ON_HAND, SKU
from allocation.network import Distributor, Network, Sku
from allocation.policy import CATCHMENT, Policy
from allocation.safety import cover_demand, safety_stock

__all__ = [
    "Arc",
    "Delivery",
    "ModelInputs",
    "Variables",
    "build_problem",
    "cover_windows",
    "crosses",
    "prepare_inputs",
]

ArcKind = Literal["lane", "lateral", "cross_region"]
EARLY_COLUMNS = ["sku", "location", "days", "forecast", "mean", "safety", "stock", "penalty"]


@dataclass(frozen=True)
class Arc:
    """One direction of a way stock can move between warehouses (money per unit, days, units)."""

    origin: str
    destination: str
    cost_per_unit: float
    lead_time_days: int
    capacity: float | None
    kind: ArcKind
    region: str = ""  # the destination's region

    @property
    def name(self) -> str:
        return f"{self.origin}->{self.destination}"

    def cross_rows(self, s: str) -> tuple[str, ...]:
        """The rows capping SKU s on a cross-region arc: all that leaves its origin across
        regions (its overstock) and all that enters its destination's region across regions
        (what that region lacks); none for a lane or a lateral within a region."""
        if self.kind != "cross_region":
            return ()
        return (f"cross_region[{s},{self.origin}]", f"cross_region_in[{s},{self.region}]")


@dataclass(frozen=True)
class Delivery:
    """A warehouse allowed to supply a distributor (money per unit, days)."""

    distributor: str
    warehouse: str
    cost_per_unit: float
    lead_time_days: int


@dataclass(frozen=True)
class TimingRow:
    """Stock that reaches a node late cannot leave it early (row `timing[sku,node,tau]`).

    The lines leaving `node` that must leave before day `tau` to arrive inside their
    destination's cover period (transfers on `arcs_out`, `deliveries` (distributor, warehouse))
    take no more than what is there before `tau`: `rhs` (on hand, plus in-transit stock arriving
    before tau) and the plan's transfers into it over `arcs_in` (lead time below tau). Made only
    where some supply comes too late for such lines (an inbound lane of `tau` days or more, or
    in-transit stock arriving on day `tau` or later), where lane-by-lane lead times would count
    it. With `via` (a warehouse with a lane into `node`), the same over both nodes: what leaves
    `node` by `tau`, and what leaves `via` by the day a transfer must leave it to reach `node`
    before `tau` (other than to `node`), comes from what both have early, so that stock reaching
    `via` late does not reach `node` in time either."""

    sku: str
    node: str
    tau: int
    arcs_out: tuple[int, ...]
    deliveries: tuple[tuple[str, str], ...]
    arcs_in: tuple[int, ...]
    rhs: float
    via: str = ""

    @property
    def name(self) -> str:
        hop = f",{self.via}" if self.via else ""
        return f"timing[{self.sku},{self.node},{self.tau}{hop}]"


@dataclass
class ModelInputs:
    """Everything the LP needs, computed once from network, stock, demand and policy.

    available: units per (sku, warehouse) usable by the plan (on hand + in transit in time).
    stock: per (sku, node), on hand and in transit (`_stock_positions`); arrivals: each in-time
        shipment with the day it arrives (`_arrivals`).
    needs: one row per (sku, demand location) with kind, tier, mean (D), sigma, safety (SS),
        daily, cover_days, on_hand, in_transit (in time), position (P), need, cap, penalty.
    node_daily: mean units per day served from each (sku, warehouse) (its catchment and the
        distributors it serves), for days of supply and overstock bounds.
    early: the demand of each forward warehouse before its lane can land (`early_needs`).
    """

    network: Network
    policy: Policy
    today: pd.Timestamp
    integer_packs: bool
    skus: list[str]
    sku_info: dict[str, Sku]
    available: dict[tuple[str, str], float]
    stock: pd.DataFrame
    arrivals: pd.DataFrame
    needs: pd.DataFrame
    arcs: list[Arc]
    deliveries: list[Delivery]
    node_daily: dict[tuple[str, str], float]
    window: dict[str, int]
    cross_region_cap: dict[str, float]  # by `Arc.cross_rows` row
    fair_targets: dict[tuple[str, str], float]
    timing: list[TimingRow] = field(default_factory=list)
    early: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EARLY_COLUMNS))


@dataclass
class Variables:
    """Decision variables by key, and every constraint by its readable name."""

    flow: dict[tuple[str, int], pulp.LpVariable] = field(default_factory=dict)
    supply: dict[tuple[str, str, str], pulp.LpVariable | pulp.LpAffineExpression] = field(
        default_factory=dict
    )
    supply_free: dict[tuple[str, str, str], pulp.LpVariable] = field(default_factory=dict)
    packs: dict[tuple[str, str, str], pulp.LpVariable] = field(default_factory=dict)
    opened: dict[tuple[str, str, str], pulp.LpVariable] = field(default_factory=dict)
    ending: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)
    short: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)
    safety_short: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)
    early_short: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)
    early_safety_short: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)
    over: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)
    fair_gap: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)
    constraints: dict[str, pulp.LpConstraint] = field(default_factory=dict)
    cost_terms: dict[str, pulp.LpAffineExpression] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Preparation: pure pandas / numpy, no solver.


def _arcs(network: Network, policy: Policy) -> list[Arc]:
    regions = {w.id: w.region for w in network.warehouses}
    arcs = [
        Arc(
            ln.origin,
            ln.destination,
            ln.cost_per_unit,
            ln.lead_time_days,
            ln.capacity,
            "lane",
            regions[ln.destination],
        )
        for ln in network.lanes
    ]
    for lateral in network.laterals:
        a, b = lateral.between
        kind: ArcKind = "lateral" if regions[a] == regions[b] else "cross_region"
        if kind == "cross_region" and not policy.allow_cross_region_lateral:
            continue
        for origin, destination in ((a, b), (b, a)):
            arcs.append(
                Arc(
                    origin,
                    destination,
                    lateral.cost_per_unit,
                    lateral.lead_time_days,
                    lateral.capacity,
                    kind,
                    regions[destination],
                )
            )
    return arcs


def _windows(network: Network, policy: Policy, arcs: list[Arc]) -> dict[str, int]:
    """Days from today within which stock must arrive at a node to count (cover period)."""
    review = policy.review_period_days
    longest = max([a.lead_time_days for a in arcs] + [0])
    window: dict[str, int] = {}
    for warehouse in network.warehouses:
        if warehouse.kind == "forward":
            inbound = [a.lead_time_days for a in arcs if a.destination == warehouse.id]
            window[warehouse.id] = review + (min(inbound) if inbound else 0)
        else:
            window[warehouse.id] = review + longest
    for distributor in network.distributors:
        window[distributor.id] = review + distributor.lead_time_days
    return window


def cover_windows(network: Network, policy: Policy) -> pd.Series:
    """Each node's cover period in days (L + R), as a plan reads it: what a forecast row must
    fall inside to count."""
    return pd.Series(_windows(network, policy, _arcs(network, policy)), dtype=int)


def _shipments(
    stock: pd.DataFrame, today: pd.Timestamp, window: dict[str, int], today_given: bool = True
) -> pd.DataFrame:
    """The stock rows (one per SKU, node and arrival date) with their in-transit units split into
    `in_time` (arriving inside the node's cover period) and `late`, `in_time_day`: the day (from
    today, at least 0) in-time units arrive, and `overdue_days`: how many days before today
    in-transit units were due (planned as arriving today, and said: `allocation.alerts`
    `overdue_in_transit`). None without a today given: the plan then starts on the forecast's
    first day, and stock due before it is no later."""
    frame = stock.copy()
    days = (frame[ARRIVAL_DATE] - today).dt.days
    limit = frame[NODE].map(window).to_numpy(dtype=float)
    in_time = frame[IN_TRANSIT].where(days.isna() | (days < limit), 0.0)
    frame["in_time"] = in_time.fillna(0.0)
    frame["late"] = frame[IN_TRANSIT] - frame["in_time"]
    frame["in_time_day"] = days.clip(lower=0).where(frame["in_time"] > 0)
    overdue = (days < 0) & (frame[IN_TRANSIT] > 0) & today_given
    frame["overdue_days"] = (-days).where(overdue)
    return frame


def _stock_positions(shipments: pd.DataFrame) -> pd.DataFrame:
    """Per (sku, node): on hand, in transit arriving in time and arriving too late (units, summed
    over its shipments, `_shipments`; each in-time one's day is in `_arrivals`)."""
    grouped = shipments.groupby([SKU, NODE], as_index=False)
    return grouped.agg({ON_HAND: "sum", "in_time": "sum", "late": "sum"})


def _arrivals(shipments: pd.DataFrame) -> pd.DataFrame:
    """The in-time shipments, `sku, node, in_time, in_time_day, overdue_days`: each counts from
    its own day, and one overdue is said on its own."""
    arriving = shipments[shipments["in_time"] > 0]
    return arriving[[SKU, NODE, "in_time", "in_time_day", "overdue_days"]].reset_index(drop=True)


def stockout_day_weighted(
    penalty: np.ndarray, daily: np.ndarray, sku: np.ndarray, weight: float
) -> np.ndarray:
    """Shortage penalty per unit at each demand location: p (1 + beta m / (m + d)), d its mean
    daily demand, m the median d of the SKU's locations with demand, beta the policy's
    `stockout_day_weight`.

    u units short at a location selling d a day leave it without stock for about u / d days, so
    under shortage the same units short cost more days out where d is small. The factor leans
    the plan towards covering those first: near 1 + beta at a location that sells little,
    1 + beta / 2 at the median (and at a SKU's only location), towards 1 as d grows past it.
    Measured against the SKU's own median, it reads the same whether a SKU sells in pieces or
    pallets. It adds to the tier's penalty, never takes from it: a unit short costs at least
    p_t, so against transport and holding the plan fills at least as much as without it. At
    most 1 + beta, which the policy keeps below the tiers' penalty ratios (`Policy`), so it
    never reorders tiers."""
    daily = np.clip(daily, 0.0, None)
    selling = pd.Series(np.where(daily > 0, daily, np.nan))
    median = selling.groupby(sku).transform("median").to_numpy(dtype=float)
    share = np.where(daily > 0, median / (median + daily), 1.0)
    return penalty * (1.0 + weight * share)


def prepare_inputs(
    network: Network,
    stock: pd.DataFrame,
    demand: pd.DataFrame,
    policy: Policy | None = None,
    *,
    today: pd.Timestamp | None = None,
    integer_packs: bool = False,
) -> ModelInputs:
    """Compute cover periods, positions, safety stocks, needs and bounds (validated frames in)."""
    policy = policy or Policy()
    given = today is not None
    today = pd.Timestamp(today) if today is not None else pd.Timestamp(demand[DATE].min())
    today = today.normalize()
    arcs = _arcs(network, policy)
    window = _windows(network, policy, arcs)
    shipments = _shipments(stock, today, window, today_given=given)
    positions = _stock_positions(shipments)
    arrivals = _arrivals(shipments)
    warehouses = {w.id: w for w in network.warehouses}
    distributors = {d.id: d for d in network.distributors}
    # A SKU with neither stock nor demand has nothing to plan. Left out, a plan of one SKU on a
    # network of 33,000 takes what it takes on one of 30 (0.13 s; it took 36 s building rows
    # for every SKU).
    present = set(positions[SKU]) | set(demand[SKU])
    skus = [s for s in network.sku_ids if s in present]
    sku_info = {s.id: s for s in network.skus}

    # Plain dicts: a MultiIndex lookup per key costs tens of microseconds, far too slow at scale.
    available = dict.fromkeys(itertools.product(skus, warehouses), 0.0)
    keys_pos = zip(positions[SKU], positions[NODE], strict=True)
    for key, units in zip(keys_pos, positions[ON_HAND] + positions["in_time"], strict=True):
        if key in available:  # a warehouse's stock (not a distributor's)
            available[key] = float(units)

    cover_days = pd.Series(window)
    target_at = {w.id: policy.service_target[CATCHMENT] for w in network.warehouses}
    target_at |= {d.id: policy.service_target[d.tier] for d in network.distributors}
    needs = cover_demand(demand, today, cover_days, pd.Series(target_at, dtype=float))
    needs["kind"] = np.where(needs[LOCATION].isin(list(distributors)), "distributor", "forward")
    # Dict maps, not per-row lambdas: needs has a row per (SKU, location), millions at scale.
    needs["tier"] = needs[LOCATION].map({j: d.tier for j, d in distributors.items()})
    needs["tier"] = needs["tier"].fillna(CATCHMENT).astype(object)
    targets = needs["tier"].map(policy.service_target).to_numpy(dtype=float)
    needs["service_target"] = targets
    needs["safety"] = safety_stock(needs["sigma"].to_numpy(), targets)
    at_node = positions.set_index([SKU, NODE])
    where = pd.MultiIndex.from_arrays([needs[SKU], needs[LOCATION]])
    for column, source in (
        (ON_HAND, ON_HAND),
        (IN_TRANSIT, "in_time"),
        ("late_in_transit", "late"),
    ):
        needs[column] = at_node[source].astype(float).reindex(where).fillna(0.0).to_numpy()
    needs["position"] = needs[ON_HAND] + needs[IN_TRANSIT]
    target_level = needs["mean"] + needs["safety"]
    is_dist = needs["kind"] == "distributor"
    needs["need"] = np.where(
        is_dist, np.clip(target_level - needs["position"], 0.0, None), target_level
    )
    needs["cap"] = _order_caps(needs, distributors)
    unit_cost = needs[SKU].map({s: i.unit_cost for s, i in sku_info.items()}).to_numpy(float)
    hot = needs[SKU].map({s: i.is_hot for s, i in sku_info.items()}).to_numpy(dtype=bool)
    penalty = needs["tier"].map(policy.shortage_penalty).to_numpy(dtype=float) * unit_cost
    boost = np.where(
        hot & (needs["tier"] == "strategic").to_numpy(), policy.hot_strategic_multiplier, 1.0
    )
    needs["penalty"] = stockout_day_weighted(
        penalty * boost,
        needs["daily"].to_numpy(dtype=float),
        needs[SKU].to_numpy(),
        policy.stockout_day_weight,
    )
    needs["unit_cost"] = unit_cost

    deliveries = [
        Delivery(d.id, w, d.cost_per_unit, d.lead_time_days)
        for d in network.distributors
        if d.credit != "red"
        for w in d.served_by
    ]
    node_daily = _node_daily(network, needs, skus)
    cross_cap = _cross_region_caps(arcs, available, node_daily, needs, network, policy, skus)
    fair = _fair_targets(needs, available, network, policy, skus)
    offered = [a for a in arcs if a.lead_time_days < window[a.destination]]
    timing = _timing_rows(offered, deliveries, window, positions, arrivals, skus, cross_cap)
    early = (
        early_needs(needs, offered, arrivals, available)
        if policy.early_days_apart
        else pd.DataFrame(columns=EARLY_COLUMNS)
    )
    return ModelInputs(
        network=network,
        policy=policy,
        today=today,
        integer_packs=integer_packs,
        skus=skus,
        sku_info=sku_info,
        available=available,
        stock=positions,
        arrivals=arrivals,
        needs=needs,
        arcs=offered,
        deliveries=deliveries,
        node_daily=node_daily,
        window=window,
        cross_region_cap=cross_cap,
        fair_targets=fair,
        timing=timing,
        early=early,
    )


def early_days(arcs: list[Arc]) -> dict[str, int]:
    """Per warehouse with a lane in: the lead time of its fastest lane, the first day its
    replenishment can land."""
    days: dict[str, int] = {}
    for arc in arcs:
        if arc.kind == "lane":
            days[arc.destination] = min(
                days.get(arc.destination, arc.lead_time_days), arc.lead_time_days
            )
    return days


def early_needs(
    needs: pd.DataFrame,
    arcs: list[Arc],
    arrivals: pd.DataFrame,
    available: dict[tuple[str, str], float],
) -> pd.DataFrame:
    """The demand each forward warehouse meets before its replenishment can land: `sku,
    location, days, forecast, mean, safety, stock, penalty`, one row per forward catchment with
    demand (a forecast or a safety stock above 0).

    days: the lead time of its fastest lane (`early_days`). forecast: its cover period's mean
    demand, pro rata (x days / cover days). mean and safety: that forecast and the safety stock
    pro rata (x the root of the share, as the spread of independent days grows), but no more
    than could be there by then (its stock and all that the warehouses with a faster lane into
    it hold): what no plan can serve is no choice of this one, and priced it would only shift
    the objective (the alerts say it: `alerts._early_alerts`). stock: what is there by then
    for certain (on hand, and in transit arriving before that day).

    The plan's cover rows count stock that lands on day 6 against the demand of days 1 to 5
    too; these rows (`early[s,f]`) do not, so the plan sends a store that
    would run dry before its delivery a lateral of a shorter lead time, and does not ship away
    what the store needs until then. Every forward warehouse with a lane in has them: were they
    only where the stock falls short, laterals would drain the stores without rows towards
    those with one (BENCHMARKS.md, "Where the rest of the gap is"). Made when the policy asks
    (`Policy.early_days_apart`)."""
    days_of = early_days(arcs)
    rows = needs[(needs["kind"] == "forward") & needs[LOCATION].isin(list(days_of))]
    days = rows[LOCATION].map(days_of).to_numpy(dtype=float)
    share = np.clip(days / np.maximum(rows["cover_days"].to_numpy(dtype=float), 1.0), 0.0, 1.0)
    early_in = arrivals[arrivals["in_time_day"] < arrivals[NODE].map(days_of)]
    arriving = early_in.groupby([SKU, NODE])["in_time"].sum()
    where = pd.MultiIndex.from_arrays([rows[SKU], rows[LOCATION]])
    stock = rows[ON_HAND].to_numpy(dtype=float)
    stock = stock + arriving.reindex(where).fillna(0.0).to_numpy(dtype=float)
    # What the warehouses with a faster lane into each location hold, per (SKU, location).
    # Cross-region arcs left out: they carry only overstock, and only where it pays.
    sources: dict[str, set[str]] = defaultdict(set)
    for arc in arcs:
        if arc.kind != "cross_region" and arc.lead_time_days < days_of.get(arc.destination, 0):
            sources[arc.destination].add(arc.origin)
    reachable = stock
    if sources and available:
        held = pd.Series(available, dtype=float)
        matrix = held.unstack(level=1).fillna(0.0)
        reach = pd.DataFrame(
            {
                f: matrix.reindex(columns=sorted(origins), fill_value=0.0).sum(axis=1)
                for f, origins in sources.items()
            },
            index=matrix.index,
        ).stack()
        reachable = stock + reach.reindex(where).fillna(0.0).to_numpy(dtype=float)
    forecast = rows["mean"].to_numpy(dtype=float) * share
    mean = np.minimum(forecast, reachable)
    safety = np.clip(rows["safety"].to_numpy(dtype=float), 0.0, None) * np.sqrt(share)
    safety = np.clip(np.minimum(mean + safety, reachable) - mean, 0.0, None)
    frame = pd.DataFrame(
        {
            SKU: rows[SKU].to_numpy(),
            LOCATION: rows[LOCATION].to_numpy(),
            "days": days.astype(int),
            "forecast": forecast,
            "mean": mean,
            "safety": safety,
            "stock": stock,
            "penalty": rows["penalty"].to_numpy(dtype=float),
        }
    )
    # A series forecast at 0 with a quantile above it keeps its safety row.
    return frame[(frame["forecast"] > 0) | (frame["mean"] + frame["safety"] > 0)].reset_index(
        drop=True
    )


def priced_early(early: pd.DataFrame) -> pd.DataFrame:
    """The early rows the LP holds (`early_needs`): those with something a plan could cover."""
    return early[early["mean"] + early["safety"] > 0].reset_index(drop=True)


@dataclass(frozen=True)
class _Early:
    """What can leave a warehouse before day tau and what is there before it (`TimingRow`):
    rhs by SKU where it holds stock, `late` the SKUs whose in-transit stock comes too late."""

    arcs_out: tuple[int, ...]
    deliveries: tuple[tuple[str, str], ...]
    arcs_in: tuple[int, ...]
    slow_lane: bool
    rhs: dict[str, float]
    late: list[str]


def _timing_rows(
    arcs: list[Arc],
    deliveries: list[Delivery],
    window: dict[str, int],
    positions: pd.DataFrame,
    arrivals: pd.DataFrame,
    skus: list[str],
    cross_cap: dict[str, float],
) -> list[TimingRow]:
    """The `TimingRow`s of the plan: for each warehouse and each deadline of the lines leaving
    it (the last day a line may leave: its destination's cover period minus its lead time), a
    row for every SKU where an inbound lane is that slow, and for the SKUs whose in-transit
    stock there arrives that late; and the same one lane upstream (`via`). None in a network
    whose chains of lanes fit and whose stock in transit arrives early enough."""
    due_out: dict[str, list[tuple[int, int | None, tuple[str, str] | None]]] = defaultdict(list)
    for i, arc in enumerate(arcs):
        due_out[arc.origin].append((window[arc.destination] - arc.lead_time_days, i, None))
    for d in deliveries:
        pair = (d.distributor, d.warehouse)
        due_out[d.warehouse].append((window[d.distributor] - d.lead_time_days, None, pair))
    # Per warehouse, once: its SKUs' on hand, and each in-time shipment with the day it arrives.
    held_at = {
        str(node): dict(zip(frame[SKU].astype(str), frame[ON_HAND].astype(float), strict=True))
        for node, frame in positions.groupby(NODE)
    }
    arriving_at = {
        str(node): (
            frame[SKU].astype(str).to_numpy(),
            frame["in_time"].to_numpy(dtype=float),
            frame["in_time_day"].to_numpy(dtype=float),
        )
        for node, frame in arrivals.groupby(NODE)
    }
    nothing = (np.zeros(0, dtype=object), np.zeros(0), np.zeros(0))

    def early(node: str, tau: int, skip: int | None = None) -> _Early:
        out = [
            (i, pair) for due, i, pair in due_out[node] if due <= tau and (i is None or i != skip)
        ]
        inbound = [(i, a.lead_time_days) for i, a in enumerate(arcs) if a.destination == node]
        rhs = dict(held_at.get(node, {}))
        sku, units, day = arriving_at.get(node, nothing)
        late = day >= tau
        for s, q in zip(sku[~late].tolist(), units[~late].tolist(), strict=True):
            rhs[s] = rhs.get(s, 0.0) + q
        return _Early(
            arcs_out=tuple(i for i, _ in out if i is not None),
            deliveries=tuple(pair for _, pair in out if pair is not None),
            arcs_in=tuple(i for i, lead in inbound if lead < tau),
            slow_lane=any(lead >= tau for _, lead in inbound),
            rhs=rhs,
            late=list(dict.fromkeys(sku[late].tolist())),
        )

    rows: list[TimingRow] = []
    for node, uses in due_out.items():
        for tau in sorted({due for due, _, _ in uses}):
            here = early(node, tau)
            chosen = skus if here.slow_lane else here.late
            rows += [
                TimingRow(
                    s, node, tau, here.arcs_out, here.deliveries, here.arcs_in, here.rhs.get(s, 0.0)
                )
                for s in chosen
            ]
            for b in here.arcs_in:  # one lane upstream: stock reaching its origin late
                via = arcs[b].origin
                there = early(via, tau - arcs[b].lead_time_days, skip=b)
                chosen = skus if there.slow_lane else there.late
                if arcs[b].kind == "cross_region":  # a flow only where it may cross
                    chosen = [s for s in chosen if crosses(cross_cap, s, arcs[b])]
                if not chosen:
                    continue
                both = [i for i in here.arcs_in if i != b]
                rows += [
                    TimingRow(
                        s,
                        node,
                        tau,
                        here.arcs_out + there.arcs_out,
                        here.deliveries + there.deliveries,
                        tuple(both) + there.arcs_in,
                        here.rhs.get(s, 0.0) + there.rhs.get(s, 0.0),
                        via,
                    )
                    for s in chosen
                ]
    return rows


def _order_caps(needs: pd.DataFrame, distributors: dict[str, Distributor]) -> np.ndarray:
    """Most each row may be suggested (units): a distributor's need rounded up to whole packs
    and at least the MOQ (an order of less than the MOQ is no order); a forward row's need."""
    need = needs["need"].to_numpy(dtype=float)
    location = needs[LOCATION]
    pack = location.map({j: d.pack_size for j, d in distributors.items()}).to_numpy(dtype=float)
    first = location.map({j: d.first_order for j, d in distributors.items()}).to_numpy(float)
    is_distributor = ~np.isnan(pack)
    pack = np.where(is_distributor, pack, 1.0)
    first = np.where(is_distributor, first, 0.0)
    packs = np.ceil(need / pack - 1e-9) * pack
    cap = np.where(need <= 1e-9, 0.0, np.maximum(packs, first))
    return np.where(is_distributor, cap, need)


def _node_daily(
    network: Network, needs: pd.DataFrame, skus: list[str]
) -> dict[tuple[str, str], float]:
    """Mean daily demand served from each warehouse (units/day) for each of `skus`: the demand
    its stock can reach. Its own catchment (a forward warehouse) and an equal share of each
    distributor it serves, plus, down its lanes, each warehouse it supplies (a warehouse with
    several suppliers gives each an equal share). A regional warehouse counted its whole region
    (and, once, a distributor it serves twice): with the central warehouse in the region, or a
    second regional one, its overstock bound grew by demand it could not reach."""
    warehouses = [w.id for w in network.warehouses]
    row_of = {w: j for j, w in enumerate(warehouses)}
    distributors = {d.id: d for d in network.distributors}
    # The warehouses each demand location draws on: a catchment its own, a distributor each one
    # serving it (an equal share). Rows are added in order (np.add.at keeps it), so every sum is
    # the one a loop over the rows gives, to the bit.
    code, locations = pd.factorize(needs[LOCATION])
    draws_on = [
        [row_of[w] for w in distributors[loc].served_by] if loc in distributors else [row_of[loc]]
        for loc in locations
    ]
    flat = np.array([j for row in draws_on for j in row], dtype=np.int64)
    count = np.array([len(row) for row in draws_on], dtype=np.int64)
    first = np.cumsum(count) - count
    sizes = count[code]
    within = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    warehouse = flat[np.repeat(first[code], sizes) + within]
    column = np.repeat(pd.Index(skus).get_indexer(pd.Index(needs[SKU])), sizes)
    daily = np.repeat(needs["daily"].to_numpy(dtype=float) / np.maximum(sizes, 1), sizes)
    keep = column >= 0
    matrix = np.zeros((len(warehouses), len(skus)))
    np.add.at(matrix, (warehouse[keep], column[keep]), daily[keep])
    rate = dict(zip(warehouses, matrix, strict=True))
    suppliers: dict[str, list[str]] = defaultdict(list)
    for lane in network.lanes:
        suppliers[lane.destination].append(lane.origin)
    for node in _downstream_first(network):
        for origin in suppliers[node]:
            rate[origin] += rate[node] / len(suppliers[node])
    return {
        (skus[k], w): float(values[k]) for w, values in rate.items() for k in np.flatnonzero(values)
    }


def _downstream_first(network: Network) -> list[str]:
    """Warehouses ordered so that each comes before every warehouse supplying it (lanes form no
    cycle: the network refuses one). The same order in every process: sums taken in it (a
    central warehouse's daily demand) are then the same to the bit, where an order that followed
    string hashes moved them by a unit in the last place from one run to the next."""
    supplies: dict[str, list[str]] = {w.id: [] for w in network.warehouses}
    for lane in network.lanes:
        if lane.destination not in supplies[lane.origin]:
            supplies[lane.origin].append(lane.destination)
    return list(graphlib.TopologicalSorter(supplies).static_order())


def _cross_region_caps(
    arcs: list[Arc],
    available: dict[tuple[str, str], float],
    node_daily: dict[tuple[str, str], float],
    needs: pd.DataFrame,
    network: Network,
    policy: Policy,
    skus: list[str],
) -> dict[str, float]:
    """Units of each SKU that may cross regions, by `Arc.cross_rows` row: out of an origin its
    overstock above B days; into a region what its demand locations lack (a forward
    warehouse's need less its own stock, a distributor's order-up-to cap: its need net of its
    own stock rounded up to whole packs and MOQ; red credit none) less what the region's other
    warehouses hold. Without that second cap, 140 units of overstock went to a regional
    warehouse of a region that sells none of it, only to leave the origin's overstock penalty
    behind; counted gross, 8 still went where the south held 500 against a need of 8, and
    counted in units, not packs, a distributor served only across regions never got its pack."""
    crossing = [a for a in arcs if a.kind == "cross_region"]
    if not crossing:
        return {}
    caps = {
        f"cross_region[{s},{w}]": max(
            0.0, available[(s, w)] - policy.overstock_days * node_daily.get((s, w), 0.0)
        )
        for s in skus
        for w in {a.origin for a in crossing}
    }
    region_of: dict[str, str | None] = {w.id: w.region for w in network.warehouses}
    central = {w.id for w in network.warehouses if w.kind == "central"}
    # A distributor lacks in its territory only where a warehouse there serves it: one served by
    # a central warehouse alone gains nothing from stock crossing into its region.
    region_of.update(
        (d.id, d.region if set(d.served_by) - central else None) for d in network.distributors
    )
    red = {d.id for d in network.distributors if d.credit == "red"}
    held = [available.get(key, 0.0) for key in zip(needs[SKU], needs[LOCATION], strict=True)]
    lacking = np.where(
        needs["kind"] == "distributor",
        needs["cap"].to_numpy(dtype=float),
        np.maximum(0.0, needs["need"].to_numpy(dtype=float) - np.array(held, dtype=float)),
    )
    lacking[needs[LOCATION].isin(red).to_numpy()] = 0.0
    regions = needs[LOCATION].map(region_of).to_numpy()
    lack = pd.Series(lacking).groupby([needs[SKU].to_numpy(), regions]).sum()
    upstream = [w for w in network.warehouses if w.kind != "forward"]
    for r in {a.region for a in crossing}:
        holders = [w.id for w in upstream if w.region == r]
        for s in skus:
            there = sum(available.get((s, w), 0.0) for w in holders)
            caps[f"cross_region_in[{s},{r}]"] = max(0.0, float(lack.get((s, r), 0.0)) - there)
    return caps


def crosses(caps: dict[str, float], s: str, arc: Arc) -> bool:
    """Whether SKU s may move on `arc` at all: always on a lane or a lateral within a region;
    across regions only where each of its rows (`Arc.cross_rows`) leaves room."""
    return all(caps.get(row, 0.0) > 0 for row in arc.cross_rows(s))


def _fair_targets(
    needs: pd.DataFrame,
    available: dict[tuple[str, str], float],
    network: Network,
    policy: Policy,
    skus: list[str],
) -> dict[tuple[str, str], float]:
    """Under shortage (network stock below total need), each tier's least share (units).

    A tier's need counts what its distributors can take: none for red credit, and for yellow
    what the guaranteed amount buys, shared over the SKUs in proportion to their needs' cost. A
    yellow distributor guaranteed 0 that needed 30 raised its tier's share of 10 hot units from
    2.5 to 4, taken from strategic."""
    red = {d.id for d in network.distributors if d.credit == "red"}
    eligible = needs[~needs[LOCATION].isin(red)]
    guaranteed = {d.id: d.guaranteed_amount for d in network.distributors if d.credit == "yellow"}
    if guaranteed:
        cost = eligible[SKU].map({s.id: s.unit_cost for s in network.skus}).to_numpy(float)
        need = eligible["need"].to_numpy(float)
        money = pd.Series(cost * need).groupby(eligible[LOCATION].to_numpy()).transform("sum")
        budget = eligible[LOCATION].map(guaranteed).to_numpy(float)  # NaN: not yellow
        yellow = ~np.isnan(budget)
        share = np.ones(len(need))
        share[yellow] = np.minimum(
            1.0, budget[yellow] / np.maximum(money.to_numpy()[yellow], 1e-12)
        )
        eligible = eligible.assign(need=need * share)
    tier_need = eligible.groupby([SKU, "tier"])["need"].sum()
    total_need = tier_need.groupby(level=SKU).sum()
    supply = pd.Series(
        [sum(available[(s, w.id)] for w in network.warehouses) for s in total_need.index],
        index=total_need.index,
    )
    ratio = (supply / total_need.where(total_need > 0)).fillna(1.0)
    ratio_of_row = ratio.reindex(tier_need.index.get_level_values(SKU)).to_numpy()
    share = tier_need.index.get_level_values("tier").map(policy.fair_share).to_numpy(float)
    short = (ratio_of_row < 1.0) & (tier_need.to_numpy() > 0)
    least = share * tier_need.to_numpy() * ratio_of_row
    return {
        (str(key[0]), str(key[1])): float(units)
        for key, units in zip(tier_need.index[short], least[short], strict=True)
    }


# ---------------------------------------------------------------------------------------------
# The problem.


class _Names:
    """PuLP rewrites '-', '[', ']' in names; keep the readable name, hand PuLP a unique one."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __call__(self, readable: str) -> str:
        name = readable
        index = 1
        while pulp.LpElement.expression.sub("_", name) in self._used:
            index += 1
            name = f"{readable}#{index}"
        self._used.add(pulp.LpElement.expression.sub("_", name))
        return name


def build_problem(inputs: ModelInputs) -> tuple[pulp.LpProblem, Variables]:
    """Build the allocation LP (or MILP when packs are exact). Pure: solving is separate."""
    problem = pulp.LpProblem("allocation", pulp.LpMinimize)
    var = Variables()
    names = _Names()
    policy = inputs.policy
    network = inputs.network
    warehouses = {w.id: w for w in network.warehouses}
    distributors = {d.id: d for d in network.distributors}
    volume = {
        s: (inputs.sku_info[s].unit_volume if network.capacity_unit == "volume" else 1.0)
        for s in inputs.skus
    }

    def add(constraint: pulp.LpConstraint, readable: str) -> None:
        problem.addConstraint(constraint, names(readable))
        var.constraints[readable] = constraint

    needs = inputs.needs
    distributor_need = {
        (s, j): cap
        for s, j, kind, cap in zip(
            needs[SKU], needs[LOCATION], needs["kind"], needs["cap"], strict=True
        )
        if kind == "distributor" and cap > 0
    }
    counter = iter(range(10**12))

    # Decisions.
    for s in inputs.skus:
        for i, arc in enumerate(inputs.arcs):
            if not crosses(inputs.cross_region_cap, s, arc):
                continue
            var.flow[(s, i)] = problem.add_variable(
                f"x{next(counter)}",
                lowBound=0,
                cat="Integer" if inputs.integer_packs else "Continuous",
            )
        for w in warehouses:
            var.ending[(s, w)] = problem.add_variable(f"e{next(counter)}", lowBound=0)
    for delivery in inputs.deliveries:
        for s in inputs.skus:
            key = (s, delivery.distributor)
            if key not in distributor_need:
                continue
            cap = float(distributor_need[key])
            _add_supply(
                problem,
                var,
                add,
                inputs,
                distributors[delivery.distributor],
                delivery,
                s,
                cap,
                counter,
            )

    # Flow balance at every warehouse.
    inflow: dict[tuple[str, str], list[pulp.LpVariable]] = defaultdict(list)
    outflow: dict[tuple[str, str], list[pulp.LpVariable | pulp.LpAffineExpression]] = defaultdict(
        list
    )
    for (s, i), x in var.flow.items():
        arc = inputs.arcs[i]
        inflow[(s, arc.destination)].append(x)
        outflow[(s, arc.origin)].append(x)
    for (s, _d, w), y in var.supply.items():
        outflow[(s, w)].append(y)
    for s in inputs.skus:
        for w in warehouses:
            add(
                inputs.available[(s, w)]
                + pulp.lpSum(inflow[(s, w)])
                - pulp.lpSum(outflow[(s, w)])
                - var.ending[(s, w)]
                == 0,
                f"balance[{s},{w}]",
            )

    # Shared capacities.
    for w, warehouse in warehouses.items():
        already = sum(volume[s] * inputs.available[(s, w)] for s in inputs.skus)
        add(
            pulp.lpSum(volume[s] * var.ending[(s, w)] for s in inputs.skus)
            <= max(warehouse.capacity, already),
            f"capacity[{w}]",
        )
    for i, arc in enumerate(inputs.arcs):
        flows = [(s, x) for (s, j), x in var.flow.items() if j == i]
        if arc.capacity is not None and flows:
            add(
                pulp.lpSum(volume[s] * x for s, x in flows) <= arc.capacity,
                f"lane_capacity[{arc.name}]",
            )
    # Only overstock crosses regions, and only as much as the region it enters lacks: all
    # that leaves an origin and all that enters a region across them, not each lane.
    crossing: dict[str, list[pulp.LpVariable]] = defaultdict(list)
    for (s, i), x in var.flow.items():
        for name in inputs.arcs[i].cross_rows(s):
            crossing[name].append(x)
    for name, xs in crossing.items():
        add(pulp.lpSum(xs) <= inputs.cross_region_cap[name], name)

    # Timing: what leaves a node early comes from what is there early (`TimingRow`).
    for timing in inputs.timing:
        s = timing.sku
        leaving = [var.flow[(s, i)] for i in timing.arcs_out if (s, i) in var.flow]
        leaving += [var.supply[(s, d, w)] for d, w in timing.deliveries if (s, d, w) in var.supply]
        if not leaving:
            continue
        arriving = [var.flow[(s, i)] for i in timing.arcs_in if (s, i) in var.flow]
        add(pulp.lpSum(leaving) - pulp.lpSum(arriving) <= timing.rhs, timing.name)

    # Demand cover, safety stock, overstock at every demand location.
    supplied: dict[tuple[str, str], list[pulp.LpVariable | pulp.LpAffineExpression]] = defaultdict(
        list
    )
    for (s, d, _w), y in var.supply.items():
        supplied[(s, d)].append(y)
    short_cost = []
    for row in needs.to_dict("records"):
        s, j = str(row[SKU]), str(row[LOCATION])
        mean, ss = float(row["mean"]), float(row["safety"])
        if row["kind"] == "forward":
            cover: pulp.LpAffineExpression = pulp.lpSum([var.ending[(s, j)]])
        else:
            cover = float(row["position"]) + pulp.lpSum(supplied[(s, j)])
        if mean + ss <= 0:
            continue
        u = var.short[(s, j)] = problem.add_variable(f"u{next(counter)}", lowBound=0, upBound=mean)
        v = var.safety_short[(s, j)] = problem.add_variable(
            f"v{next(counter)}", lowBound=0, upBound=ss
        )
        add(cover + u + v >= mean + ss, f"demand[{s},{j}]")
        short_cost.append(float(row["penalty"]) * (u + policy.safety_penalty_share * v))
        if row["kind"] == "distributor" and (s, j) in supplied:
            add(pulp.lpSum(supplied[(s, j)]) <= float(row["cap"]), f"order_up_to[{s},{j}]")

    short_cost += _add_early(problem, var, add, inputs, counter)

    over_cost = []
    for w, warehouse in warehouses.items():
        if warehouse.kind != "forward":
            continue
        for s in inputs.skus:
            bound = policy.overstock_days * inputs.node_daily.get((s, w), 0.0)
            if inputs.available[(s, w)] <= bound and not inflow[(s, w)]:
                continue
            o = var.over[(s, w)] = problem.add_variable(f"o{next(counter)}", lowBound=0)
            add(var.ending[(s, w)] - o <= bound, f"overstock[{s},{w}]")
            unit = inputs.sku_info[s].unit_cost
            over_cost.append(policy.daily_holding_cost(unit) * policy.overstock_cost_days * o)

    # Credit: yellow distributors up to the guaranteed amount (red ones have no supply at all).
    for buyer in network.distributors:
        if buyer.credit != "yellow":
            continue
        terms = [
            inputs.sku_info[s].unit_cost * y
            for (s, dd, _w), y in var.supply.items()
            if dd == buyer.id
        ]
        if terms:
            add(pulp.lpSum(terms) <= buyer.guaranteed_amount, f"credit[{buyer.id}]")

    # Fair share under shortage.
    by_tier: dict[tuple[str, str], list[tuple[str, str, float]]] = defaultdict(list)
    for s_, j, kind, tier, need in zip(
        needs[SKU], needs[LOCATION], needs["kind"], needs["tier"], needs["need"], strict=True
    ):
        by_tier[(s_, tier)].append((j, kind, float(need)))
    fair_cost = []
    for (s, tier), target in inputs.fair_targets.items():
        served: list[pulp.LpAffineExpression | pulp.LpVariable | float] = []
        for j, kind, need in by_tier[(s, tier)]:
            if kind == "forward":
                if (s, j) in var.short:
                    served.append(need - var.short[(s, j)] - var.safety_short[(s, j)])
            else:
                served.extend(supplied.get((s, j), []))
        g = var.fair_gap[(s, tier)] = problem.add_variable(f"g{next(counter)}", lowBound=0)
        add(pulp.lpSum(served) + g >= target, f"fair_share[{s},{tier}]")
        fair_cost.append(policy.fair_share_penalty * inputs.sku_info[s].unit_cost * g)

    # Objective.
    transport = [inputs.arcs[i].cost_per_unit * x for (s, i), x in var.flow.items()]
    delivery_cost = {(d.distributor, d.warehouse): d.cost_per_unit for d in inputs.deliveries}
    transport += [delivery_cost[(d, w)] * y for (s, d, w), y in var.supply.items()]
    holding = [
        policy.daily_holding_cost(inputs.sku_info[s].unit_cost) * policy.review_period_days * e
        for (s, w), e in var.ending.items()
    ]
    var.cost_terms = {
        "transport": pulp.lpSum(transport),
        "holding": pulp.lpSum(holding),
        "shortage_penalty": pulp.lpSum(short_cost),
        "overstock_penalty": pulp.lpSum(over_cost),
        "fair_share_penalty": pulp.lpSum(fair_cost),
    }
    problem += pulp.lpSum(var.cost_terms.values())
    return problem, var


def _add_early(
    problem: pulp.LpProblem,
    var: Variables,
    add: Callable[[pulp.LpConstraint, str], None],
    inputs: ModelInputs,
    counter: Iterator[int],
) -> list[pulp.LpAffineExpression]:
    """The early rows (`early_needs`) and their shortage columns b, c; returns their money."""
    early = priced_early(inputs.early)
    if early.empty:
        return []
    days = early_days(inputs.arcs)
    arriving: dict[tuple[str, str], list[pulp.LpVariable]] = defaultdict(list)
    leaving: dict[tuple[str, str], list[pulp.LpVariable]] = defaultdict(list)
    # Transfers leave at once, from what is there now. A distributor's line may leave later,
    # from what the lane brings (the timing rows say by when): not counted here.
    for (s, i), x in var.flow.items():
        arc = inputs.arcs[i]
        if arc.lead_time_days < days.get(arc.destination, 0):
            arriving[(s, arc.destination)].append(x)
        leaving[(s, arc.origin)].append(x)
    kappa = inputs.policy.safety_penalty_share
    cost = []
    for s, f, mean, safety, stock, penalty in zip(
        early[SKU].astype(str).tolist(),
        early[LOCATION].astype(str).tolist(),
        early["mean"].astype(float).tolist(),
        early["safety"].astype(float).tolist(),
        early["stock"].astype(float).tolist(),
        early["penalty"].astype(float).tolist(),
        strict=True,
    ):
        there = stock + pulp.lpSum(arriving[(s, f)]) - pulp.lpSum(leaving[(s, f)])
        # No upper bound: a plan that ships out more than the warehouse has early pays for it.
        b = var.early_short[(s, f)] = problem.add_variable(f"b{next(counter)}", lowBound=0)
        cost.append(penalty * b)
        short = [b]
        if safety > 0:  # one row, as demand[s,j]: c <= SS^e makes b >= D^e - E follow
            c = var.early_safety_short[(s, f)] = problem.add_variable(
                f"c{next(counter)}", lowBound=0, upBound=safety
            )
            cost.append(kappa * penalty * c)
            short.append(c)
        add(there + pulp.lpSum(short) >= mean + safety, f"early[{s},{f}]")
    return cost


def _add_supply(
    problem: pulp.LpProblem,
    var: Variables,
    add: Callable[[pulp.LpConstraint, str], None],
    inputs: ModelInputs,
    distributor: Distributor,
    delivery: Delivery,
    s: str,
    cap: float,
    counter: Iterator[int],
) -> None:
    """y[s,d,w]: continuous, or pack-exact with an MOQ switch when packs are exact."""
    key = (s, delivery.distributor, delivery.warehouse)
    n = next(counter)
    if not inputs.integer_packs:
        y = problem.add_variable(f"y{n}", lowBound=0, upBound=cap)
        var.supply[key] = y
        var.supply_free[key] = y
        return
    pack, moq = distributor.pack_size, distributor.moq
    packs = problem.add_variable(
        f"k{n}", lowBound=0, upBound=math.floor(cap / pack + 1e-9), cat="Integer"
    )
    y_expr = pack * packs
    var.supply[key] = y_expr
    var.packs[key] = packs
    if moq > pack:
        name = f"{s},{delivery.distributor},{delivery.warehouse}"
        opened = var.opened[key] = problem.add_variable(f"z{n}", cat="Binary")
        add(y_expr >= moq * opened, f"moq[{name}]")
        add(y_expr <= cap * opened, f"moq_open[{name}]")
