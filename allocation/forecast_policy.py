"""Policies driven by the forecast a replay hands them at each review (`Review.forecast`).

`forecast_targets` turns the forecast into an order-up-to level per node and SKU: the mean demand
of the forward locations a node feeds over its cover period (the lead time of the lane that
replenishes it plus the review period, days) plus a safety stock at the service target. Mean,
spread and safety stock come from `allocation.safety`, the plan's own rules (daily spread from the
quantile column at the service target; days independent); an upstream node pools the spread of
the locations it feeds (root of the summed variances).

When the replay hands the policy the forecaster's backtest (`Review.backtest`), the spread over
the cover period comes from it instead (`backtest_cover_quantile`): the errors of whole cover
periods, summed over the locations a node feeds. Daily quantiles cannot give it: forecast errors
of consecutive days are correlated (a series' level is off for days at a time), so the
independent-days rule (root of summed daily variances) is too narrow, and summing the daily
quantiles (errors perfectly correlated) too wide. On the M5 replay the independent-days 0.98
quantile of 8-day store demand covers only 92 % of the fastest quarter's cover periods.

`ForecastOrderUpToPolicy` orders up to those levels at every review, cascading from the forward
locations up to the supplier exactly as the min-max baseline does, so that a comparison between
the two isolates what the forecast brings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocation.baselines import Topology, review_orders
from allocation.safety import cover_demand, safety_stock, z_value
from allocation.simulate import (
    DATE,
    LOCATION,
    ORIGIN_DATE,
    SKU,
    UNITS,
    ReplayNetwork,
    Review,
    SimulationError,
)

__all__ = [
    "FORECAST",
    "ForecastOrderUpToPolicy",
    "backtest_cover_quantile",
    "cover_quantile",
    "forecast_days",
    "forecast_targets",
    "pooled_cover_demand",
    "require_forecast",
    "review_targets",
    "target_matrix",
]

FORECAST = "forecast"
MIN_SCALE = 0.5  # units: error scale of a cover period with no backtest error (never-selling)
SCALE_CLIP = (0.5, 3.0)  # the error scale follows the level's square root, within these factors


def pooled_cover_demand(
    forecast: pd.DataFrame,
    topology: Topology,
    skus: list[str],
    *,
    today: pd.Timestamp,
    cover_days: int,
    service_target: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean demand (units) and its spread (units, one standard deviation) over `cover_days` from
    `today`, per node x SKU, each node pooling the forward locations it feeds; the daily spread
    read from the quantile column at `service_target`, as the plan reads it (the widest where
    none is given)."""
    cover = pd.Series(float(cover_days), index=topology.forward)
    target = None if service_target is None else pd.Series(service_target, index=cover.index)
    per_location = cover_demand(forecast, today, cover, target)
    loc = pd.Index(topology.forward).get_indexer(pd.Index(per_location[LOCATION]))
    sku = pd.Index(skus).get_indexer(pd.Index(per_location[SKU]))
    known = (loc >= 0) & (sku >= 0)
    mean = np.zeros((len(topology.forward), len(skus)))
    variance = np.zeros_like(mean)
    np.add.at(mean, (loc[known], sku[known]), per_location["mean"].to_numpy()[known])
    np.add.at(variance, (loc[known], sku[known]), per_location["sigma"].to_numpy()[known] ** 2)
    return topology.feeds @ mean, np.sqrt(topology.feeds @ variance)


