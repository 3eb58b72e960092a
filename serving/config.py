"""The service's settings: one pydantic-settings class, read from `ALLOCAST_*` variables.

Settings are built by the caller (the CLI, a test) and passed to `create_app(settings)`; nothing
reads the environment at import time, so a test builds an app with its own database.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_DATABASE_URL", "Settings"]

STATE_DIR = Path(".allocast")
DEFAULT_DATABASE_URL = f"sqlite:///{STATE_DIR / 'allocast.db'}"


def _default_tracking_uri() -> str:
    # forecasting owns where the embedded MLflow store lives; imported late (it loads mlflow).
    from forecasting.tracking import default_tracking_uri

    return default_tracking_uri()


class Settings(BaseSettings):
    """Everything the service and the worker can be told; `ALLOCAST_<NAME>` sets `<name>`."""

    model_config = SettingsConfigDict(env_prefix="ALLOCAST_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: embedded SQLite by default, postgresql+psycopg://…",
    )
    migrate_on_startup: bool = Field(
        default=True, description="apply the Alembic migrations when the app or the worker starts"
    )
    tracking_uri: str = Field(
        default_factory=_default_tracking_uri,
        description="MLflow tracking/registry URI (default: forecasting's embedded store)",
    )
    model_name: str = Field(default="allocast-forecaster", description="registered model to serve")
    load_model_on_startup: bool = Field(
        default=True, description="load the champion model when the app starts (in the background)"
    )
    model_check_interval: float = Field(
        default=2.0, gt=0, description="seconds between two look-ups of the champion alias"
    )
    max_body_bytes: int = Field(
        default=20 * 1024 * 1024, gt=0, description="largest request body accepted, in bytes"
    )
    sync_allocation_limit: int = Field(
        default=2000,
        ge=0,
        description="allocations over more (SKU, location) demand series than this run as jobs",
    )
    max_concurrent_solves: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="allocations solved at once by one service process (default: CPU count); "
        "the others wait for a slot",
    )
    solve_queue_seconds: float = Field(
        default=60.0,
        gt=0,
        description="seconds an allocation waits for a solve slot before it is answered 503 "
        "with Retry-After",
    )
    key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="seconds a looked-up API key is trusted without asking the database again "
        "(so a revoked key stops working within this time; 0: look up every request)",
    )
    host: str = Field(default="127.0.0.1", description="address `allocast serve` binds")
    port: int = Field(default=8000, ge=1, le=65535, description="port `allocast serve` binds")
    workers: int = Field(
        default=1, ge=1, description="uvicorn worker processes for `allocast serve`"
    )
    worker_poll_seconds: float = Field(
        default=1.0, gt=0, description="seconds the job worker sleeps when the queue is empty"
    )
    job_lease_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="seconds a claimed job may run before another worker may take it over",
    )
    job_max_attempts: int = Field(
        default=3, ge=1, description="claims of one job before it is failed"
    )
