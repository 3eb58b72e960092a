"""Policies driven by the forecast a replay hands them at each review (`Review.forecast`).

`forecast_targets` turns the forecast quantiles into an order-up-to level per node and SKU: the
mean demand of the forward locations a node feeds over its cover period (the lead time of the lane
that replenishes it plus the review period, days) plus a safety stock from the quantile at the
service target. Days and locations are taken as independent, so the safety stock of a cover
period is the root of the summed squared daily excesses (q_target - mean): sigma x sqrt(days) for
a normal day, pooled across the locations an upstream node feeds.

`ForecastOrderUpToPolicy` orders up to those levels at every review, cascading from the forward
locations up to the supplier exactly as the min-max baseline does, so that a comparison between
the two isolates what the forecast brings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocation.baselines import (
    Topology,
    cascade_orders,
    inventory_position,
    orders_frame,
    whole_on_hand,
)
from allocation.simulate import (
    DATE,
    LOCATION,
    SKU,
    SUPPLY_CAP,
    ReplayNetwork,
    Review,
    SimulationError,
)

__all__ = ["FORECAST", "ForecastOrderUpToPolicy", "forecast_targets", "quantile_column"]

FORECAST = "forecast"


def quantile_column(level: float) -> str:
    """Column of the forecast contract holding a quantile: 0.95 -> "q0.95"."""
    return f"q{level:g}"


def forecast_targets(
    forecast: pd.DataFrame,
    network: ReplayNetwork,
    *,
    today: pd.Timestamp,
    review_days: int,
    service_target: float,
) -> pd.DataFrame:
    """Order-up-to levels from a forecast: `node, sku, cover_days, mean, safety_stock, target`.

    forecast: the forecast contract (`sku, location, date, forecast, q<level>`), daily, starting on
        `today`; it must hold the quantile at `service_target` and reach every node's cover period.
    mean: forecast units over the node's cover period; safety_stock: units above the mean at the
        service target; target = ceil(mean + safety_stock).
    """
    column = quantile_column(service_target)
    for needed in (SKU, LOCATION, DATE, FORECAST, column):
        if needed not in forecast.columns:
            raise SimulationError(
                f"forecast: missing column {needed!r}; the service target {service_target:g} needs "
                f"the quantile column {column!r} (present: {list(forecast.columns)})",
                source="forecast",
                item=needed,
            )
    topology = Topology.of(network)
    skus = list(network.skus[SKU])
    lead = {node: network.lead_time(topology.parent[node], node) for node in topology.nodes}
    cover = {node: lead[node] + review_days for node in topology.nodes}
    frame = forecast[forecast[SKU].isin(skus) & forecast[LOCATION].isin(topology.forward)]
    offset = (pd.to_datetime(frame[DATE]) - today).dt.days.to_numpy()
    horizon = int(offset.max()) + 1 if len(offset) else 0
    if horizon < max(cover.values()):
        raise SimulationError(
            f"forecast: covers {horizon} day(s) from {today.date()}, the policy needs "
            f"{max(cover.values())} (lead time + review period)",
            source="forecast",
            item=DATE,
        )
    mean = np.clip(frame[FORECAST].to_numpy(dtype=float), 0.0, None)
    excess = np.clip(frame[column].to_numpy(dtype=float) - mean, 0.0, None)
    loc = pd.Index(topology.forward).get_indexer(frame[LOCATION])
    sku = pd.Index(skus).get_indexer(frame[SKU])
    rows = []
    for n, node in enumerate(topology.nodes):
        inside = (offset >= 0) & (offset < cover[node])
        mean_sum = np.zeros((len(topology.forward), len(skus)))
        squared = np.zeros_like(mean_sum)
        np.add.at(mean_sum, (loc[inside], sku[inside]), mean[inside])
        np.add.at(squared, (loc[inside], sku[inside]), excess[inside] ** 2)
        node_mean = topology.feeds[n] @ mean_sum
        node_safety = np.sqrt(topology.feeds[n] @ squared)
        target = np.ceil(node_mean + node_safety - 1e-9)
        rows += [
            (node, skus[k], cover[node], node_mean[k], node_safety[k], target[k])
            for k in range(len(skus))
        ]
    return pd.DataFrame(rows, columns=["node", SKU, "cover_days", "mean", "safety_stock", "target"])


class ForecastOrderUpToPolicy:
    """Order up to the forecast's level at every review, node by node, from the forward locations
    up to the supplier; a parent short of stock rations in proportion to the requests."""

    def __init__(self, *, service_target: float = 0.95, name: str = "forecast order-up-to") -> None:
        self.service_target = service_target
        self.name = name

    def decide(self, review: Review) -> pd.DataFrame:
        if review.forecast is None:
            raise SimulationError(
                f"policy {self.name!r} needs a forecast: give the replay a forecast_fn",
                source=self.name,
                item="forecast",
            )
        network = review.network
        topology = Topology.of(network)
        skus = list(network.skus[SKU])
        targets = forecast_targets(
            review.forecast,
            network,
            today=review.today,
            review_days=review.review_days,
            service_target=self.service_target,
        )
        high = (
            targets.pivot(index="node", columns=SKU, values="target")
            .loc[topology.nodes, skus]
            .to_numpy(dtype=float)
        )
        rows = cascade_orders(
            high - 1.0,  # order whenever at least one unit short of the level
            high,
            inventory_position(review, topology, skus),
            whole_on_hand(review, topology, skus),
            topology,
            skus,
            network.skus[SUPPLY_CAP].to_numpy(dtype=float),
        )
        return orders_frame(rows)