def backtest_cover_quantile(
    forecast: pd.DataFrame,
    backtest: pd.DataFrame,
    topology: Topology,
    skus: list[str],
    *,
    today: pd.Timestamp,
    cover_days: np.ndarray,
    service_target: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean demand and its `service_target` quantile (units) over each node's cover period, per
    node x SKU, from the forecaster's backtest (split-conformal on whole cover periods).

    For a node feeding locations S over P = cover_days[node] days, every backtest origin gives
    cover sums Y (units sold) and F (forecast) over each run of P consecutive forecast days, summed
    over S. The node's error scale is the mean |Y - F| of its SKU; the residuals (Y - F) / scale of
    all nodes of the same depth and cover length are pooled, and their empirical quantile c at the
    service target gives quantile = mean + c x scale x clip(sqrt(mean / mean backtest F), 0.5, 3)
    (errors grow with the level). A node and SKU absent from the backtest takes the median ratio
    of scale to level of the others. The quantile is at least 0.
    backtest: `sku, location, origin_date, date, units, forecast` (`ReplayForecast.backtest`).
    """
    mean = np.zeros((len(topology.nodes), len(skus)))
    quantile = np.zeros_like(mean)
    days = np.asarray(cover_days, dtype=int)
    depth = np.array([topology.depth(node) for node in topology.nodes])
    for cover in sorted(set(days.tolist())):
        node_mean, _ = pooled_cover_demand(forecast, topology, skus, today=today, cover_days=cover)
        sums, predicted = _backtest_cover_sums(backtest, topology, skus, cover)
        for level in sorted(set(depth[days == cover].tolist())):
            rows = np.flatnonzero((days == cover) & (depth == level))
            mean[rows] = node_mean[rows]
            quantile[rows] = cover_quantile(
                node_mean[rows], sums[:, rows], predicted[:, rows], service_target
            )
    return mean, quantile


def cover_quantile(
    mean: np.ndarray, actual: np.ndarray, predicted: np.ndarray, service_target: float
) -> np.ndarray:
    """The service-target quantile of cover-period demand from backtest cover sums.

    mean: forecast units over the cover period (series). actual, predicted: backtest cover sums
    (windows x series), NaN where a series has no backtest window. See
    `backtest_cover_quantile` for the rule."""
    error = actual - predicted
    known = np.isfinite(error).any(axis=0)
    scale = np.full(mean.shape, np.nan)
    level = np.full(mean.shape, np.nan)
    if known.any():
        scale[known] = np.nanmean(np.abs(error[:, known]), axis=0)
        level[known] = np.nanmean(predicted[:, known], axis=0)
    relative = np.nanmedian(scale / np.maximum(level, MIN_SCALE)) if known.any() else 1.0
    scale = np.where(known, scale, relative * np.maximum(mean, MIN_SCALE))
    scale = np.maximum(scale, MIN_SCALE)
    level = np.where(known, level, mean)
    normalised = (error / scale)[np.isfinite(error)]
    multiplier = (
        float(np.quantile(normalised, service_target, method="higher"))
        if normalised.size
        else z_value(service_target) * 1.25  # no backtest at all: normal, MAE = 0.8 sigma
    )
    ratio = np.clip(np.sqrt(np.maximum(mean, 0.0) / np.maximum(level, MIN_SCALE)), *SCALE_CLIP)
    return np.clip(mean + multiplier * scale * ratio, 0.0, None)


def _backtest_cover_sums(
    backtest: pd.DataFrame, topology: Topology, skus: list[str], cover: int
) -> tuple[np.ndarray, np.ndarray]:
    """Backtest cover sums (windows x node x SKU) of units sold and forecast over every run of
    `cover` consecutive forecast days of every origin, each node summing the locations it feeds;
    NaN where the run has no backtest rows."""
    for needed in (SKU, LOCATION, ORIGIN_DATE, DATE, UNITS, FORECAST):
        if needed not in backtest.columns:
            raise SimulationError(
                f"backtest: missing column {needed!r} (present: {list(backtest.columns)}); "
                "expected sku, location, origin_date, date, units, forecast",
                source="backtest",
                item=needed,
            )
    frame = backtest[backtest[SKU].isin(skus) & backtest[LOCATION].isin(topology.forward)]
    origins = pd.Index(sorted(frame[ORIGIN_DATE].unique()))
    offset = (pd.to_datetime(frame[DATE]) - pd.to_datetime(frame[ORIGIN_DATE])).dt.days - 1
    horizon = int(offset.max()) + 1 if len(frame) else 0
    shape = (len(origins), max(horizon, 0), len(topology.forward), len(skus))
    cube = {column: np.zeros(shape) for column in (UNITS, FORECAST)}
    seen = np.zeros(shape, dtype=bool)
    where = (
        origins.get_indexer(pd.Index(frame[ORIGIN_DATE])),
        offset.to_numpy(),
        pd.Index(topology.forward).get_indexer(pd.Index(frame[LOCATION])),
        pd.Index(skus).get_indexer(pd.Index(frame[SKU])),
    )
    for column, values in cube.items():
        np.add.at(values, where, frame[column].to_numpy(dtype=float))
    seen[where] = True
    runs = max(horizon - cover + 1, 0)
    result = []
    for values in (cube[UNITS], cube[FORECAST]):
        node = np.einsum("nf,ohfk->ohnk", topology.feeds, values)
        total = np.concatenate([np.zeros_like(node[:, :1]), np.cumsum(node, axis=1)], axis=1)
        windows = total[:, cover : cover + runs] - total[:, :runs]
        result.append(windows.reshape(-1, len(topology.nodes), len(skus)))
    # A node's window counts when every location it feeds has backtest rows on every day of it.
    complete = np.concatenate([np.zeros_like(seen[:, :1]), np.cumsum(seen, axis=1)], axis=1)
    full = (complete[:, cover : cover + runs] - complete[:, :runs]) == cover
    covered = np.einsum("nf,ohfk->ohnk", topology.feeds, full.astype(float))
    whole = (covered == topology.feeds.sum(axis=1)[None, None, :, None]).reshape(
        -1, len(topology.nodes), len(skus)
    )
    actual, predicted = (np.where(whole, values, np.nan) for values in result)
    return actual, predicted


def require_forecast(review: Review, policy: str) -> pd.DataFrame:
    """The review's forecast; a policy that plans from a forecast cannot run without one."""
    if review.forecast is None:
        raise SimulationError(
            f"policy {policy!r} needs a forecast: give the replay a forecast_fn",
            source=policy,
            item="forecast",
        )
    return review.forecast


def forecast_days(forecast: pd.DataFrame, today: pd.Timestamp) -> int:
    """Days from today the forecast reaches (today the first; 0 for an empty one)."""
    offset = (pd.to_datetime(forecast[DATE]) - today).dt.days
    return int(offset.max()) + 1 if len(offset) else 0


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
    horizon = forecast_days(forecast, today)
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
    backtest: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Order-up-to levels from a forecast: `node, sku, cover_days, mean, safety_stock, target`.

    forecast: the forecast contract (`sku, location, date, forecast, q<level>`), daily, starting on
        `today` and reaching every node's cover period.
    backtest: the forecaster's backtest (`Review.backtest`); when given, the service-target
        quantile of cover-period demand comes from its cover-period errors
        (`backtest_cover_quantile`), otherwise from the daily quantiles, days independent.
    mean: forecast units over the node's cover period; safety_stock: units above the mean at the
        service target (negative when the quantile is below the mean); target = ceil(mean +
        safety_stock).
    """
    topology = Topology.of(network)
    skus = list(network.skus[SKU])
    cover = np.array(
        [network.lead_time(topology.parent[node], node) + review_days for node in topology.nodes]
    )
    check_forecast(forecast, today=today, days_needed=int(cover.max()))
    frame = forecast[forecast[SKU].isin(skus) & forecast[LOCATION].isin(topology.forward)]
    if backtest is not None:
        mean, quantile = backtest_cover_quantile(
            frame,
            backtest,
            topology,
            skus,
            today=today,
            cover_days=cover,
            service_target=service_target,
        )
        safety = quantile - mean
    else:
        mean = np.zeros((len(topology.nodes), len(skus)))
        safety = np.zeros_like(mean)
        for days in sorted(set(cover.tolist())):
            pooled_mean, sigma = pooled_cover_demand(
                frame, topology, skus, today=today, cover_days=days, service_target=service_target
            )
            rows = cover == days
            mean[rows] = pooled_mean[rows]
            safety[rows] = safety_stock(sigma[rows], service_target)
    target = np.ceil(np.clip(mean + safety, 0.0, None) - 1e-9)
    rows = [
        (node, skus[k], int(cover[n]), mean[n, k], safety[n, k], target[n, k])
        for n, node in enumerate(topology.nodes)
        for k in range(len(skus))
    ]
    return pd.DataFrame(rows, columns=["node", SKU, "cover_days", "mean", "safety_stock", "target"])


def review_targets(review: Review, service_target: float) -> pd.DataFrame:
    """`forecast_targets` at a review: its forecast, day, review period and backtest."""
    assert review.forecast is not None
    return forecast_targets(
        review.forecast,
        review.network,
        today=review.today,
        review_days=review.review_days,
        service_target=service_target,
        backtest=review.backtest,
    )


def target_matrix(
    review: Review, service_target: float, topology: Topology, skus: list[str]
) -> np.ndarray:
    """The review's order-up-to levels as a nodes x SKUs array in the topology's node order."""
    targets = review_targets(review, service_target)
    return (
        targets.pivot(index="node", columns=SKU, values="target")
        .loc[topology.nodes, skus]
        .to_numpy(dtype=float)
    )


class ForecastOrderUpToPolicy:
    """Order up to the forecast's level at every review, node by node, from the forward locations
    up to the supplier; a parent short of stock rations in proportion to the requests."""

    def __init__(self, *, service_target: float = 0.95, name: str = "forecast order-up-to") -> None:
        self.service_target = service_target
        self.name = name

    def decide(self, review: Review) -> pd.DataFrame:
        require_forecast(review, self.name)
        network = review.network
        topology = Topology.of(network)
        skus = list(network.skus[SKU])
        high = target_matrix(review, self.service_target, topology, skus)
        # Order whenever at least one unit short of the level.
        return review_orders(review, topology, skus, high - 1.0, high)
