"""Replay real demand through a replenishment policy, day by day: the proof of a plan.

Every `review_days` the engine hands the policy what a planner knows that morning (the sales
history up to yesterday, stock on hand, stock in transit, and, when a `forecast_fn` is given, a
forecast made from that history), ships what the policy decides with the lanes' lead times, then
serves each day's real demand at the forward locations from stock on hand. Demand that finds no
stock is lost (lost sales, not backorders). The engine records fill rate, stockout rate, inventory,
turnover, days of supply and cost, so that policies can be compared on the same demand, starting
stock, lead times, review period and supply.

The engine is pure: it never imports `forecasting/`; a forecaster enters as a callable
`forecast_fn(history, horizon) -> forecast frame` (forecast contract: `sku, location, date,
forecast, q...`), wired in `serving/`. It may return a `ReplayForecast` instead, which adds the
forecaster's backtest (its forecasts of past days next to what sold), so that a policy can size
safety stock from the errors of whole cover periods rather than from daily quantiles.

Day order, for each simulated day:
1. stock due that day arrives (on hand at its destination);
2. on review days the policy decides; internal shipments leave their origin at once, supplier
   deliveries are capped per SKU and review (the same supply for every policy);
3. demand at forward locations is served from on hand, the rest is lost;
4. end-of-day stock is recorded.

Inventory counts stock the network owns: on hand at every node plus stock moving between its own
nodes. Goods ordered from the supplier count from the day they arrive at the receiving node.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import pandas as pd

from allocation.errors import AllocationInputError

__all__ = [
    "SUPPLIER",
    "ForecastFn",
    "ReplayForecast",
    "ReplayNetwork",
    "ReplayResult",
    "ReplenishmentPolicy",
    "Review",
    "SimulationError",
    "compute_kpis",
    "demand_cube",
    "first_sales",
    "replay",
    "supply_floor",
]

SUPPLIER = "supplier"  # origin of supplier deliveries; not a node of the network

# Column names of the frames this module reads and writes.
SKU = "sku"
LOCATION = "location"
NODE = "node"
KIND = "kind"
REGION = "region"
DATE = "date"
UNITS = "units"
ORIGIN = "origin"
DESTINATION = "destination"
QUANTITY = "quantity"
LEAD_TIME = "lead_time_days"
COST_PER_UNIT = "cost_per_unit"
UNIT_COST = "unit_cost"
LOST_SALE_COST = "lost_sale_cost"
SUPPLY_CAP = "supply_cap"
ON_HAND = "on_hand"
ARRIVAL_DATE = "arrival_date"
SHIP_DATE = "ship_date"
DEMAND = "demand"
SERVED = "served"
LOST = "lost"
FORWARD = "forward"
NODE_KINDS = ("central", "regional", "forward")

VIA = "via"
ORDER_COLUMNS = (SKU, ORIGIN, DESTINATION, QUANTITY)

ORIGIN_DATE = "origin_date"  # a backtest row's forecast origin: the last day its model saw


@dataclass(frozen=True)
class ReplayForecast:
    """A forecast with the forecaster's backtest.

    frame: the forecast contract (`sku, location, date, forecast, q<level>...`).
    backtest: `sku, location, origin_date, date, units, forecast`: forecasts the forecaster made
        of days before the history ended, each from the history up to `origin_date`, next to the
        units that sold (out-of-sample errors of the model that made `frame`).
    """

    frame: pd.DataFrame
    backtest: pd.DataFrame


ForecastFn = Callable[[pd.DataFrame, int], pd.DataFrame | ReplayForecast]
"""`forecast_fn(history, horizon_days)`: forecast frame for the days right after the history
(optionally with the forecaster's backtest, `ReplayForecast`)."""


class SimulationError(AllocationInputError):
    """A replay input or a policy decision that cannot be replayed; the message names the item."""

    def __init__(self, message: str, *, source: str, item: str | None = None) -> None:
        super().__init__(message, source=source, item=item)


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise SimulationError(
            f"{source}: missing column(s) {missing}; expected columns {list(columns)}",
            source=source,
            item=missing[0],
        )


@dataclass(frozen=True)
class ReplayNetwork:
    """The physical network a replay moves stock through.

    nodes: one row per stocking node: `node`, `kind` (central / regional / forward), `region`.
        Forward nodes are the demand locations (the `location` of the sales frame).
    lanes: `origin`, `destination`, `lead_time_days` (days, >= 0), `cost_per_unit` (money per unit).
        Origin `SUPPLIER` marks where supplier deliveries enter the network.
    skus: `sku`, `unit_cost` (money per unit), `lost_sale_cost` (money per unit of lost demand),
        `supply_cap` (units the supplier delivers at most per SKU and review, for every policy).
    holding_rate: holding cost per day as a share of unit cost (money per money per day),
        e.g. 0.25 / 365 for 25 % a year.
    """

    nodes: pd.DataFrame
    lanes: pd.DataFrame
    skus: pd.DataFrame
    holding_rate: float = 0.25 / 365

    def __post_init__(self) -> None:
        _require_columns(self.nodes, (NODE, KIND, REGION), "network.nodes")
        _require_columns(
            self.lanes, (ORIGIN, DESTINATION, LEAD_TIME, COST_PER_UNIT), "network.lanes"
        )
        _require_columns(self.skus, (SKU, UNIT_COST, LOST_SALE_COST, SUPPLY_CAP), "network.skus")
        duplicated = self.nodes[NODE][self.nodes[NODE].duplicated()]
        if len(duplicated):
            raise SimulationError(
                f"network.nodes: node {duplicated.iloc[0]!r} is listed twice",
                source="network.nodes",
                item=str(duplicated.iloc[0]),
            )
        bad_kind = self.nodes[~self.nodes[KIND].isin(NODE_KINDS)]
        if len(bad_kind):
            row = bad_kind.iloc[0]
            raise SimulationError(
                f"network.nodes: node {row[NODE]!r} has kind {row[KIND]!r}; "
                f"expected one of {NODE_KINDS}",
                source="network.nodes",
                item=str(row[NODE]),
            )
        known = set(self.nodes[NODE])
        for end in (ORIGIN, DESTINATION):
            allowed = known | {SUPPLIER} if end == ORIGIN else known
            unknown = self.lanes[~self.lanes[end].isin(allowed)]
            if len(unknown):
                raise SimulationError(
                    f"network.lanes: lane {unknown.iloc[0][ORIGIN]!r} -> "
                    f"{unknown.iloc[0][DESTINATION]!r} names unknown node "
                    f"{unknown.iloc[0][end]!r} as its {end}",
                    source="network.lanes",
                    item=str(unknown.iloc[0][end]),
                )
        negative = self.lanes[(self.lanes[LEAD_TIME] < 0) | (self.lanes[COST_PER_UNIT] < 0)]
        if len(negative):
            row = negative.iloc[0]
            raise SimulationError(
                f"network.lanes: lane {row[ORIGIN]!r} -> {row[DESTINATION]!r} has a negative "
                "lead time or cost; expected lead_time_days >= 0 and cost_per_unit >= 0",
                source="network.lanes",
                item=f"{row[ORIGIN]}->{row[DESTINATION]}",
            )
        if not (self.lanes[ORIGIN] == SUPPLIER).any():
            raise SimulationError(
                f"network.lanes: no lane from {SUPPLIER!r}; "
                "one node must receive supplier deliveries",
                source="network.lanes",
            )
        if self.holding_rate < 0:
            raise SimulationError(
                f"network: holding_rate {self.holding_rate} < 0",
                source="network",
                item="holding_rate",
            )

    @property
    def forward_nodes(self) -> list[str]:
        """Demand locations, in network order."""
        return list(self.nodes.loc[self.nodes[KIND] == FORWARD, NODE])

    def lead_time(self, origin: str, destination: str) -> int:
        """Lead time of one lane in days; SimulationError when there is no such lane."""
        match = self.lanes[
            (self.lanes[ORIGIN] == origin) & (self.lanes[DESTINATION] == destination)
        ]
        if match.empty:
            raise SimulationError(
                f"network.lanes: no lane {origin!r} -> {destination!r}",
                source="network.lanes",
                item=f"{origin}->{destination}",
            )
        return int(match[LEAD_TIME].iloc[0])

    def parent(self, node: str) -> str:
        """The node (or SUPPLIER) that replenishes `node`: the origin of its cheapest inbound lane
        from a higher echelon (supplier, central, regional), never a lateral one."""
        rank = {SUPPLIER: -1, "central": 0, "regional": 1, FORWARD: 2}
        kinds = dict(zip(self.nodes[NODE], self.nodes[KIND], strict=True))
        own = rank[kinds[node]]
        inbound = self.lanes[self.lanes[DESTINATION] == node]
        upstream = inbound[inbound[ORIGIN].map(lambda o: rank[kinds.get(o, SUPPLIER)] < own)]
        if upstream.empty:
            raise SimulationError(
                f"network.lanes: node {node!r} has no inbound lane from a higher echelon",
                source="network.lanes",
                item=node,
            )
        return str(upstream.sort_values([COST_PER_UNIT, LEAD_TIME])[ORIGIN].iloc[0])


@dataclass(frozen=True)
class Review:
    """What a planner knows on the morning of a review day.

    history: the sales frame (`sku, location, date, units`, plus any other columns) up to yesterday.
    on_hand: `sku, node, on_hand` for every SKU and node (units).
    in_transit: `sku, origin, destination, quantity, ship_date, arrival_date` of stock not yet
        arrived, supplier deliveries included (origin SUPPLIER).
    forecast: the forecast frame made from `history` when the replay has a forecast_fn, else None.
    backtest: the forecaster's backtest when the forecast_fn gives one (`ReplayForecast`), else
        None.
    """

    today: pd.Timestamp
    index: int
    review_days: int
    history: pd.DataFrame
    on_hand: pd.DataFrame
    in_transit: pd.DataFrame
    network: ReplayNetwork
    forecast: pd.DataFrame | None = None
    backtest: pd.DataFrame | None = None


class ReplenishmentPolicy(Protocol):
    """A policy decides, each review, what to ship: a frame `sku, origin, destination, quantity`.

    Rows with origin SUPPLIER are supplier orders (at most the SKU's `supply_cap` per review);
    other rows move stock on hand between nodes along the network's lanes. An optional `via`
    column routes a row through an intermediate node without stopping there (cross-docking):
    lead times and costs of the two lanes add up.
    """

    name: str

    def decide(self, review: Review) -> pd.DataFrame: ...


@dataclass
class ReplayResult:
    """The outcome of one replay.

    daily: `date, sku, location, demand, served, lost, on_hand` per forward location and day
        (units; on_hand at the end of the day).
    inventory: `date, node, sku, on_hand` at the end of each day for every node (units).
    shipments: `sku, origin, destination, quantity, ship_date, arrival_date`.
    kpis: see `compute_kpis`.
    """

    policy: str
    kpis: dict[str, float]
    daily: pd.DataFrame
    inventory: pd.DataFrame
    shipments: pd.DataFrame
    reviews: int = 0
    notes: list[str] = field(default_factory=list)


def compute_kpis(
    *,
    demand: np.ndarray,
    served: np.ndarray,
    inventory_units: np.ndarray,
    inventory_value: np.ndarray,
    holding_cost: float,
    transport_cost: float,
    lost_sale_cost: float,
) -> dict[str, float]:
    """The replay's measures, from daily arrays.

    demand, served: units per day x forward location x SKU (same shape).
    inventory_units, inventory_value: network inventory at the end of each day (units, money),
        one value per day.
    Returns:
        fill_rate: served / demand (share of units).
        stockout_rate: share of SKU-location-days with unmet demand.
        avg_inventory: mean end-of-day network inventory (units); avg_inventory_value (money).
        turnover: units served per average unit of inventory, annualised (turns per year).
        days_of_supply: average inventory over average daily units served (days).
        holding_cost, transport_cost, lost_sale_cost, total_cost (money).
    """
    if demand.shape != served.shape:
        raise ValueError(f"demand shape {demand.shape} != served shape {served.shape}")
    days = demand.shape[0]
    total_demand = float(demand.sum())
    total_served = float(served.sum())
    lost = demand - served
    avg_inventory = float(np.mean(inventory_units)) if days else 0.0
    daily_served = total_served / days if days else 0.0
    return {
        "days": float(days),
        "demand_units": total_demand,
        "served_units": total_served,
        "lost_units": total_demand - total_served,
        "fill_rate": total_served / total_demand if total_demand > 0 else 1.0,
        "stockout_rate": float(np.mean(lost > 1e-9)) if lost.size else 0.0,
        "avg_inventory": avg_inventory,
        "avg_inventory_value": float(np.mean(inventory_value)) if days else 0.0,
        # Nothing sold turns nothing over, however little is held (not inf on an empty shelf).
        "turnover": (total_served / avg_inventory * 365.0 / days)
        if avg_inventory > 0
        else (math.inf if total_served > 0 else 0.0),
        "days_of_supply": avg_inventory / daily_served if daily_served > 0 else math.inf,
        "holding_cost": holding_cost,
        "transport_cost": transport_cost,
        "lost_sale_cost": lost_sale_cost,
        "total_cost": holding_cost + transport_cost + lost_sale_cost,
    }


def demand_cube(
    sales: pd.DataFrame, dates: pd.DatetimeIndex, locations: list[str], skus: list[str]
) -> np.ndarray:
    """Units demanded per day x location x SKU over `dates` (missing rows are zero demand)."""
    window = sales[sales[DATE].isin(dates)]
    cube = np.zeros((len(dates), len(locations), len(skus)))
    if window.empty:
        return cube
    day = dates.get_indexer(pd.Index(window[DATE]))
    loc = pd.Index(locations).get_indexer(pd.Index(window[LOCATION]))
    sku = pd.Index(skus).get_indexer(pd.Index(window[SKU]))
    np.add.at(cube, (day, loc, sku), window[UNITS].to_numpy(dtype=float))
    return cube


def first_sales(history: pd.DataFrame) -> pd.Series:
    """Each (location, sku)'s first day with units sold: where its history starts, as the
    forecaster counts it (the days before a launch are no zero sales)."""
    return history[history[UNITS] > 0].groupby([LOCATION, SKU])[DATE].min()


def supply_floor(
    sales: pd.DataFrame,
    network: ReplayNetwork,
    start_stock: pd.DataFrame,
    *,
    start: pd.Timestamp | str,
    days: int,
    review_days: int,
) -> pd.DataFrame:
    """The stockouts no policy can avoid, per SKU: `sku, demand_days, supply_units,
    unavoidable_days`.

    demand_days: SKU-location-days of the replay with demand. supply_units: the most the SKU can
    have to serve them: its starting stock at every node plus the supply cap of every review whose
    delivery can reach a forward location before the replay ends. unavoidable_days: the demand
    days left unserved even if every unit could serve any location the moment it may first reach
    one (starting stock from the first day, each review's capped delivery after the shortest
    supplier-to-shelf lead time): the most demand days such a stock can serve in full is found day
    by day, keeping the smallest demands when the units in so far fall short (the Moore-Hodgson
    rule, optimal for nested budgets). A lower bound on the stockout days of any policy; a SKU
    with unavoidable days is supply-constrained.
    """
    start = pd.Timestamp(start)
    dates = pd.date_range(start, periods=days, freq="D")
    skus = list(network.skus[SKU])
    demand = demand_cube(sales[sales[SKU].isin(skus)], dates, network.forward_nodes, skus)
    lead = _shortest_supply_lead(network)
    # Units of the supplier's capped deliveries that can be at a forward location by each day.
    delivered = np.array(
        [sum(1 for r in range(0, days, review_days) if r + lead <= t) for t in range(days)]
    )
    held = start_stock.groupby(SKU)[ON_HAND].sum().reindex(skus, fill_value=0.0)
    cap = network.skus[SUPPLY_CAP].to_numpy(dtype=float)
    rows = []
    for k, sku in enumerate(skus):
        budget = float(held.iloc[k]) + cap[k] * delivered
        kept: list[float] = []  # max-heap (negated) of the demands served in full so far
        used, lost = 0.0, 0
        for t in range(days):
            for need in demand[t, :, k][demand[t, :, k] > 0]:
                heapq.heappush(kept, -float(need))
                used += float(need)
            while used > budget[t] + 1e-9:
                used += heapq.heappop(kept)  # drop the largest demand kept so far
                lost += 1
        total = int((demand[:, :, k] > 0).sum())
        rows.append((sku, total, float(budget[-1]), lost))
    return pd.DataFrame(rows, columns=[SKU, "demand_days", "supply_units", "unavoidable_days"])


def _shortest_supply_lead(network: ReplayNetwork) -> int:
    """Fewest days from the supplier to any forward location along the network's lanes."""
    best = {SUPPLIER: 0}
    lanes = list(
        zip(
            network.lanes[ORIGIN], network.lanes[DESTINATION], network.lanes[LEAD_TIME], strict=True
        )
    )
    for _ in range(len(network.nodes)):  # Bellman-Ford: lead times are >= 0
        for origin, destination, lead in lanes:
            if origin in best and best[origin] + int(lead) < best.get(destination, math.inf):
                best[destination] = best[origin] + int(lead)
    reached = [best[node] for node in network.forward_nodes if node in best]
    if not reached:
        raise SimulationError(
            "network.lanes: no forward location can be reached from the supplier",
            source="network.lanes",
        )
    return min(reached)


def _check_orders(orders: pd.DataFrame, policy: str) -> pd.DataFrame:
    source = f"policy {policy!r}"
    _require_columns(orders, ORDER_COLUMNS, source)
    orders = orders.loc[:, [*ORDER_COLUMNS, *([VIA] if VIA in orders.columns else [])]].copy()
    if VIA not in orders.columns:
        orders[VIA] = None
    orders[VIA] = orders[VIA].astype(object).where(orders[VIA].notna(), None)
    quantity = pd.to_numeric(orders[QUANTITY], errors="coerce")
    bad = orders[~np.isfinite(quantity) | (quantity < -1e-9)]
    if len(bad):
        row = bad.iloc[0]
        raise SimulationError(
            f"{source}: order {row[SKU]!r} {row[ORIGIN]!r} -> {row[DESTINATION]!r} has quantity "
            f"{row[QUANTITY]!r}; expected a finite number >= 0",
            source=source,
            item=str(row[SKU]),
        )
    orders[QUANTITY] = quantity.clip(lower=0.0)
    return orders[orders[QUANTITY] > 1e-9]


def replay(
    sales: pd.DataFrame,
    network: ReplayNetwork,
    start_stock: pd.DataFrame,
    policy: ReplenishmentPolicy,
    *,
    start: pd.Timestamp | str,
    days: int,
    review_days: int = 7,
    forecast_fn: ForecastFn | None = None,
    forecast_horizon: int = 28,
    observe: Literal["demand", "sales"] = "demand",
) -> ReplayResult:
    """Replay `days` days of real demand from `start` through `policy`.

    sales: the sales frame (`sku, location, date, units`, other columns kept for the forecaster),
        daily, covering the history before `start` and the replayed days; its units over the
        replayed days are the demand served. SKUs are those of `network.skus`.
    start_stock: `sku, node, on_hand` on the morning of `start` (units); missing rows are zero.
    review_days: days between reviews (the first review is on `start`).
    forecast_fn: called on each review with the history known that morning and `forecast_horizon`
        (days); its frame reaches the policy as `Review.forecast` (and, from a `ReplayForecast`,
        its backtest as `Review.backtest`).
    observe: what the history shows for replayed days: "demand" (true demand, as when lost demand
        is recorded) or "sales" (units served, censored by stockouts, as a till records them).
    """
    if days < 1 or review_days < 1:
        raise SimulationError(
            f"replay: days={days} and review_days={review_days} must be >= 1",
            source="replay",
            item="days",
        )
    _require_columns(sales, (SKU, LOCATION, DATE, UNITS), "sales")
    _require_columns(start_stock, (SKU, NODE, ON_HAND), "start_stock")
    start = pd.Timestamp(start)
    dates = pd.date_range(start, periods=days, freq="D")
    nodes = list(network.nodes[NODE])
    skus = list(network.skus[SKU])
    forward = network.forward_nodes
    node_index = pd.Index(nodes)
    sku_index = pd.Index(skus)
    forward_rows = node_index.get_indexer(forward)

    unknown_locations = sorted(set(sales[LOCATION]) - set(forward))
    if unknown_locations:
        raise SimulationError(
            f"sales: location {unknown_locations[0]!r} is not a forward node of the network "
            f"(forward nodes: {forward})",
            source="sales",
            item=str(unknown_locations[0]),
        )
    last_known = sales[DATE].max()
    if last_known < dates[-1]:
        raise SimulationError(
            f"sales: history ends on {last_known.date()} but the replay needs demand up to "
            f"{dates[-1].date()}",
            source="sales",
            item=DATE,
        )
    sales = sales[sales[SKU].isin(skus) & (sales[DATE] <= dates[-1])]
    demand = demand_cube(sales, dates, forward, skus)

    on_hand = np.zeros((len(nodes), len(skus)))
    stock = start_stock[start_stock[ON_HAND] != 0]
    bad_stock = stock[~stock[NODE].isin(nodes) | ~stock[SKU].isin(skus) | ~(stock[ON_HAND] >= 0)]
    if len(bad_stock):
        row = bad_stock.iloc[0]
        raise SimulationError(
            f"start_stock: row sku={row[SKU]!r} node={row[NODE]!r} on_hand={row[ON_HAND]}; "
            "expected a known SKU and node and on_hand >= 0",
            source="start_stock",
            item=f"{row[SKU]}@{row[NODE]}",
        )
    np.add.at(
        on_hand,
        (
            node_index.get_indexer(pd.Index(stock[NODE])),
            sku_index.get_indexer(pd.Index(stock[SKU])),
        ),
        stock[ON_HAND].to_numpy(dtype=float),
    )

    lanes = network.lanes.set_index([ORIGIN, DESTINATION])
    unit_cost = network.skus[UNIT_COST].to_numpy(dtype=float)
    lost_cost = network.skus[LOST_SALE_COST].to_numpy(dtype=float)
    supply_cap = network.skus[SUPPLY_CAP].to_numpy(dtype=float)
    max_lead = int(network.lanes[LEAD_TIME].max())
    arrivals = np.zeros((days + 2 * max_lead + 1, len(nodes), len(skus)))  # routes of two lanes
    internal_arrivals = np.zeros_like(arrivals)  # the part of arrivals that left one of our nodes
    internal_in_transit = np.zeros(len(skus))
    shipments: list[
        tuple[int, int, int, str, int, float]
    ] = []  # ship, arrive, sku, origin, dest, q

    served = np.zeros_like(demand)
    end_on_hand = np.zeros((days, len(nodes), len(skus)))
    inventory_units = np.zeros(days)
    inventory_value = np.zeros(days)
    holding_cost = transport_cost = 0.0
    history_base = sales[sales[DATE] < start]
    replay_rows = sales[sales[DATE] >= start].sort_values(DATE)
    reviews = 0

    for t in range(days):
        on_hand += arrivals[t]
        internal_in_transit -= internal_arrivals[t].sum(axis=0)
        if t % review_days == 0:
            history = _history(history_base, replay_rows, dates, t, forward, skus, served, observe)
            made = forecast_fn(history, forecast_horizon) if forecast_fn else None
            forecast: pd.DataFrame | None = made.frame if isinstance(made, ReplayForecast) else made
            backtest = made.backtest if isinstance(made, ReplayForecast) else None
            review = Review(
                today=dates[t],
                index=reviews,
                review_days=review_days,
                history=history,
                on_hand=_on_hand_frame(on_hand, nodes, skus),
                in_transit=_in_transit_frame(shipments, t, dates, nodes, skus),
                network=network,
                forecast=forecast,
                backtest=backtest,
            )
            orders = _check_orders(policy.decide(review), policy.name)
            transport_cost += _ship(
                orders,
                t=t,
                policy=policy.name,
                lanes=lanes,
                node_index=node_index,
                sku_index=sku_index,
                on_hand=on_hand,
                supply_cap=supply_cap,
                arrivals=arrivals,
                internal_arrivals=internal_arrivals,
                internal_in_transit=internal_in_transit,
                shipments=shipments,
            )
            reviews += 1
        served[t] = np.minimum(on_hand[forward_rows], demand[t])
        on_hand[forward_rows] -= served[t]
        end_on_hand[t] = on_hand
        units_by_sku = on_hand.sum(axis=0) + internal_in_transit
        inventory_units[t] = units_by_sku.sum()
        inventory_value[t] = float(units_by_sku @ unit_cost)
        holding_cost += inventory_value[t] * network.holding_rate

    kpis = compute_kpis(
        demand=demand,
        served=served,
        inventory_units=inventory_units,
        inventory_value=inventory_value,
        holding_cost=holding_cost,
        transport_cost=transport_cost,
        lost_sale_cost=float(((demand - served).sum(axis=(0, 1)) * lost_cost).sum()),
    )
    return ReplayResult(
        policy=policy.name,
        kpis=kpis,
        daily=_daily_frame(dates, forward, skus, demand, served, end_on_hand[:, forward_rows]),
        inventory=_cube_frame(end_on_hand, dates, nodes, skus, NODE, ON_HAND),
        shipments=_shipments_frame(shipments, dates, nodes, skus),
        reviews=reviews,
    )


def _ship(
    orders: pd.DataFrame,
    *,
    t: int,
    policy: str,
    lanes: pd.DataFrame,
    node_index: pd.Index,
    sku_index: pd.Index,
    on_hand: np.ndarray,
    supply_cap: np.ndarray,
    arrivals: np.ndarray,
    internal_arrivals: np.ndarray,
    internal_in_transit: np.ndarray,
    shipments: list[tuple[int, int, int, str, int, float]],
) -> float:
    """Apply one review's orders in place; returns their transport cost (money)."""
    source = f"policy {policy!r}"
    if orders.empty:
        return 0.0
    unknown_sku = orders[sku_index.get_indexer(pd.Index(orders[SKU])) < 0]
    if len(unknown_sku):
        raise SimulationError(
            f"{source}: order for unknown SKU {unknown_sku.iloc[0][SKU]!r}",
            source=source,
            item=str(unknown_sku.iloc[0][SKU]),
        )
    leads, costs = _routes(orders, lanes, source)
    sku_rows = sku_index.get_indexer(pd.Index(orders[SKU]))
    from_supplier = (orders[ORIGIN] == SUPPLIER).to_numpy()
    supplied = np.zeros(len(sku_index))
    np.add.at(supplied, sku_rows[from_supplier], orders[QUANTITY].to_numpy()[from_supplier])
    over_cap = np.flatnonzero(supplied > supply_cap + 1e-6)
    if len(over_cap):
        k = over_cap[0]
        raise SimulationError(
            f"{source}: orders {supplied[k]:g} units of SKU {sku_index[k]!r} from the supplier; "
            f"the supply cap is {supply_cap[k]:g} per review",
            source=source,
            item=str(sku_index[k]),
        )
    internal = orders[~from_supplier]
    shipped = np.zeros_like(on_hand)
    np.add.at(
        shipped,
        (
            node_index.get_indexer(pd.Index(internal[ORIGIN])),
            sku_index.get_indexer(pd.Index(internal[SKU])),
        ),
        internal[QUANTITY].to_numpy(),
    )
    over = np.argwhere(shipped > on_hand + 1e-6)
    if len(over):
        n, k = over[0]
        raise SimulationError(
            f"{source}: ships {shipped[n, k]:g} units of SKU {sku_index[k]!r} out of "
            f"{node_index[n]!r}, which has {on_hand[n, k]:g} on hand",
            source=source,
            item=f"{sku_index[k]}@{node_index[n]}",
        )
    np.subtract(on_hand, shipped, out=on_hand)
    np.clip(on_hand, 0.0, None, out=on_hand)

    quantities = orders[QUANTITY].to_numpy(dtype=float)
    destinations = node_index.get_indexer(pd.Index(orders[DESTINATION]))
    for i in range(len(orders)):
        k, d, q = sku_rows[i], destinations[i], quantities[i]
        if leads[i] == 0:
            on_hand[d, k] += q
        else:
            arrivals[t + leads[i], d, k] += q
            if not from_supplier[i]:
                internal_arrivals[t + leads[i], d, k] += q
                internal_in_transit[k] += q
        shipments.append((t, t + int(leads[i]), int(k), str(orders[ORIGIN].iloc[i]), int(d), q))
    return float(quantities @ costs)


def _routes(
    orders: pd.DataFrame, lanes: pd.DataFrame, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """Lead time (days) and cost (money per unit) of each order's route: its lane, or the two
    lanes through `via` (cross-docking: the goods pass through that node without stopping)."""
    leads = np.zeros(len(orders), dtype=int)
    costs = np.zeros(len(orders))
    keys: list[tuple[str, str]] = list(lanes.index.tolist())
    lead_of = dict(zip(keys, lanes[LEAD_TIME].astype(int).tolist(), strict=True))
    cost_of = dict(zip(keys, lanes[COST_PER_UNIT].astype(float).tolist(), strict=True))
    for i, (sku, origin, destination, via) in enumerate(
        orders[[SKU, ORIGIN, DESTINATION, VIA]].itertuples(index=False)
    ):
        legs = [(origin, destination)] if via is None else [(origin, via), (via, destination)]
        for leg in legs:
            if leg not in lead_of:
                route = " -> ".join([origin, *([via] if via is not None else []), destination])
                raise SimulationError(
                    f"{source}: no lane {leg[0]!r} -> {leg[1]!r} for SKU {sku!r} (route {route})",
                    source=source,
                    item=f"{leg[0]}->{leg[1]}",
                )
            leads[i] += lead_of[leg]
            costs[i] += cost_of[leg]
    return leads, costs


def _history(
    base: pd.DataFrame,
    replay_rows: pd.DataFrame,
    dates: pd.DatetimeIndex,
    t: int,
    forward: list[str],
    skus: list[str],
    served: np.ndarray,
    observe: Literal["demand", "sales"],
) -> pd.DataFrame:
    """The sales history known on the morning of replay day `t`."""
    if t == 0:
        return base.reset_index(drop=True)
    seen = replay_rows[replay_rows[DATE] < dates[t]]
    if observe == "sales":
        seen = seen.copy()
        seen[UNITS] = served[
            dates.get_indexer(pd.Index(seen[DATE])),
            pd.Index(forward).get_indexer(pd.Index(seen[LOCATION])),
            pd.Index(skus).get_indexer(pd.Index(seen[SKU])),
        ]
    return pd.concat([base, seen], ignore_index=True)


def _on_hand_frame(on_hand: np.ndarray, nodes: list[str], skus: list[str]) -> pd.DataFrame:
    node_grid, sku_grid = np.meshgrid(np.arange(len(nodes)), np.arange(len(skus)), indexing="ij")
    return pd.DataFrame(
        {
            SKU: np.asarray(skus, dtype=object)[sku_grid.ravel()],
            NODE: np.asarray(nodes, dtype=object)[node_grid.ravel()],
            ON_HAND: on_hand.ravel().copy(),
        }
    )


def _shipments_frame(
    shipments: list[tuple[int, int, int, str, int, float]],
    dates: pd.DatetimeIndex,
    nodes: list[str],
    skus: list[str],
) -> pd.DataFrame:
    columns = [SKU, ORIGIN, DESTINATION, QUANTITY, SHIP_DATE, ARRIVAL_DATE]
    if not shipments:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
    ship, arrive, sku, origin, dest, quantity = zip(*shipments, strict=True)
    first = dates[0]
    return pd.DataFrame(
        {
            SKU: [skus[k] for k in sku],
            ORIGIN: list(origin),
            DESTINATION: [nodes[d] for d in dest],
            QUANTITY: list(quantity),
            SHIP_DATE: first + pd.to_timedelta(list(ship), unit="D"),
            ARRIVAL_DATE: first + pd.to_timedelta(list(arrive), unit="D"),
        }
    )


def _in_transit_frame(
    shipments: list[tuple[int, int, int, str, int, float]],
    t: int,
    dates: pd.DatetimeIndex,
    nodes: list[str],
    skus: list[str],
) -> pd.DataFrame:
    return _shipments_frame([s for s in shipments if s[1] > t], dates, nodes, skus)


def _daily_frame(
    dates: pd.DatetimeIndex,
    forward: list[str],
    skus: list[str],
    demand: np.ndarray,
    served: np.ndarray,
    on_hand: np.ndarray,
) -> pd.DataFrame:
    frame = _cube_frame(demand, dates, forward, skus, LOCATION, DEMAND)
    frame[SERVED] = served.ravel()
    frame[LOST] = (demand - served).ravel()
    frame[ON_HAND] = on_hand.ravel()
    return frame


def _cube_frame(
    cube: np.ndarray,
    dates: pd.DatetimeIndex,
    places: list[str],
    skus: list[str],
    place_column: str,
    value_column: str,
) -> pd.DataFrame:
    """A day x place x SKU array as a long frame `date, <place>, sku, <value>`."""
    day, place, sku = np.meshgrid(
        np.arange(len(dates)), np.arange(len(places)), np.arange(len(skus)), indexing="ij"
    )
    return pd.DataFrame(
        {
            DATE: dates[day.ravel()],
            place_column: np.asarray(places, dtype=object)[place.ravel()],
            SKU: np.asarray(skus, dtype=object)[sku.ravel()],
            value_column: cube.ravel().copy(),
        }
    )
