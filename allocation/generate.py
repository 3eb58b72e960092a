"""Seeded, realistic allocation instances of any size: network, stock, demand, policy.

`example_network(skus, locations, distributors, seed)` builds one central warehouse, one regional
warehouse per region (about sqrt(locations) / 2 regions), `locations` forward warehouses spread
over the regions with lateral links in a ring inside each region and between regional
warehouses, and `distributors` spread over the regions (about 20 % strategic, some yellow and a
few red credit, packs and MOQs). Demand follows a skewed SKU mix (a few fast movers, a long tail
of slow ones), a location share and a weekly rhythm; quantiles come from a negative binomial
spread. Stock covers a few weeks of demand per SKU, unevenly placed, so some places are short and
some overstocked. Warehouse capacity is shared by all SKUs and set near the stock it must hold, so
capacity binds in places.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from allocation.network import Network
from allocation.policy import Policy
from allocation.safety import z_value

__all__ = ["Instance", "example_network", "sample_stock", "write_instance"]

QUANTILES = (0.5, 0.9, 0.95)


@dataclass
class Instance:
    """A complete allocation input: network, stock frame, demand (forecast contract), policy."""

    network: Network
    stock: pd.DataFrame
    demand: pd.DataFrame
    policy: Policy
    today: pd.Timestamp


def _regions(locations: int) -> list[str]:
    count = max(1, min(locations, round(math.sqrt(locations) / 1.5)))
    return [f"R{i + 1}" for i in range(count)]


def example_network(
    skus: int = 50,
    locations: int = 6,
    distributors: int = 8,
    seed: int = 0,
    *,
    horizon_days: int = 28,
    today: str = "2026-01-05",
) -> Instance:
    """A seeded instance with `skus` SKUs, `locations` forward warehouses and `distributors`."""
    if skus < 1 or locations < 1 or distributors < 0:
        raise ValueError("need skus >= 1, locations >= 1 and distributors >= 0")
    rng = np.random.default_rng(seed)
    regions = _regions(locations)
    forward = [f"FW-{i + 1:03d}" for i in range(locations)]
    fw_region = {fw: regions[i % len(regions)] for i, fw in enumerate(forward)}
    dist_ids = [f"D-{i + 1:03d}" for i in range(distributors)]
    dist_region = {d: regions[i % len(regions)] for i, d in enumerate(dist_ids)}
    sku_ids = [f"SKU-{i + 1:05d}" for i in range(skus)]

    # Demand: skewed SKU rates, location shares, weekly rhythm, negative binomial spread.
    sku_rate = rng.lognormal(mean=0.0, sigma=1.2, size=skus)  # units/day over all locations
    locations_all = forward + dist_ids
    share = rng.dirichlet(np.full(len(locations_all), 2.0))
    carried = rng.random((skus, len(locations_all))) < np.clip(
        0.35 + 0.3 * np.log1p(sku_rate)[:, None], 0.3, 1.0
    )
    carried[np.arange(skus), rng.integers(0, len(locations_all), size=skus)] = (
        True  # sold somewhere
    )
    rates = sku_rate[:, None] * share[None, :] * carried * len(locations_all) / 4.0
    start = pd.Timestamp(today)
    dates = pd.date_range(start, periods=horizon_days, freq="D")
    weekly = 1.0 + 0.25 * np.sin(2 * np.pi * (dates.dayofweek.to_numpy() - 2) / 7)
    s_idx, l_idx = np.nonzero(rates > 0)
    mean = rates[s_idx, l_idx][:, None] * weekly[None, :]
    dispersion = 2.0  # negative binomial size: variance = mean + mean^2 / size
    sd = np.sqrt(mean + mean**2 / dispersion)
    demand = pd.DataFrame(
        {
            "sku": np.repeat(np.asarray(sku_ids)[s_idx], horizon_days),
            "location": np.repeat(np.asarray(locations_all)[l_idx], horizon_days),
            "date": np.tile(dates.to_numpy(), len(s_idx)),
            "forecast": mean.ravel(),
        }
    )
    for level in QUANTILES:
        demand[f"q{level:g}"] = np.clip(mean + z_value(level) * sd, 0.0, None).ravel()

    # Stock: a few weeks of demand per SKU, uneven between places.
    sku_total = rates.sum(axis=1)
    weeks = rng.uniform(1.5, 5.0, size=skus)
    total_stock = sku_total * 7 * weeks
    rows = []
    fw_index = {fw: i for i, fw in enumerate(locations_all) if fw in fw_region}
    placed: dict[str, np.ndarray] = {}
    placed["CW"] = np.round(total_stock * rng.uniform(0.3, 0.6, size=skus))
    for region in regions:
        region_rate = sum(
            rates[:, j]
            for j, loc in enumerate(locations_all)
            if fw_region.get(loc, dist_region.get(loc)) == region
        )
        placed[f"RW-{region}"] = np.round(region_rate * 7 * rng.uniform(0.3, 1.5, size=skus))
    for fw in forward:
        own = rates[:, fw_index[fw]]
        days = rng.choice([0.0, 3.0, 10.0, 90.0], p=[0.25, 0.4, 0.3, 0.05], size=skus)
        placed[fw] = np.round(own * days + (days > 60) * rng.integers(0, 8, size=skus))
    for d in dist_ids:
        placed[d] = np.round(rates[:, locations_all.index(d)] * rng.uniform(0, 8, size=skus))
    for node, quantity in placed.items():
        keep = quantity > 0
        rows.append(
            pd.DataFrame(
                {"sku": np.asarray(sku_ids)[keep], "node": node, "on_hand": quantity[keep]}
            )
        )
    stock = pd.concat(rows, ignore_index=True)
    stock["in_transit"] = 0.0
    stock["arrival_date"] = pd.NaT
    arriving = stock["node"].eq("CW") & (rng.random(len(stock)) < 0.3)
    stock.loc[arriving, "in_transit"] = np.round(stock.loc[arriving, "on_hand"] * 0.5)
    stock.loc[arriving, "arrival_date"] = start + pd.Timedelta(days=3)

    # Units and volumes; capacity near what a warehouse must hold (shared by all SKUs).
    volume = np.round(rng.uniform(0.2, 2.0, size=skus), 2)
    unit_cost = np.round(rng.lognormal(2.0, 0.8, size=skus), 2)
    needs_volume = {
        node: float((placed[node] * volume).sum()) for node in placed if not node.startswith("D-")
    }
    for fw in forward:
        needs_volume[fw] = max(
            needs_volume[fw], float((rates[:, fw_index[fw]] * 14 * volume).sum())
        )
    warehouses = [
        {
            "id": "CW",
            "kind": "central",
            "region": "national",
            "capacity": round(needs_volume["CW"] * 1.5 + 1, 1),
        }
    ]
    for region in regions:
        node = f"RW-{region}"
        warehouses.append(
            {
                "id": node,
                "kind": "regional",
                "region": region,
                "capacity": round(needs_volume[node] * rng.uniform(1.2, 2.0) + 1, 1),
            }
        )
    for fw in forward:
        warehouses.append(
            {
                "id": fw,
                "kind": "forward",
                "region": fw_region[fw],
                "capacity": round(needs_volume[fw] * rng.uniform(0.8, 1.4) + 1, 1),
            }
        )
    lanes = [
        {
            "origin": "CW",
            "destination": f"RW-{r}",
            "cost_per_unit": round(rng.uniform(0.2, 0.5), 2),
            "lead_time_days": int(rng.integers(2, 5)),
        }
        for r in regions
    ]
    for fw in forward:
        lanes.append(
            {
                "origin": f"RW-{fw_region[fw]}",
                "destination": fw,
                "cost_per_unit": round(rng.uniform(0.1, 0.3), 2),
                "lead_time_days": int(rng.integers(1, 3)),
                "capacity": round(needs_volume[fw] * rng.uniform(0.6, 1.5) + 1, 1),
            }
        )
    laterals = []
    for region in regions:
        members = [fw for fw in forward if fw_region[fw] == region]
        pairs = (
            list(zip(members, members[1:] + members[:1], strict=True))
            if len(members) > 2
            else ([(members[0], members[1])] if len(members) == 2 else [])
        )
        for a, b in pairs:
            laterals.append(
                {
                    "between": [a, b],
                    "cost_per_unit": round(rng.uniform(0.2, 0.6), 2),
                    "lead_time_days": int(rng.integers(1, 3)),
                }
            )
    if len(regions) > 1:
        ring = list(zip(regions, regions[1:] + regions[:1], strict=True))
        for a, b in ring[: len(regions) if len(regions) > 2 else 1]:
            laterals.append(
                {
                    "between": [f"RW-{a}", f"RW-{b}"],
                    "cost_per_unit": round(rng.uniform(0.3, 0.8), 2),
                    "lead_time_days": int(rng.integers(2, 4)),
                }
            )
    dist_docs = []
    for i, d in enumerate(dist_ids):
        region = dist_region[d]
        members = [fw for fw in forward if fw_region[fw] == region]
        tier = "strategic" if i % 5 == 0 else ("growth" if i % 5 in (1, 2) else "observation")
        credit = "red" if i % 11 == 7 else ("yellow" if i % 4 == 3 else "green")
        pack = int(rng.choice([1, 1, 6, 12]))
        doc = {
            "id": d,
            "region": region,
            "tier": tier,
            "credit": credit,
            "served_by": [f"RW-{region}", members[i % len(members)]],
            "pack_size": pack,
            "moq": int(pack * rng.choice([0, 1, 2])),
            "lead_time_days": int(rng.integers(1, 4)),
            "cost_per_unit": round(rng.uniform(0.05, 0.3), 2),
        }
        if credit == "yellow":
            spend = float((rates[:, locations_all.index(d)] * 14 * unit_cost).sum())
            doc["guaranteed_amount"] = round(spend * rng.uniform(0.3, 1.0), 2)
        dist_docs.append(doc)
    order = np.argsort(-sku_rate)
    abc = np.empty(skus, dtype=object)
    abc[order[: max(1, skus // 5)]] = "A"
    abc[order[max(1, skus // 5) : max(1, skus // 2)]] = "B"
    abc[order[max(1, skus // 2) :]] = "C"
    sku_docs = [
        {
            "id": sku_ids[i],
            "unit_volume": float(volume[i]),
            "unit_cost": float(unit_cost[i]),
            "hot": bool(abc[i] == "A" and rng.random() < 0.3),
            "abc": str(abc[i] or "C"),
        }
        for i in range(skus)
    ]
    network = Network.model_validate(
        {
            "capacity_unit": "volume",
            "warehouses": warehouses,
            "lanes": lanes,
            "laterals": laterals,
            "distributors": dist_docs,
            "skus": sku_docs,
        }
    )
    return Instance(network, stock, demand, Policy(), start)


def write_instance(instance: Instance, out_dir: str | Path) -> dict[str, Path]:
    """Write network.yaml, stock.csv, forecast.parquet and policy.yaml into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "network": out / "network.yaml",
        "stock": out / "stock.csv",
        "forecast": out / "forecast.parquet",
        "policy": out / "policy.yaml",
    }
    document = instance.network.model_dump(mode="json", exclude_defaults=False)
    paths["network"].write_text(yaml.safe_dump(document, sort_keys=False))
    stock = instance.stock.copy()
    stock["arrival_date"] = pd.to_datetime(stock["arrival_date"]).dt.date
    stock.to_csv(paths["stock"], index=False)
    instance.demand.to_parquet(paths["forecast"], index=False)
    paths["policy"].write_text(
        yaml.safe_dump(instance.policy.model_dump(mode="json"), sort_keys=False)
    )
    return paths


