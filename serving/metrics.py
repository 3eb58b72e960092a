"""Prometheus metrics of one app: requests by route and status, latency, and the model served.

Each app gets its own registry (tests build many apps in one process; the global registry
would refuse the second). The route label is the path template (`/v1/plans/{plan_id}`), never
the raw path, so the number of series stays bounded whatever clients send.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "MetricsMiddleware"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)  # seconds


class Metrics:
    """The collectors of one app, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "allocast_http_requests_total",
            "HTTP requests answered, by method, route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "allocast_http_request_duration_seconds",
            "Time to answer a request, in seconds, by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.plans = Counter(
            "allocast_plans_created_total",
            "Allocation plans stored, by how they were answered (sync or job)",
            ["mode"],
            registry=self.registry,
        )
        self.model_loaded = Gauge(
            "allocast_model_loaded",
            "1 when a champion model is loaded and answering, else 0",
            registry=self.registry,
        )

    def watch_model(self, loaded: Callable[[], bool]) -> None:
        """Read the model state at scrape time."""
        self.model_loaded.set_function(lambda: 1.0 if loaded() else 0.0)


class MetricsMiddleware:
    """Counts and times every HTTP request (pure ASGI: no per-request task or body copy)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
