"""Builds the allocast FastAPI app from settings (`create_app`); `allocast serve` runs it.

Nothing is created at import time: the database engine, the model store and the metrics belong
to the app that `create_app(settings)` returns, so tests build apps with their own database.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from serving.api import ROUTERS
from serving.auth import KeyCache
from serving.config import Settings
from serving.db import connect, upgrade
from serving.deps import check_request_form
from serving.errors import BodySizeLimitMiddleware, ErrorMessage, install_error_handlers
from serving.metrics import Metrics, MetricsMiddleware
from serving.model_store import ModelStore
from serving.planning import SolveSlots
from serving.schemas import AllocationCreate
from serving.suggestions import SuggestionCache

__all__ = ["app_from_env", "create_app"]

log = logging.getLogger(__name__)

DESCRIPTION = """\
Demand forecasts and allocation plans for supply planners, replenishment suggestions for
distributors, model versions for admins. Authenticate with an `X-API-Key` header (keys are made
with `allocast keys create --role planner|distributor|admin`).
"""


KEYED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorMessage, "description": "missing, unknown or revoked X-API-Key"},
    403: {"model": ErrorMessage, "description": "the key's role or distributor may not do this"},
    413: {"model": ErrorMessage, "description": "request body over ALLOCAST_MAX_BODY_BYTES"},
}


def create_app(settings: Settings) -> FastAPI:
    """The service, bound to `settings` (database, model registry, limits)."""
    database = connect(settings.database_url)
    model_store = ModelStore(
        settings.tracking_uri, settings.model_name, check_interval=settings.model_check_interval
    )
    metrics = Metrics()
    metrics.watch_model(lambda: model_store.status().loaded)

    def load_model() -> None:
        model_store.refresh()
        _freeze_heap()  # the model's objects too

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_startup:
            upgrade(database.engine)
        _freeze_heap()
        if settings.load_model_on_startup:
            # Loading a model takes seconds: /health answers at once, /ready once it is loaded.
            threading.Thread(target=load_model, name="model-load", daemon=True).start()
        yield
        database.dispose()

    app = FastAPI(
        title="allocast",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(check_request_form)],
    )
    app.state.settings = settings
    app.state.db = database
    app.state.model_store = model_store
    app.state.metrics = metrics
    app.state.key_cache = KeyCache(settings.key_cache_seconds)
    app.state.solve_slots = SolveSlots(settings.max_concurrent_solves, settings.solve_queue_seconds)
    app.state.suggestions = SuggestionCache()
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    for router in ROUTERS:
        # Every /v1 operation needs a key (401) of the right role or scope (403).
        responses = KEYED_RESPONSES if router.prefix.startswith("/v1") else None
        app.include_router(router, responses=responses)
    _declare_bodies(app, [AllocationCreate])
    return app


_ERROR_BODY = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorMessage"}}}
UNSUPPORTED_MEDIA: dict[str, Any] = {
    "description": "a body not sent as application/json",
    "content": _ERROR_BODY,
}
UNPARSED_BODY: dict[str, Any] = {
    "description": "a body that is not UTF-8, or JSON nested too deep to parse",
    "content": _ERROR_BODY,
}
BUSY: dict[str, Any] = {
    "description": "the database is busy with another write; retry after Retry-After seconds",
    "content": _ERROR_BODY,
}


def _operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (method, operation)
        for path in schema["paths"].values()
        for method, operation in path.items()
    ]


def _declare_bodies(app: FastAPI, models: list[type[BaseModel]]) -> None:
    """Add the schemas of bodies a route validates itself (`openapi_extra` names them) to the
    OpenAPI components, with the models they use, as FastAPI does for the bodies it parses, and
    the 415 and 400 to every operation that takes a body, the 503 to every write."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()  # FastAPI's schema (kept as app.openapi_schema), completed here
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, used in definition.pop("$defs", {}).items():
                components.setdefault(name, used)
            components.setdefault(model.__name__, definition)
        for method, operation in _operations(schema):
            if "requestBody" in operation:  # deps.check_request_form's and errors' answers
                operation["responses"].setdefault("415", UNSUPPORTED_MEDIA)
                operation["responses"].setdefault("400", UNPARSED_BODY)
            if method != "get":  # every write waits for the write lock (db.begin_write)
                operation["responses"].setdefault("503", BUSY)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _freeze_heap() -> None:
    """Move what startup made (400k objects: pandas, MLflow, SQLAlchemy, ...) out of the
    collector's sight: every full collection walked them all, and parsing a 17k-row allocation,
    which makes enough objects to trigger several, took 0.7 s instead of 0.15 s. Garbage is
    collected first, so only live objects are frozen (never freed, as they would not be)."""
    gc.collect()
    gc.freeze()


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory serving.main:app_from_env`: settings from ALLOCAST_*."""
    return create_app(Settings())
