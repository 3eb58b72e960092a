"""Liveness, readiness and Prometheus metrics (no key needed: probes and scrapers call these)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from serving.deps import DatabaseDep
from serving.metrics import Metrics
from serving.model_store import ModelStoreDep

router = APIRouter(tags=["health"])


class HealthPublic(BaseModel):
    status: str


class ModelReadiness(BaseModel):
    name: str
    loaded: bool
    version: str | None
    champion_version: str | None
    error: str | None


class ReadyPublic(BaseModel):
    """ready: the database answers and a champion model is loaded."""

    ready: bool
    database: str  # "ok" or why it cannot be reached
    model: ModelReadiness


@router.get("/health", response_model=HealthPublic)
def health() -> HealthPublic:
    """The process is up and answering."""
    return HealthPublic(status="ok")


@router.get(
    "/ready",
    response_model=ReadyPublic,
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ReadyPublic}},
)
def ready(database: DatabaseDep, model_store: ModelStoreDep, response: Response) -> ReadyPublic:
    """200 when the database is reachable and the champion model is loaded, else 503 saying why."""
    try:
        database.ping()
        database_state = "ok"
    except SQLAlchemyError as error:
        database_state = f"unreachable: {type(error).__name__}: {error}".splitlines()[0]
    model = model_store.status()
    is_ready = database_state == "ok" and model.loaded
    if not is_ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadyPublic(
        ready=is_ready,
        database=database_state,
        model=ModelReadiness(
            name=model.model_name,
            loaded=model.loaded,
            version=model.version,
            champion_version=model.champion_version,
            error=model.error,
        ),
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of this app's metrics."""
    app_metrics: Metrics = request.app.state.metrics
    return Response(generate_latest(app_metrics.registry), media_type=CONTENT_TYPE_LATEST)
