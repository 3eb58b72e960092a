"""The two policies a planner runs today, as the yardstick for the plan in a replay.

- `PushPolicy`: every review, reorder from the supplier what the network sold last period and push
  all stock held upstream down to the next echelon, in proportion to last period's sales.
- `MinMaxPolicy`: (s, S) order-up-to per node and SKU, tuned as a competent planner would on the
  training period only: min s = expected demand over the node's lead time + safety stock at the
  service target, max S = s + expected demand over the review period. The safety stock comes from
  the history's variability: the service-target quantile of the demand summed over lead time plus
  review period (empirical, so it holds for intermittent series too), minus its mean.

Upstream nodes (regional, central) plan on the demand of the forward locations they feed. When a
parent holds less than its children ask for, it rations in proportion to their requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocation.simulate import (
    DATE,
    DESTINATION,
    LOCATION,
    NODE,
    ON_HAND,
    ORIGIN,
    QUANTITY,
    SKU,
    SUPPLIER,
    SUPPLY_CAP,
    ReplayNetwork,
    Review,
    SimulationError,
    demand_cube,
    first_sales,
)

__all__ = [
    "MinMaxLevels",
    "MinMaxPolicy",
    "PushPolicy",
    "Topology",
    "cascade_orders",
    "fit_min_max",
    "inventory_position",
    "orders_frame",
    "split_proportionally",
    "whole_on_hand",
]


def split_proportionally(total: float, weights: np.ndarray) -> np.ndarray:
    """Split `total` whole units over `weights` by largest remainder (equal split when all zero).

    Returns integers (as floats) that sum to floor(total).
    """
    units = int(np.floor(total + 1e-9))
    weights = np.clip(np.asarray(weights, dtype=float), 0.0, None)
    if units <= 0 or len(weights) == 0:
        return np.zeros(len(weights))
    if weights.sum() <= 0:
        weights = np.ones(len(weights))
    exact = units * weights / weights.sum()
    shares = np.floor(exact)
    remainder = units - int(shares.sum())
    if remainder > 0:
        order = np.argsort(-(exact - shares), kind="stable")
        shares[order[:remainder]] += 1
    return shares


@dataclass(frozen=True)
class Topology:
    """Nodes in network order, each node's parent (a node or SUPPLIER), and which forward
    locations each node feeds (itself for a forward node)."""

    nodes: list[str]
    forward: list[str]
    parent: dict[str, str]
    feeds: np.ndarray  # nodes x forward, 1 where the node's stock ends up at that location

    @classmethod
    def of(cls, network: ReplayNetwork) -> Topology:
        nodes = list(network.nodes[NODE])
        forward = network.forward_nodes
        parent = {node: network.parent(node) for node in nodes}
        feeds = np.zeros((len(nodes), len(forward)))
        for f, location in enumerate(forward):
            node = location
            seen: set[str] = set()
            while node != SUPPLIER:
                if node in seen:
                    raise SimulationError(
                        f"network.lanes: replenishment cycle through {node!r}",
                        source="network.lanes",
                        item=node,
                    )
                seen.add(node)
                feeds[nodes.index(node), f] = 1.0
                node = parent[node]
        return cls(nodes=nodes, forward=forward, parent=parent, feeds=feeds)

    def children(self, node: str) -> list[str]:
        return [child for child in self.nodes if self.parent[child] == node]

    def depth(self, node: str) -> int:
        """0 for a node the supplier replenishes, 1 for its children, and so on."""
        level, up = 0, self.parent[node]
        while up != SUPPLIER:
            level, up = level + 1, self.parent[up]
        return level

    def top_down(self) -> list[str]:
        """Nodes ordered so that each parent comes before its children."""
        return sorted(self.nodes, key=self.depth)


def _node_sales(
    history: pd.DataFrame,
    since: pd.Timestamp,
    until: pd.Timestamp,
    topology: Topology,
    skus: list[str],
) -> np.ndarray:
    """Units sold per node (through the locations it feeds) x SKU in [since, until)."""
    dates = pd.date_range(since, until - pd.Timedelta(days=1), freq="D")
    cube = demand_cube(history, dates, topology.forward, skus)  # days x forward x sku
    return topology.feeds @ cube.sum(axis=0)


def inventory_position(review: Review, topology: Topology, skus: list[str]) -> np.ndarray:
    """Inventory position per node x SKU: on hand plus everything on its way to the node."""
    position = np.zeros((len(topology.nodes), len(skus)))
    node_index, sku_index = pd.Index(topology.nodes), pd.Index(skus)
    on_hand = review.on_hand
    np.add.at(
        position,
        (
            node_index.get_indexer(pd.Index(on_hand[NODE])),
            sku_index.get_indexer(pd.Index(on_hand[SKU])),
        ),
        on_hand[ON_HAND].to_numpy(dtype=float),
    )
    moving = review.in_transit
    if len(moving):
        np.add.at(
            position,
            (
                node_index.get_indexer(pd.Index(moving[DESTINATION])),
                sku_index.get_indexer(pd.Index(moving[SKU])),
            ),
            moving[QUANTITY].to_numpy(dtype=float),
        )
    return position


def whole_on_hand(review: Review, topology: Topology, skus: list[str]) -> np.ndarray:
    matrix = (
        review.on_hand.pivot(index=NODE, columns=SKU, values=ON_HAND)
        .reindex(index=topology.nodes, columns=skus)
        .fillna(0.0)
    )
    return np.floor(matrix.to_numpy(dtype=float) + 1e-9)


def orders_frame(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[SKU, ORIGIN, DESTINATION, QUANTITY])
    return frame[frame[QUANTITY] > 0].reset_index(drop=True)


def cascade_orders(
    low: np.ndarray,
    high: np.ndarray,
    position: np.ndarray,
    on_hand: np.ndarray,
    topology: Topology,
    skus: list[str],
    supply_cap: np.ndarray,
) -> list[tuple[str, str, str, float]]:
    """One review of (min, max) levels per node, from the forward locations up to the supplier.

    Each echelon asks its parent for max - position (whole units) where its position is at or below
    min; the parent ships what it holds, rationing in proportion to the requests when it holds too
    little (the supplier: the supply cap), and only then reviews its own position, now lowered by
    what it shipped. `position` and `on_hand` (node x SKU) are updated in place.
    """
    rows: list[tuple[str, str, str, float]] = []
    order = topology.top_down()
    for level in sorted({topology.depth(node) for node in order}, reverse=True):
        members = [topology.nodes.index(node) for node in order if topology.depth(node) == level]
        requests = np.where(
            position[members] <= low[members],
            np.ceil(np.clip(high[members] - position[members], 0.0, None)),
            0.0,
        )
        for parent in sorted({topology.parent[topology.nodes[i]] for i in members}):
            children = [
                j for j, i in enumerate(members) if topology.parent[topology.nodes[i]] == parent
            ]
            source = None if parent == SUPPLIER else topology.nodes.index(parent)
            for k, sku in enumerate(skus):
                asked = requests[children, k]
                if asked.sum() <= 0:
                    continue
                available = supply_cap[k] if source is None else on_hand[source, k]
                granted = (
                    asked if asked.sum() <= available else split_proportionally(available, asked)
                )
                for j, quantity in zip(children, granted, strict=True):
                    if quantity > 0:
                        rows.append((sku, parent, topology.nodes[members[j]], float(quantity)))
                if source is not None:
                    on_hand[source, k] -= granted.sum()
                    position[source, k] -= granted.sum()
    return rows


def review_orders(
    review: Review, topology: Topology, skus: list[str], low: np.ndarray, high: np.ndarray
) -> pd.DataFrame:
    """The orders of one review of (min, max) levels (node x SKU) over the replay's network:
    `cascade_orders` from the review's positions, stock and supply cap."""
    rows = cascade_orders(
        low,
        high,
        inventory_position(review, topology, skus),
        whole_on_hand(review, topology, skus),
        topology,
        skus,
        review.network.skus[SUPPLY_CAP].to_numpy(dtype=float),
    )
    return orders_frame(rows)


