"""Our policy in a replay: the forecast drives the supplier order, `allocation.plan` the rest.

At every review:
1. Supplier order (echelon base stock, `echelon_supplier_order`): what the network should hold
   so that every store can be stocked to its level when the order reaches it (the stores' levels
   plus network demand over the upstream lead time, at the service target), minus everything it
   holds or has on its way (on hand at every node, in transit, supplier deliveries not yet
   arrived); aiming at the stores' levels, it also brings forward what the supply cap may keep
   the next order from bringing (`_capped_lookahead`); at most the supply cap.
2. Distribution: `allocation.plan` (the LP) on the replay network translated into a planning
   `Network` (no capacities: the replay has none), the stock positions, the forecast restated so
   that the plan stocks each store to its own level (`plan_demand`) and a `Policy` whose
   catchment service target is the replay's. Transfers are rounded up to whole units; each origin
   ships at most what it holds now. A flow the LP routes through a warehouse
   in one plan (central -> regional -> forward) is cross-docked: shipped now from the central
   warehouse via the regional one, arriving after both lead times, as the plan assumed.
3. Regional restock (`regional_restock`): the plan keeps nothing upstream for the next review,
   so the regional warehouses are topped up from what the central warehouse still holds, to the
   forecast demand of their stores over their lead time plus a review period, plus safety stock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from allocation.baselines import (
    Topology,
    cascade_orders,
    inventory_position,
    orders_frame,
    split_proportionally,
    whole_on_hand,
)
from allocation.forecast_policy import (
    backtest_cover_quantile,
    check_forecast,
    forecast_days,
    forecast_targets,
    pooled_cover_demand,
    require_forecast,
    review_targets,
    target_matrix,
)
from allocation.network import Network
from allocation.planner import plan
from allocation.policy import CATCHMENT, Policy
from allocation.replay_network import region_id
from allocation.safety import safety_stock
from allocation.simulate import (
    ARRIVAL_DATE,
    COST_PER_UNIT,
    DATE,
    DESTINATION,
    FORWARD,
    KIND,
    LEAD_TIME,
    NODE,
    ON_HAND,
    ORIGIN,
    ORIGIN_DATE,
    QUANTITY,
    REGION,
    SKU,
    SUPPLIER,
    SUPPLY_CAP,
    UNIT_COST,
    VIA,
    ReplayNetwork,
    Review,
    SimulationError,
)

__all__ = ["PlanPolicy", "echelon_supplier_order", "to_plan_network", "to_plan_stock"]

EchelonTarget = Literal["stores", "installation"]
UNLIMITED_CAPACITY = 1e12  # units: the replay network has no warehouse capacities
RANK = {"central": 0, "regional": 1, FORWARD: 2}


def to_plan_network(network: ReplayNetwork) -> Network:
    """The replay network as a planning `Network`: downward lanes stay lanes, lanes between two
    nodes of the same kind become lateral links, supplier lanes drop out (the supplier order is
    not the plan's)."""
    kinds = dict(zip(network.nodes[NODE], network.nodes[KIND], strict=True))
    regions = _region_ids(network)
    lanes, laterals, seen = [], [], set()
    frame = network.lanes
    for origin, destination, cost, lead in zip(
        frame[ORIGIN].astype(str).tolist(),
        frame[DESTINATION].astype(str).tolist(),
        frame[COST_PER_UNIT].astype(float).tolist(),
        frame[LEAD_TIME].astype(int).tolist(),
        strict=True,
    ):
        if origin == SUPPLIER:
            continue
        entry = {"cost_per_unit": cost, "lead_time_days": lead}
        if RANK[kinds[origin]] < RANK[kinds[destination]]:
            lanes.append({"origin": origin, "destination": destination, **entry})
        elif RANK[kinds[origin]] == RANK[kinds[destination]]:
            pair = frozenset((origin, destination))
            if pair not in seen:
                seen.add(pair)
                laterals.append({"between": [origin, destination], **entry})
    return Network.model_validate(
        {
            "warehouses": [
                {"id": n, "kind": k, "region": regions[r], "capacity": UNLIMITED_CAPACITY}
                for n, k, r in network.nodes[[NODE, KIND, REGION]].itertuples(index=False)
            ],
            "lanes": lanes,
            "laterals": laterals,
            "skus": [
                {"id": s, "unit_cost": float(c)}
                for s, c in network.skus[[SKU, UNIT_COST]].itertuples(index=False)
            ],
        }
    )


def _region_ids(network: ReplayNetwork) -> dict[str, str]:
    """Each region label of the nodes -> its id in the plan's network (`region_id`: "North East"
    is North_East there); two labels with one id would merge their territories, so refused."""
    ids: dict[str, str] = {}
    for label in dict.fromkeys(network.nodes[REGION].tolist()):
        made = region_id(label)
        clash = [other for other, same in ids.items() if same == made]
        if clash:
            raise SimulationError(
                f"network.nodes: regions {clash[0]!r} and {label!r} both make the region id "
                f"{made!r} of the plan's network (a character an id cannot hold becomes '_'); "
                "rename one",
                source="network.nodes",
                item=str(label),
            )
        ids[label] = made
    return ids


def to_plan_stock(review: Review) -> pd.DataFrame:
    """Stock positions in the plan's shape: each node's on hand on a row of its own, and a row
    per SKU, node and arrival day of what is on its way there (internal transfers and supplier
    deliveries due that day, summed), so that each counts from its own day."""
    stock = review.on_hand[[SKU, NODE, ON_HAND]].copy()
    stock["in_transit"], stock[ARRIVAL_DATE] = 0.0, pd.NaT
    moving = review.in_transit
    if len(moving):
        inbound = moving.groupby([SKU, DESTINATION, ARRIVAL_DATE])[QUANTITY].sum().reset_index()
        inbound.columns = pd.Index([SKU, NODE, ARRIVAL_DATE, "in_transit"])
        inbound[ON_HAND] = 0.0
        stock = pd.concat([stock, inbound[stock.columns]], ignore_index=True)
    stock[ARRIVAL_DATE] = pd.to_datetime(stock[ARRIVAL_DATE])
    return stock


def _path_lead(network: ReplayNetwork, topology: Topology, node: str) -> int:
    """Days from the supplier down to `node` along its replenishment lanes."""
    days, current = 0, node
    while current != SUPPLIER:
        parent = topology.parent[current]
        days += network.lead_time(parent, current)
        current = parent
    return days


def echelon_supplier_order(
    review: Review,
    *,
    service_target: float,
    topology: Topology | None = None,
    echelon_target: EchelonTarget = "stores",
) -> pd.DataFrame:
    """Supplier orders (`sku, origin, destination, quantity`) for the node(s) the supplier feeds.

    Target per SKU, echelon_target "stores" (lean): the stores' own order-up-to levels (their
    lead time plus a review period, at the service target, `forecast_targets`) plus the
    service-target quantile of the demand of the stores the node feeds over the longest lead time
    from the supplier to a store's parent: what the network needs so that every store can be
    stocked to its level when this order reaches it (an echelon base stock split into the upstream
    lead time, pooled, and the stores' cover, store by store, so that it grows with the service
    target as the stores' safety stocks do). "installation" (stocked): the sum of every node's own
    order-up-to level, so that each echelon holds a review period of its own. Quantiles come from
    the forecaster's backtest when the review has one (`backtest_cover_quantile`), else from the
    daily quantiles. Echelon
    position: on hand everywhere plus everything in transit, supplier deliveries included. The
    order, whole units, is the shortfall, at most the SKU's supply cap. With "stores", the
    target also brings forward what the cap may keep the next order from bringing
    (`_capped_lookahead`, one review ahead).
    """
    assert review.forecast is not None
    network = review.network
    topology = topology or Topology.of(network)
    skus = list(network.skus[SKU])
    received = [i for i, node in enumerate(topology.nodes) if topology.parent[node] == SUPPLIER]
    levels = review_targets(review, service_target)
    by_node = levels.pivot(index=NODE, columns=SKU, values="target").reindex(columns=skus)
    kinds = dict(zip(network.nodes[NODE], network.nodes[KIND], strict=True))
    counted = [n for n in topology.nodes if echelon_target == "installation" or kinds[n] == FORWARD]
    # Each supplier-fed node plans for the forward locations it feeds (one central warehouse).
    target = np.vstack(
        [
            by_node.loc[[n for n in counted if _under(n, topology.nodes[i], topology)]]
            .sum(axis=0)
            .to_numpy(dtype=float)
            for i in received
        ]
    )
    if echelon_target == "stores":  # plus the upstream lead time: supplier to a store's parent
        upstream = max(
            _path_lead(network, topology, f) - network.lead_time(topology.parent[f], f)
            for f in topology.forward
        )
        check_forecast(review.forecast, today=review.today, days_needed=upstream)
        quantile = _cover_quantile(review, topology, skus, upstream, service_target)
        target += np.ceil(quantile[received] - 1e-9)
        target += _capped_lookahead(review, topology, skus, service_target)[received]
    position = np.zeros((len(received), len(skus)))
    held = review.on_hand.groupby([NODE, SKU])[ON_HAND].sum()
    moving = review.in_transit.groupby([DESTINATION, SKU])[QUANTITY].sum()
    for r, i in enumerate(received):
        echelon = [n for n in topology.nodes if _under(n, topology.nodes[i], topology)]
        for frame in (held, moving):
            part = frame[frame.index.get_level_values(0).isin(echelon)]
            sums = part.groupby(level=1).sum().reindex(skus, fill_value=0.0)
            position[r] += sums.to_numpy(dtype=float)
    cap = network.skus[SUPPLY_CAP].to_numpy(dtype=float)
    shortfall = np.clip(target - position, 0.0, None)
    rows = []
    for k, sku in enumerate(skus):
        wanted = shortfall[:, k]
        granted = wanted if wanted.sum() <= cap[k] else split_proportionally(cap[k], wanted)
        rows += [
            (sku, SUPPLIER, topology.nodes[received[r]], float(q)) for r, q in enumerate(granted)
        ]
    return orders_frame(rows)


def _capped_lookahead(
    review: Review, topology: Topology, skus: list[str], service_target: float
) -> np.ndarray:
    """Units the supplier order brings forward because the next order may not bring the next
    review's demand: the rise of the service-target quantile of demand when this order's cover
    (the longest lead time from the supplier to a store, plus a review period) grows by one
    review, less the supply cap, where positive; per node x SKU.

    One review ahead only (the replay's forecasts reach 28 days), and zero where the forecast or
    the forecaster's backtest does not reach that far (past the backtest's horizon a quantile is
    a guess). The whole cap counts for each supplier-fed node: the replay has one."""
    assert review.forecast is not None
    network = review.network
    cover = max(_path_lead(network, topology, f) for f in topology.forward) + review.review_days
    longer = cover + review.review_days
    reach = [forecast_days(review.forecast, review.today)]
    if review.backtest is not None:
        bt = review.backtest
        reach.append(
            int((pd.to_datetime(bt[DATE]) - pd.to_datetime(bt[ORIGIN_DATE])).dt.days.max())
        )
    if min(reach) < longer:
        return np.zeros((len(topology.nodes), len(skus)))
    near = _cover_quantile(review, topology, skus, cover, service_target)
    far = _cover_quantile(review, topology, skus, longer, service_target)
    cap = network.skus[SUPPLY_CAP].to_numpy(dtype=float)
    return np.ceil(np.clip(far - near - cap[None, :], 0.0, None) - 1e-9)


def _cover_quantile(
    review: Review, topology: Topology, skus: list[str], cover: int, service_target: float
) -> np.ndarray:
    """Service-target quantile of demand over `cover` days, per node x SKU (each node pooling the
    locations it feeds): from the backtest's cover-period errors when the review has one, else
    from the daily quantiles (days independent)."""
    assert review.forecast is not None
    days = np.full(len(topology.nodes), cover)
    if review.backtest is not None:
        _, quantile = backtest_cover_quantile(
            review.forecast,
            review.backtest,
            topology,
            skus,
            today=review.today,
            cover_days=days,
            service_target=service_target,
        )
        return quantile
    mean, sigma = pooled_cover_demand(
        review.forecast,
        topology,
        skus,
        today=review.today,
        cover_days=cover,
        service_target=service_target,
    )
    return np.asarray(mean + safety_stock(sigma, service_target))


def _under(node: str, ancestor: str, topology: Topology) -> bool:
    """Whether `ancestor` is on `node`'s replenishment path (or is the node itself)."""
    current = node
    while current != SUPPLIER:
        if current == ancestor:
            return True
        current = topology.parent[current]
    return False


@dataclass
class PlanPolicy:
    """Forecast + `allocation.plan` (see the module docstring). echelon_target: how much the
    supplier order keeps in the network (`echelon_supplier_order`). safety_penalty_share: the
    planning policy's kappa (the planner's default 0.3): a unit of safety stock left uncovered
    costs less than a unit of mean demand, so when a SKU is short the plan covers every store's
    mean demand before anyone's safety stock (on the M5 replay 1.0, which ranks them equal, gives
    the same stockout rate at a slightly higher cost). early_days_apart: the planning policy's
    (`Policy.early_days_apart`), on: a store about to run dry before its delivery lands gets a
    lateral (stockout days -1 to -19 % on the M5 windows). `plan_seconds` adds up the time spent
    building and solving plans; `statuses` keeps each plan's solver status."""

    service_target: float = 0.95
    echelon_target: EchelonTarget = "stores"
    safety_penalty_share: float = 0.3
    early_days_apart: bool = True
    solver: str = "highs"
    name: str = "ours"
    plan_seconds: float = 0.0
    statuses: list[str] = field(default_factory=list)

    def decide(self, review: Review) -> pd.DataFrame:
        require_forecast(review, self.name)
        network = review.network
        topology = Topology.of(network)
        supplier = echelon_supplier_order(
            review,
            service_target=self.service_target,
            topology=topology,
            echelon_target=self.echelon_target,
        )
        planning_network = to_plan_network(network)
        demand = plan_demand(review, self.service_target, topology)
        policy = Policy(
            review_period_days=review.review_days,
            service_target={CATCHMENT: self.service_target},
            holding_rate_per_year=network.holding_rate * 365,
            safety_penalty_share=self.safety_penalty_share,
            early_days_apart=self.early_days_apart,
        )
        result = plan(
            planning_network,
            to_plan_stock(review),
            demand,
            policy,
            today=review.today,
            solver=self.solver,  # type: ignore[arg-type]
        )
        self.plan_seconds += result.solver.build_seconds + result.solver.solve_seconds
        self.statuses.append(result.solver.status)
        moves = shippable(result.transfers, review)
        restock = regional_restock(moves, review, self.service_target, topology)
        parts = [frame for frame in (supplier, moves, restock) if len(frame)]
        return pd.concat(parts, ignore_index=True) if parts else orders_frame([])


def plan_demand(review: Review, service_target: float, topology: Topology) -> pd.DataFrame:
    """The forecast restated for the plan so that it stocks each store to its own order-up-to
    level (`forecast_targets`: the store's lead time plus a review period, at the service target,
    from the backtest's cover-period errors when the review has one).

    The plan covers a store for its window W (review period plus the shortest lane into the store,
    a lateral one included) with the mean over W plus z(target) times the root of the summed daily
    variances, each day's spread read from the quantile at the target. The frame keeps the daily
    point forecast and carries one quantile column, at the service target, whose distance d to the
    forecast is the same on every day: the plan's safety stock is then sqrt(W) x d, set to the
    store's level minus its mean over W (at least 0). A service target of 0.5 or less has no
    safety stock to restate: the frame then carries no quantile column.
    """
    assert review.forecast is not None
    network = review.network
    forecast = review.forecast
    frame = forecast[
        forecast[SKU].isin(set(network.skus[SKU])) & forecast["location"].isin(topology.forward)
    ]
    frame = frame.loc[pd.to_datetime(frame["date"]) >= review.today, [SKU, "location", "date"]]
    frame = frame.assign(forecast=forecast.loc[frame.index, "forecast"].to_numpy(dtype=float))
    if service_target <= 0.5:
        return frame.reset_index(drop=True)
    levels = forecast_targets(
        forecast,
        network,
        today=review.today,
        review_days=review.review_days,
        service_target=service_target,
        backtest=review.backtest,
    )
    level = levels.set_index([NODE, SKU])["target"]
    lanes = network.lanes[network.lanes[ORIGIN] != SUPPLIER]
    window = (lanes.groupby(DESTINATION)[LEAD_TIME].min() + review.review_days).to_dict()
    offset = (pd.to_datetime(frame["date"]) - review.today).dt.days
    inside = offset < frame["location"].map(window)
    keys = [SKU, "location"]
    mean = frame[inside].groupby(keys)["forecast"].sum()
    days = frame["location"].map(window).astype(float)
    wanted = pd.Series(
        level.reindex(pd.MultiIndex.from_frame(frame[["location", SKU]])).to_numpy(dtype=float),
        index=frame.index,
    )
    over_window = mean.reindex(pd.MultiIndex.from_frame(frame[keys])).fillna(0.0).to_numpy()
    spread = np.clip(wanted.to_numpy() - over_window, 0.0, None) / np.sqrt(days.to_numpy())
    frame[f"q{service_target:g}"] = frame["forecast"].to_numpy() + spread
    return frame.reset_index(drop=True)


def regional_restock(
    moves: pd.DataFrame, review: Review, service_target: float, topology: Topology
) -> pd.DataFrame:
    """Top the regional warehouses up from what the central warehouse still holds after the
    plan's moves: up to the forecast demand of their stores over the central -> regional lead
    time plus the review period, plus safety stock (`forecast_targets`), rationed in proportion
    to the shortfalls. The plan itself keeps no stock upstream for the next review; without this
    every store would wait for cross-docked goods from the central warehouse."""
    network = review.network
    skus = list(network.skus[SKU])
    high = target_matrix(review, service_target, topology, skus)
    regional = np.array([kind == "regional" for kind in _kinds(network, topology)])
    low = np.where(regional[:, None], high - 1.0, -np.inf)  # only regional nodes ask
    position = inventory_position(review, topology, skus)
    on_hand = whole_on_hand(review, topology, skus)
    node_index, sku_index = pd.Index(topology.nodes), pd.Index(skus)
    if len(moves):
        k = sku_index.get_indexer(pd.Index(moves[SKU]))
        q = moves[QUANTITY].to_numpy(dtype=float)
        origin = node_index.get_indexer(pd.Index(moves[ORIGIN]))
        np.subtract.at(position, (origin, k), q)
        np.subtract.at(on_hand, (origin, k), q)
        np.add.at(position, (node_index.get_indexer(pd.Index(moves[DESTINATION])), k), q)
    no_supplier = np.zeros(len(skus))  # the supplier order is the echelon's, made apart
    rows = cascade_orders(low, high, position, on_hand, topology, skus, no_supplier)
    return orders_frame(rows)


def _kinds(network: ReplayNetwork, topology: Topology) -> list[str]:
    kinds = dict(zip(network.nodes[NODE], network.nodes[KIND], strict=True))
    return [kinds[node] for node in topology.nodes]


def shippable(transfers: pd.DataFrame, review: Review) -> pd.DataFrame:
    """The plan's transfers as shipments that can leave now, in whole units.

    The LP may move stock through a warehouse in one plan (central -> regional -> forward). A
    warehouse ships what it holds now; what it sends on beyond that comes out of its inbound flow
    and is cross-docked: shipped now from the inbound origin `via` the warehouse, arriving after
    both lanes' lead times, as the plan assumed. Every origin then ships at most what it holds,
    shared in proportion to the plan's quantities (the plan may count stock still in transit).
    """
    columns = [SKU, ORIGIN, DESTINATION, QUANTITY, VIA]
    if transfers.empty:
        return pd.DataFrame(columns=columns)
    moves = transfers[[SKU, ORIGIN, DESTINATION, QUANTITY]].copy()
    moves[QUANTITY] = np.ceil(moves[QUANTITY].to_numpy(dtype=float) - 1e-6)
    moves = moves[moves[QUANTITY] > 0].reset_index(drop=True)
    moves[VIA] = None
    held = review.on_hand.set_index([SKU, NODE])[ON_HAND]
    kinds = dict(zip(review.network.nodes[NODE], review.network.nodes[KIND], strict=True))
    rows: list[dict[str, object]] = []
    for (sku, hub), outgoing in moves.groupby([SKU, ORIGIN]):
        incoming = moves[(moves[SKU] == sku) & (moves[DESTINATION] == hub)]
        if kinds.get(str(hub)) == FORWARD or incoming.empty:
            continue
        on_hand = math.floor(float(held.get((sku, hub), 0.0)) + 1e-9)
        out = outgoing[QUANTITY].to_numpy(dtype=float)
        through = min(max(out.sum() - on_hand, 0.0), float(incoming[QUANTITY].sum()))
        if through <= 0:
            continue
        # Which outgoing units pass through, and from which inbound origin they come.
        passing = split_proportionally(through, out)
        sources = split_proportionally(through, incoming[QUANTITY].to_numpy(dtype=float))
        moves.loc[outgoing.index, QUANTITY] = out - passing
        moves.loc[incoming.index, QUANTITY] = incoming[QUANTITY].to_numpy() - sources
        for (origin, from_origin), (destination, to_destination) in _pairs(
            zip(incoming[ORIGIN], sources, strict=True),
            zip(outgoing[DESTINATION], passing, strict=True),
        ):
            quantity = min(from_origin, to_destination)
            rows.append(
                {SKU: sku, ORIGIN: origin, DESTINATION: destination, QUANTITY: quantity, VIA: hub}
            )
    if rows:
        moves = pd.concat([moves, pd.DataFrame(rows, columns=columns)], ignore_index=True)
    moves = moves[moves[QUANTITY] > 0].reset_index(drop=True)
    for key, group in moves.groupby([SKU, ORIGIN]):
        available = math.floor(float(held.get(key, 0.0)) + 1e-9)
        wanted = group[QUANTITY].to_numpy(dtype=float)
        if wanted.sum() > available:
            moves.loc[group.index, QUANTITY] = split_proportionally(available, wanted)
    return moves[moves[QUANTITY] > 0].reset_index(drop=True)


def _pairs(
    supplies: Iterable[tuple[str, float]], demands: Iterable[tuple[str, float]]
) -> Iterator[tuple[tuple[str, float], tuple[str, float]]]:
    """Match two lists of (name, units) with equal totals, first come first served (the
    north-west corner rule); yields each matched pair with the units still open on both sides,
    the smaller of which is the units matched."""
    supply = [(str(name), float(units)) for name, units in supplies if units > 0]
    demand = [(str(name), float(units)) for name, units in demands if units > 0]
    left = [units for _, units in supply]
    right = [units for _, units in demand]
    i = j = 0
    while i < len(supply) and j < len(demand):
        matched = min(left[i], right[j])
        yield (supply[i][0], left[i]), (demand[j][0], right[j])
        left[i] -= matched
        right[j] -= matched
        if left[i] <= 0:
            i += 1
        if right[j] <= 0:
            j += 1
