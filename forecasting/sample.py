"""Seeded, realistic sales sample: `python -m forecasting.sample --out data/samples/sales.parquet`.

15 SKUs (`SKU-001`..`SKU-015`) x 8 demand locations (forward warehouses `FW-N1`, `FW-E1`, `FW-S1`
and distributors `D-N1`, `D-N2`, `D-E1`, `D-E2`, `D-S1`, region by their letter) x ~2 years of
days. Demand is a gamma-Poisson (negative binomial) draw around a mean built from:

- a SKU level: a few fast movers (tens of units a day), medium ones, and slow, intermittent ones
  (most days zero);
- a location share (forward warehouses and big distributors sell more);
- weekly seasonality (busier towards the weekend) and a mild yearly swing;
- price: each SKU has one or two permanent price changes, and demand follows price with an
  elasticity of about -1.5;
- promotions: short runs (3-7 days) with a 20 % discount and an extra lift;
- events: a few holidays a year with a lift for everyone.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.columns import DATE, EVENT, LOCATION, PRICE, PROMO, REGION, SKU, UNITS

__all__ = ["LOCATIONS", "REGIONS", "SKUS", "SampleSpec", "generate_sales", "write_sample"]

REGIONS = ("north", "east", "south")
LOCATIONS: dict[str, str] = {
    "FW-N1": "north",
    "FW-E1": "east",
    "FW-S1": "south",
    "D-N1": "north",
    "D-N2": "north",
    "D-E1": "east",
    "D-E2": "east",
    "D-S1": "south",
}
SKUS = tuple(f"SKU-{i:03d}" for i in range(1, 16))
# Share of a SKU's demand each location sees (forward warehouses serve walk-in and small trade).
LOCATION_SHARE = np.array([0.20, 0.17, 0.13, 0.14, 0.08, 0.12, 0.09, 0.07])
WEEKDAY_FACTOR = np.array([0.85, 0.9, 0.95, 1.0, 1.15, 1.3, 0.85])  # Monday .. Sunday
EVENT_DAYS = ("01-01", "02-14", "05-01", "10-01", "11-11", "12-24", "12-25")


MIN_DAYS = 91


@dataclass(frozen=True)
class SampleSpec:
    """What to generate: `days` of history ending on `end`, drawn with `seed`."""

    days: int = 730
    end: str = "2025-12-31"
    seed: int = 7

    def __post_init__(self) -> None:
        if self.days < MIN_DAYS:  # price changes land 60 days in and 30 before the end
            raise ValueError(f"a sample spans at least {MIN_DAYS} days, not {self.days}")


def _sku_levels(rng: np.random.Generator, n: int) -> np.ndarray:
    """Mean total daily units per SKU over all locations: fast, medium and slow movers."""
    fast = rng.uniform(40, 90, size=4)
    medium = rng.uniform(6, 20, size=5)
    slow = rng.uniform(0.6, 2.5, size=n - 9)
    levels = np.concatenate([fast, medium, slow])
    return levels[rng.permutation(n)]


def _price_paths(rng: np.random.Generator, dates: pd.DatetimeIndex) -> np.ndarray:
    """Shelf price per SKU and day (money per unit): base price plus permanent changes."""
    base = rng.uniform(2, 40, size=len(SKUS)).round(2)
    prices = np.repeat(base[:, None], len(dates), axis=1)
    for i in range(len(SKUS)):
        for _ in range(rng.integers(1, 3)):
            start = rng.integers(60, len(dates) - 30)
            prices[i, start:] *= rng.choice([0.9, 1.08, 1.12, 0.95])
    return np.round(prices, 2)


def _promo_flags(rng: np.random.Generator, n_days: int) -> np.ndarray:
    """0/1 promotion flag per SKU and day: 4-8 runs of 3-7 days a year for most SKUs."""
    flags = np.zeros((len(SKUS), n_days))
    for i in range(len(SKUS)):
        if rng.random() < 0.25:
            continue  # a quarter of the range never goes on promotion
        runs = rng.integers(4, 9) * n_days // 365
        for _ in range(runs):
            start = rng.integers(0, n_days - 7)
            flags[i, start : start + rng.integers(3, 8)] = 1.0
    return flags


def generate_sales(spec: SampleSpec = SampleSpec()) -> pd.DataFrame:
    """The canonical sales frame of the sample (see the module docstring)."""
    rng = np.random.default_rng(spec.seed)
    dates = pd.date_range(end=spec.end, periods=spec.days, freq="D")
    n_days = len(dates)
    levels = _sku_levels(rng, len(SKUS))
    prices = _price_paths(rng, dates)
    promos = _promo_flags(rng, n_days)
    shelf_prices = np.where(promos == 1.0, np.round(prices * 0.8, 2), prices)
    events = dates.strftime("%m-%d").isin(EVENT_DAYS).astype(float)

    weekly = WEEKDAY_FACTOR[dates.dayofweek.to_numpy()]
    yearly = 1 + 0.15 * np.sin(2 * np.pi * (dates.dayofyear.to_numpy() - 80) / 365.25)
    trend = np.linspace(1, rng.uniform(0.9, 1.25), n_days)
    calendar = weekly * yearly * trend * (1 + 0.6 * events)

    frames = []
    for i, sku in enumerate(SKUS):
        price_effect = (prices[i] / prices[i, 0]) ** -1.5
        promo_effect = (1 + 0.7 * promos[i]) * (0.8**-1.5) ** promos[i]
        sku_mean = levels[i] * calendar * price_effect * promo_effect
        shares = LOCATION_SHARE * rng.uniform(0.7, 1.3, size=len(LOCATION_SHARE))
        means = sku_mean[None, :] * shares[:, None]
        # Gamma-Poisson: shape 2 gives overdispersion (variance = mean + mean^2 / 2).
        units = rng.poisson(rng.gamma(2.0, means / 2.0))
        for j, location in enumerate(LOCATIONS):
            frames.append(
                pd.DataFrame(
                    {
                        SKU: sku,
                        LOCATION: location,
                        REGION: LOCATIONS[location],
                        DATE: dates,
                        UNITS: units[j].astype("int32"),
                        PRICE: shelf_prices[i],
                        PROMO: promos[i].astype("int8"),
                        EVENT: events.astype("int8"),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def write_sample(out: str | Path, spec: SampleSpec = SampleSpec()) -> Path:
    """Generate the sample and write it as Parquet (or CSV when `out` ends in .csv)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = generate_sales(spec)
    if out.suffix.lower() == ".csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False, compression="zstd")
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line entry: write the sample where `--out` says."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/samples/sales.parquet")
    parser.add_argument("--days", type=int, default=SampleSpec.days)
    parser.add_argument("--seed", type=int, default=SampleSpec.seed)
    args = parser.parse_args(argv)
    try:
        spec = SampleSpec(days=args.days, seed=args.seed)
    except ValueError as error:
        parser.error(f"--days: {error}")
    path = write_sample(args.out, spec)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