class PushPolicy:
    """Reorder last period's sales from the supplier and push all upstream stock down, split by
    last period's sales of the locations each child feeds (equally when nothing sold)."""

    name = "push"

    def decide(self, review: Review) -> pd.DataFrame:
        network = review.network
        topology = Topology.of(network)
        skus = list(network.skus[SKU])
        since = review.today - pd.Timedelta(days=review.review_days)
        sold = _node_sales(review.history, since, review.today, topology, skus)
        on_hand = whole_on_hand(review, topology, skus)
        cap = network.skus[SUPPLY_CAP].to_numpy(dtype=float)
        rows: list[tuple[str, str, str, float]] = []
        received = [i for i, node in enumerate(topology.nodes) if topology.parent[node] == SUPPLIER]
        for k, sku in enumerate(skus):
            reorder = split_proportionally(min(sold[received, k].sum(), cap[k]), sold[received, k])
            rows += [
                (sku, SUPPLIER, topology.nodes[i], float(q))
                for i, q in zip(received, reorder, strict=True)
            ]
        for node in topology.top_down():
            children = topology.children(node)
            if not children:
                continue
            rows_of_children = [topology.nodes.index(child) for child in children]
            for k, sku in enumerate(skus):
                here = on_hand[topology.nodes.index(node), k]
                shares = split_proportionally(here, sold[rows_of_children, k])
                rows += [
                    (sku, node, child, float(q)) for child, q in zip(children, shares, strict=True)
                ]
        return orders_frame(rows)


