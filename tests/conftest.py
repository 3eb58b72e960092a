"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# One thread for LightGBM / BLAS: on two cores beside another busy process, two threads
# slow down tenfold.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def m5_tiny_path() -> Path:
    """The real M5 slice; CI has it at ../shared. Skipped, with the reason, where it is absent."""
    path = SHARED_DATA / "m5_tiny" / "sales.parquet"
    if not path.exists():
        pytest.skip(f"real M5 slice not found at {path} (it lives in ../shared/data)")
    return path
