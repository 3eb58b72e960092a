"""The service's routers, included in this order by `create_app` (one per resource).

Importing this package also registers the job handlers of the kinds its endpoints enqueue
(`allocast worker` imports it for that).
"""

from __future__ import annotations

from fastapi import APIRouter

from serving.api.routes import (
    alerts,
    allocations,
    distributors,
    forecasts,
    health,
    jobs,
    models,
    network,
    plans,
    sales,
    stock,
)

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [
    health.router,
    network.router,
    stock.router,
    sales.router,
    allocations.router,
    plans.router,
    alerts.router,
    distributors.router,
    jobs.router,
    forecasts.router,
    models.router,
]
