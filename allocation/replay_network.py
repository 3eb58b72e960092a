"""A seeded network around a sales history, for replays: its locations become forward nodes, its
regions regional warehouses, and one central warehouse receives the supplier's deliveries.

Used on the real M5 slice (stores as forward locations, states as regions) and on any sales frame
with `sku, location, region, date, units` (and optionally `price`). Every policy replayed on the
same instance gets the same starting stock, lead times, lane costs and supply cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocation.network import check_id
from allocation.simulate import (
    COST_PER_UNIT,
    DATE,
    DESTINATION,
    KIND,
    LEAD_TIME,
    LOCATION,
    LOST_SALE_COST,
    NODE,
    ON_HAND,
    ORIGIN,
    REGION,
    SKU,
    SUPPLIER,
    SUPPLY_CAP,
    UNIT_COST,
    UNITS,
    ReplayNetwork,
    SimulationError,
    first_sales,
)

__all__ = ["CENTRAL", "ReplayInstance", "network_around", "region_id", "regional_node"]

CENTRAL = "CW"
PRICE = "price"


def region_id(region: str) -> str:
    """A region label as an id: each character an id cannot hold (a space, '/', '&') becomes
    '_' ("North East" -> "North_East"). The label itself stays as given in the nodes' region."""
    return "".join(char if _is_id_char(char) else "_" for char in str(region))


def regional_node(region: str) -> str:
    """Id of the regional warehouse of a region: RW-<region_id(region)>."""
    return f"RW-{region_id(region)}"


def _is_id_char(char: str) -> bool:
    try:
        check_id(char)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ReplayInstance:
    """A network and its stock on the replay's first morning (`sku, node, on_hand`)."""

    network: ReplayNetwork
    start_stock: pd.DataFrame


