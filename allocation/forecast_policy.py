"""Policies driven by the forecast a replay hands them at each review (`Review.forecast`).

`forecast_targets` turns the forecast into an order-up-to level per node and SKU: the mean demand
of the forward locations a node feeds over its cover period (the lead time of the lane that
replenishes it plus the review period, days) plus a safety stock at the service target. Mean,
spread and safety stock come from `allocation.safety`, the plan's own rules (daily spread from the
widest upper quantile, days independent); an upstream node pools the spread of the locations it
feeds (root of the summed variances).

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
from allocation.safety import cover_demand, safety_stock
from allocation.simulate import (
    DATE,
    LOCATION,
    SKU,
    SUPPLY_CAP,
    ReplayNetwork,
    Review,
    SimulationError,
)

__all__ = ["FORECAST", "ForecastOrderUpToPolicy", "forecast_targets", "pooled_cover_demand"]

FORECAST = "forecast"


def pooled_cover_demand(
    forecast: pd.DataFrame,
    topology: Topology,
    skus: list[str],
    *,
    today: pd.Timestamp,
    cover_days: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean demand (units) and its spread (units, one standard deviation) over `cover_days` from
    `today`, per node x SKU, each node pooling the forward locations it feeds."""
    cover = pd.Series(float(cover_days), index=topology.forward)
    per_location = cover_demand(forecast, today, cover)
    loc = pd.Index(topology.forward).get_indexer(pd.Index(per_location[LOCATION]))
    sku = pd.Index(skus).get_indexer(pd.Index(per_location[SKU]))
    known = (loc >= 0) & (sku >= 0)
    mean = np.zeros((len(topology.forward), len(skus)))
    variance = np.zeros_like(mean)
    np.add.at(mean, (loc[known], sku[known]), per_location["mean"].to_numpy()[known])
    np.add.at(variance, (loc[known], sku[known]), per_location["sigma"].to_numpy()[known] ** 2)
    return topology.feeds @ mean, np.sqrt(topology.feeds @ variance)


def check_forecast(forecast: pd.DataFrame, *, today: pd.Timestamp, days_needed: int) -> None:
    """The forecast has the contract's columns and reaches `days_needed` days from today."""
    for needed in (SKU, LOCATION, DATE, FORECAST):
        if needed not in forecast.columns:
            raise SimulationError(
                f"forecast: missing column {needed!r} (present: {list(forecast.columns)}); "
                "expected the forecast contract sku, location, date, forecast, q<level>...",
                source="forecast",
                item=needed,
            )
    offset = (pd.to_datetime(forecast[DATE]) - today).dt.days
    horizon = int(offset.max()) + 1 if len(offset) else 0
    if horizon < days_needed:
        raise SimulationError(
            f"forecast: covers {horizon} day(s) from {today.date()}, the policy needs "
            f"{days_needed} (lead time + review period)",
            source="forecast",
            item=DATE,
        )


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
        `today` and reaching every node's cover period.
    mean: forecast units over the node's cover period; safety_stock: units above the mean at the
        service target; target = ceil(mean + safety_stock).
    """
    topology = Topology.of(network)
    skus = list(network.skus[SKU])
    cover = {
        node: network.lead_time(topology.parent[node], node) + review_days
        for node in topology.nodes
    }
    check_forecast(forecast, today=today, days_needed=max(cover.values()))
    frame = forecast[forecast[SKU].isin(skus) & forecast[LOCATION].isin(topology.forward)]
    pooled = {
        days: pooled_cover_demand(frame, topology, skus, today=today, cover_days=days)
        for days in sorted(set(cover.values()))
    }
    rows = []
    for n, node in enumerate(topology.nodes):
        mean, sigma = pooled[cover[node]]
        safety = safety_stock(sigma[n], service_target)
        target = np.ceil(mean[n] + safety - 1e-9)
        rows += [
            (node, skus[k], cover[node], mean[n, k], safety[k], target[k]) for k in range(len(skus))
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
