"""The same inputs give the same LP in every process, to the bit: nothing the model sums may
follow the order of a set of strings, which Python's per-process string hashing changes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

NODE_DAILY = (
    "import allocation as al\n"
    "from allocation.generate import example_network\n"
    "from allocation.model import prepare_inputs\n"
    "instance = example_network(40, 10, 6, seed=2, horizon_days=14)\n"
    "network = instance.network\n"
    "inputs = prepare_inputs(\n"
    "    network,\n"
    "    al.validate_stock(instance.stock, network),\n"
    "    al.validate_demand(instance.demand, network),\n"
    "    instance.policy,\n"
    ")\n"
    "print(sorted((key, value.hex()) for key, value in inputs.node_daily.items()))\n"
)


def _run(code: str, hash_seed: int) -> str:
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    return result.stdout


def test_warehouse_daily_demand_is_the_same_whatever_the_string_hashes() -> None:
    # The central warehouse sums its regional warehouses' daily demand; taken in an order that
    # followed string hashes, the sums moved by a unit in the last place from run to run.
    first = _run(NODE_DAILY, 1)
    assert "CW" in first
    assert _run(NODE_DAILY, 2) == first
    assert _run(NODE_DAILY, 3) == first