@dataclass(frozen=True)
class MinMaxLevels:
    """Fitted (s, S) levels: `node, sku, lead_time_days, mean_daily` (units per day),
    `safety_stock`, `min`, `max` (units)."""

    table: pd.DataFrame
    service_target: float
    review_days: int


def fit_min_max(
    sales: pd.DataFrame,
    network: ReplayNetwork,
    *,
    train_end: pd.Timestamp | str,
    service_target: float,
    review_days: int,
    fit_days: int = 182,
) -> MinMaxLevels:
    """Fit min-max levels on the training period only: the `fit_days` days up to `train_end`
    (inclusive) of a sales frame; later rows are never read.

    For each node and SKU, with L the lead time of the lane that replenishes the node (days),
    R = review_days and D(P) the node's demand summed over P = L + R consecutive days:
    safety stock = max(0, quantile_service_target(D(P)) - mean(D(P))),
    min = mean daily demand x L + safety stock, max = min + mean daily demand x R (rounded up).

    The mean and D(P) are taken over the days the series had in the fit window: from its first
    sale (the node's first day with demand at a location it feeds, over the whole training
    history, as the forecaster counts a series' history) where that falls inside the window, as a
    planner averages a SKU launched 25 days ago over 25 days, not 182 with zeros before its
    launch. A series with fewer such days than P sums them cyclically (its days repeated), one
    P-day sum from each of its days.
    """
    if not 0 < service_target < 1:
        raise SimulationError(
            f"min-max: service_target {service_target} must be between 0 and 1",
            source="min-max",
            item="service_target",
        )
    end = pd.Timestamp(train_end)
    training = sales[sales[DATE] <= end]
    if training.empty:
        raise SimulationError(
            f"min-max: no training history on or before {end.date()}", source="min-max", item=DATE
        )
    topology = Topology.of(network)
    skus = list(network.skus[SKU])
    first = max(end - pd.Timedelta(days=fit_days - 1), training[DATE].min())
    dates = pd.date_range(first, end, freq="D")
    cube = demand_cube(training, dates, topology.forward, skus)  # days x forward x sku
    node_demand = np.einsum("nf,dfk->dnk", topology.feeds, cube)  # days x node x sku
    unsold = _days_before_first_sale(training, dates, topology, skus)  # node x sku
    rows = []
    for n, node in enumerate(topology.nodes):
        lead = network.lead_time(topology.parent[node], node)
        protection = lead + review_days
        mean_daily = np.zeros(len(skus))
        quantile = np.zeros(len(skus))
        for skip in np.unique(unsold[n]):
            columns = np.flatnonzero(unsold[n] == skip)
            series = node_demand[skip:, n, columns]
            sums = (
                _rolling_sums(series, protection)
                if skip == 0 or len(series) >= protection
                else _cyclic_sums(series, protection)
            )
            mean_daily[columns] = series.mean(axis=0)
            quantile[columns] = np.quantile(sums, service_target, axis=0, method="higher")
        safety = np.clip(quantile - mean_daily * protection, 0.0, None)
        low = np.ceil(mean_daily * lead + safety - 1e-9)
        high = np.ceil(mean_daily * lead + safety + mean_daily * review_days - 1e-9)
        for k, sku in enumerate(skus):
            rows.append((node, sku, lead, mean_daily[k], safety[k], low[k], high[k]))
    table = pd.DataFrame(
        rows,
        columns=[NODE, SKU, "lead_time_days", "mean_daily", "safety_stock", "min", "max"],
    )
    return MinMaxLevels(table=table, service_target=service_target, review_days=review_days)