def network_around(
    sales: pd.DataFrame,
    *,
    train_end: pd.Timestamp | str,
    review_days: int = 7,
    seed: int = 0,
    supplier_lead_days: int = 7,
    supply_factor: float = 1.5,
    cost_share: float = 0.6,
    holding_rate: float = 0.25 / 365,
    stock_spread: float = 0.5,
) -> ReplayInstance:
    """Build a seeded replay network and starting stock from the history up to `train_end`.

    Lead times (days) are drawn per lane: central -> regional 2 to 4, regional -> forward 1 to 2,
    lateral forward <-> forward within a region 1, regional <-> regional 3. Each region (any text)
    gets the regional warehouse `regional_node(region)` ("North East": RW-North_East) and keeps its
    label in the nodes' region. Unit cost is `cost_share` x the SKU's median price (1 money unit
    without prices), lost sales cost the margin (median price - unit cost). The supplier delivers
    at most `supply_factor` x the network's mean demand over a review period per SKU and review
    (the last 91 training days). Starting stock covers each node's lead time plus one review
    period of its mean demand (last 28 days). Both means are taken per location over the days
    since its first sale where that falls inside the window (`_mean_daily`), then summed over the
    locations a node serves. Forward stock is scaled by a seeded factor in
    [1 - stock_spread, 1 + stock_spread] so that stock starts out of balance, as it does in
    practice.
    """
    for column in (SKU, LOCATION, REGION, DATE, UNITS):
        if column not in sales.columns:
            raise SimulationError(
                f"sales: missing column {column!r}; a replay network needs "
                f"{[SKU, LOCATION, REGION, DATE, UNITS]}",
                source="sales",
                item=column,
            )
    train_end = pd.Timestamp(train_end)
    training = sales[sales[DATE] <= train_end]
    if training.empty:
        raise SimulationError(
            f"sales: no history on or before train_end {train_end.date()}",
            source="sales",
            item=DATE,
        )
    regions_of = training.groupby(LOCATION)[REGION].agg(lambda r: sorted(set(r)))
    split = regions_of[regions_of.map(len) > 1]
    if len(split):
        raise SimulationError(
            f"sales: location {split.index[0]!r} appears in regions {split.iloc[0]}; "
            "each location belongs to one region",
            source="sales",
            item=str(split.index[0]),
        )
    locations = sorted(regions_of.index)
    location_region = {loc: regions_of[loc][0] for loc in locations}
    regions = sorted(set(location_region.values()))
    skus = sorted(training[SKU].unique())
    _check_regional_ids(regions)
    reserved = {CENTRAL, SUPPLIER, *(regional_node(r) for r in regions)}
    clash = [loc for loc in locations if loc in reserved]
    if clash:
        raise SimulationError(
            f"sales: location {clash[0]!r} has the name of a node the replay network adds "
            f"(the central warehouse {CENTRAL!r}, the supplier {SUPPLIER!r}, one regional "
            "warehouse 'RW-<region>' per region); rename it",
            source="sales",
            item=clash[0],
        )

    nodes = pd.DataFrame(
        [(CENTRAL, "central", "all")]
        + [(regional_node(r), "regional", r) for r in regions]
        + [(loc, "forward", location_region[loc]) for loc in locations],
        columns=[NODE, KIND, REGION],
    )
    lanes: list[tuple[str, str, int, float]] = [(SUPPLIER, CENTRAL, supplier_lead_days, 0.0)]
    lanes += _drawn_lanes(seed, [(CENTRAL, regional_node(r)) for r in regions], (2, 4), (0.1, 0.3))
    lanes += _drawn_lanes(
        seed,
        [(regional_node(location_region[loc]), loc) for loc in locations],
        (1, 2),
        (0.05, 0.15),
    )
    for a in locations:
        for b in locations:
            if a != b and location_region[a] == location_region[b]:
                lanes.append((a, b, 1, 0.2))
    for a in regions:
        for b in regions:
            if a != b:
                lanes.append((regional_node(a), regional_node(b), 3, 0.4))
    lane_frame = pd.DataFrame(lanes, columns=[ORIGIN, DESTINATION, LEAD_TIME, COST_PER_UNIT])

    recent = _mean_daily(training, train_end, 28)
    quarter = _mean_daily(training, train_end, 91)
    network_daily_quarter = quarter.groupby(SKU).sum().reindex(skus, fill_value=0.0)
    # A price of 0 is no price (free goods would cost nothing to lose and no policy would serve
    # them): the SKU takes the others' median, as one without prices does.
    priced = training[PRICE].where(training[PRICE] > 0) if PRICE in training.columns else None
    if priced is not None and priced.notna().any():
        price = priced.groupby(training[SKU]).median().reindex(skus)
        price = price.fillna(price.median() if price.notna().any() else 1.0)
    else:
        price = pd.Series(1.0, index=skus)
    sku_frame = pd.DataFrame(
        {
            SKU: skus,
            UNIT_COST: (cost_share * price).to_numpy(),
            LOST_SALE_COST: ((1.0 - cost_share) * price).to_numpy(),
            SUPPLY_CAP: [
                max(1.0, math.ceil(supply_factor * network_daily_quarter[s] * review_days))
                for s in skus
            ],
        }
    )
    network = ReplayNetwork(
        nodes=nodes, lanes=lane_frame, skus=sku_frame, holding_rate=holding_rate
    )

    lead_into = {node: network.lead_time(network.parent(node), node) for node in nodes[NODE]}
    # A location that never sold a SKU (not in its range) has no row: no stock of it either.
    recent_by = (
        recent.unstack(SKU).reindex(index=locations, columns=skus, fill_value=0.0).fillna(0.0)
    )
    stock_rows: list[tuple[str, str, float]] = []
    cells = [f"stock|{loc}|{sku}" for loc in locations for sku in skus]
    draw = _uniform(seed, cells).reshape(recent_by.shape)
    spread = 1 - stock_spread + 2 * stock_spread * draw
    forward_stock = np.round(
        recent_by.to_numpy()
        * np.array([lead_into[loc] + review_days for loc in locations])[:, None]
        * spread
    )
    for i, loc in enumerate(locations):
        stock_rows += [(sku, loc, float(forward_stock[i, k])) for k, sku in enumerate(skus)]
    for region in regions:
        members = [loc for loc in locations if location_region[loc] == region]
        daily = recent_by.loc[members].sum(axis=0)
        cover = lead_into[regional_node(region)] + review_days
        stock_rows += [
            (sku, regional_node(region), float(round(daily[sku] * cover))) for sku in skus
        ]
    cover = lead_into[CENTRAL] + review_days
    total = recent_by.sum(axis=0)
    stock_rows += [(sku, CENTRAL, float(round(total[sku] * cover))) for sku in skus]
    start_stock = pd.DataFrame(stock_rows, columns=[SKU, NODE, ON_HAND])
    return ReplayInstance(network=network, start_stock=start_stock)