def sample_stock(sales: pd.DataFrame, seed: int = 7) -> pd.DataFrame:
    """Stock around the sales sample (data/samples/stock.csv), seeded.

    About one to two weeks of each SKU's recent sales (last 8 weeks) at the central warehouse
    (plus some in transit arriving 3 days after the history), a few days at the regional and
    forward warehouses and the distributors, with a deliberate imbalance: slow movers SKU-003,
    SKU-006 and SKU-013 piled up at FW-E1 (150 days of supply) and the hot SKU-001 short at FW-N1.
    Regenerate: `python -m allocation.generate data/samples/sales.parquet data/samples/stock.csv`.
    """
    rng = np.random.default_rng(seed)
    last = sales["date"].max()
    recent = sales[sales["date"] > last - pd.Timedelta(days=56)]
    daily = recent.groupby(["sku", "location"])["units"].mean()
    arrival = (last + pd.Timedelta(days=3)).date()
    rows = []
    regions = (
        ("N", "FW-N1", ["D-N1", "D-N2"]),
        ("E", "FW-E1", ["D-E1", "D-E2"]),
        ("S", "FW-S1", ["D-S1"]),
    )
    for sku in sorted(sales["sku"].unique()):
        total = daily[sku].sum()
        rows.append(
            (
                sku,
                "CW",
                round(total * rng.uniform(8, 14)),
                round(total * rng.uniform(3, 6)),
                arrival,
            )
        )
        for region, fw, dists in regions:
            region_daily = daily[sku].get(fw, 0) + sum(daily[sku].get(d, 0) for d in dists)
            rows.append((sku, f"RW-{region}", round(region_daily * rng.uniform(3, 8)), 0, None))
            fw_days = rng.uniform(2, 9)
            if sku in ("SKU-003", "SKU-006", "SKU-013") and region == "E":
                fw_days = 150  # slow movers piled up in the east
            if sku == "SKU-001" and region == "N":
                fw_days = 0.5  # the hot SKU runs short in the north
            extra = 6 if fw_days > 100 else 0
            rows.append((sku, fw, round(daily[sku].get(fw, 0) * fw_days + extra), 0, None))
            for d in dists:
                rows.append((sku, d, round(daily[sku].get(d, 0) * rng.uniform(0, 6)), 0, None))
    return pd.DataFrame(rows, columns=["sku", "node", "on_hand", "in_transit", "arrival_date"])


if __name__ == "__main__":
    import sys

    sample_stock(pd.read_parquet(sys.argv[1])).to_csv(sys.argv[2], index=False)