def _days_before_first_sale(
    training: pd.DataFrame, dates: pd.DatetimeIndex, topology: Topology, skus: list[str]
) -> np.ndarray:
    """Days of the fit window `dates` before each node's first sale of each SKU (node x SKU,
    ints): its first day with units > 0 at a forward location it feeds, over the whole training
    history; 0 where that is before the window, and where it never sold (all days, all zero)."""
    days = (first_sales(training) - dates[0]).dt.days.clip(lower=0)
    skip = np.full((len(topology.forward), len(skus)), np.inf)
    locations = pd.Index(topology.forward).get_indexer(days.index.get_level_values(LOCATION))
    columns = pd.Index(skus).get_indexer(days.index.get_level_values(SKU))
    known = (locations >= 0) & (columns >= 0)
    skip[locations[known], columns[known]] = days.to_numpy(dtype=float)[known]
    # a node sold from the first day any location it feeds sold
    node_skip = np.where(topology.feeds[:, :, None] > 0, skip[None, :, :], np.inf).min(axis=1)
    return np.where(np.isfinite(node_skip), node_skip, 0).astype(int)


def _cyclic_sums(series: np.ndarray, window: int) -> np.ndarray:
    """Sums of `window` consecutive rows (days) of a days x SKU array repeated end to end, one
    starting on each of its days: for a series shorter than the window."""
    days = len(series)
    repeated = np.tile(series, (-(-(days + window - 1) // days), 1))[: days + window - 1]
    return _rolling_sums(repeated, window)


def _rolling_sums(series: np.ndarray, window: int) -> np.ndarray:
    """Sums of `window` consecutive rows (days) of a days x SKU array."""
    if window > len(series):
        raise SimulationError(
            f"min-max: {len(series)} training days cannot fit a {window}-day protection period",
            source="min-max",
            item="fit_days",
        )
    cumulative = np.vstack([np.zeros((1, series.shape[1])), np.cumsum(series, axis=0)])
    return cumulative[window:] - cumulative[:-window]


class MinMaxPolicy:
    """(s, S) order-up-to at every node: when the inventory position (on hand + in transit) is at
    or below min, ask the parent (or the supplier) for max minus the position."""

    def __init__(
        self, *, service_target: float = 0.95, fit_days: int = 182, name: str = "min-max"
    ) -> None:
        self.service_target = service_target
        self.fit_days = fit_days
        self.name = name

    def fit(
        self,
        sales: pd.DataFrame,
        network: ReplayNetwork,
        *,
        train_end: pd.Timestamp | str,
        review_days: int,
    ) -> MinMaxPolicy:
        """Fit the levels on the training period only (the sales up to `train_end`)."""
        self.levels_ = fit_min_max(
            sales,
            network,
            train_end=train_end,
            service_target=self.service_target,
            review_days=review_days,
            fit_days=self.fit_days,
        )
        return self

    def decide(self, review: Review) -> pd.DataFrame:
        if not hasattr(self, "levels_"):
            raise SimulationError(
                f"policy {self.name!r}: call fit(sales, network, train_end=, review_days=) first",
                source=self.name,
            )
        if review.review_days != self.levels_.review_days:
            raise SimulationError(
                f"policy {self.name!r} was fitted for {self.levels_.review_days}-day reviews, "
                f"the replay reviews every {review.review_days} days",
                source=self.name,
                item="review_days",
            )
        network = review.network
        topology = Topology.of(network)
        skus = list(network.skus[SKU])
        table = self.levels_.table
        low = table.pivot(index=NODE, columns=SKU, values="min").loc[topology.nodes, skus]
        high = table.pivot(index=NODE, columns=SKU, values="max").loc[topology.nodes, skus]
        return review_orders(
            review, topology, skus, low.to_numpy(dtype=float), high.to_numpy(dtype=float)
        )
