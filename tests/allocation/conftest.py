"""Small hand-made instances for the allocation tests (network dicts, stock and demand frames)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import allocation as al
from allocation.generate import example_network
from allocation.model import ModelInputs, prepare_inputs

TODAY = pd.Timestamp("2026-01-01")


def demand_frame(
    rates: dict[tuple[str, str], float], days: int = 28, spread: float = 0.0
) -> pd.DataFrame:
    """Forecast contract with a constant daily rate per (sku, location); q0.9 = rate + spread."""
    rows = []
    for (sku, location), rate in rates.items():
        for day in range(days):
            rows.append(
                {
                    "sku": sku,
                    "location": location,
                    "date": TODAY + pd.Timedelta(days=day),
                    "forecast": rate,
                    "q0.5": rate,
                    "q0.9": rate + spread,
                }
            )
    return pd.DataFrame(rows)


def example_inputs(
    skus: int, locations: int, distributors: int, seed: int, *, early_days_apart: bool = False
) -> ModelInputs:
    """The LP inputs of a seeded `example_network` instance (two weeks of demand)."""
    instance = example_network(skus, locations, distributors, seed=seed, horizon_days=14)
    network = instance.network
    policy = instance.policy.model_copy(update={"early_days_apart": early_days_apart})
    return prepare_inputs(
        network,
        al.validate_stock(instance.stock, network),
        al.validate_demand(instance.demand, network),
        policy,
    )


def stock_frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["sku", "node", "on_hand"])


@pytest.fixture
def one_lane() -> dict[str, Any]:
    """CW (central) -> FW (forward) in one region, one SKU of unit cost 1."""
    return {
        "warehouses": [
            {"id": "CW", "kind": "central", "region": "r", "capacity": 1000},
            {"id": "FW", "kind": "forward", "region": "r", "capacity": 1000},
        ],
        "lanes": [{"origin": "CW", "destination": "FW", "cost_per_unit": 1.0, "lead_time_days": 1}],
        "skus": [{"id": "S"}],
    }


@pytest.fixture
def two_tiers() -> dict[str, Any]:
    """One central warehouse serving a strategic and an observation distributor of its region."""
    return {
        "warehouses": [{"id": "CW", "kind": "central", "region": "r", "capacity": 1000}],
        "distributors": [
            {
                "id": "D-A",
                "region": "r",
                "tier": "strategic",
                "served_by": ["CW"],
                "lead_time_days": 1,
            },
            {
                "id": "D-B",
                "region": "r",
                "tier": "observation",
                "served_by": ["CW"],
                "lead_time_days": 1,
            },
        ],
        "skus": [{"id": "S"}],
    }
