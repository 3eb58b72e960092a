"""The service's routers, included in this order by `create_app` (one per resource)."""

from __future__ import annotations

from fastapi import APIRouter

from serving.api.routes import health, network, stock

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [health.router, network.router, stock.router]