def _check_regional_ids(regions: list[str]) -> None:
    """Each region's warehouse id is an id, and no two regions share one ("North East" and
    "North_East" both make RW-North_East): the region labels may be any text."""
    named: dict[str, str] = {}
    for region in regions:
        node = regional_node(region)
        try:
            check_id(node)
        except ValueError as error:
            raise SimulationError(
                f"sales: region {region!r} makes the regional warehouse id {node!r}, which "
                f"cannot be an id of the replay's network: {error}; give a shorter region",
                source="sales",
                item=str(region),
            ) from None
        if node in named:
            raise SimulationError(
                f"sales: regions {named[node]!r} and {region!r} both make the regional "
                f"warehouse id {node!r} (a character an id cannot hold becomes '_'); rename one",
                source="sales",
                item=str(region),
            )
        named[node] = region


def _uniform(seed: int, keys: list[str]) -> np.ndarray:
    """A seeded draw in [0, 1) for each key, from the key itself: adding a SKU, a location or a
    region to the history leaves every other lane and starting stock as it was."""
    hashed = pd.util.hash_array(np.array(keys, dtype=object), hash_key=f"{seed:016d}"[-16:])
    return (hashed >> np.uint64(11)).astype("float64") / 2.0**53


def _drawn_lanes(
    seed: int,
    pairs: list[tuple[str, str]],
    lead_days: tuple[int, int],
    cost: tuple[float, float],
) -> list[tuple[str, str, int, float]]:
    """Lanes `origin -> destination` with a lead time drawn from `lead_days` (both ends included)
    and a cost per unit from `cost`."""
    lead_draw = _uniform(seed, [f"lead|{a}|{b}" for a, b in pairs])
    cost_draw = _uniform(seed, [f"cost|{a}|{b}" for a, b in pairs])
    low, high = lead_days
    return [
        (a, b, low + int(u * (high - low + 1)), round(cost[0] + v * (cost[1] - cost[0]), 2))
        for (a, b), u, v in zip(pairs, lead_draw, cost_draw, strict=True)
    ]


def _mean_daily(training: pd.DataFrame, train_end: pd.Timestamp, days: int) -> pd.Series:
    """Mean units per day per (location, sku) over the last `days` days up to train_end, over
    the days the series had in them: those from its first sale (its first row with units > 0 in
    the whole training history, as the forecaster counts a series' history) when that falls inside
    the window, else all `days`. A SKU launched 25 days before the replay has sold 25 days, not
    91; its zero days after the first sale count."""
    start = train_end - pd.Timedelta(days=days - 1)
    totals = training[training[DATE] >= start].groupby([LOCATION, SKU])[UNITS].sum()
    first_sale = first_sales(training)
    # days of the window before each series' first sale (none where it sold before the window)
    before = (first_sale.reindex(totals.index) - start).dt.days.fillna(0).clip(lower=0)
    return totals / (days - before).to_numpy(dtype=float)
