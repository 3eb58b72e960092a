"""Model versions: read them with their backtest metrics, promote one to champion, retrain.

Promoting moves the registry's `champion` alias and makes this process load that version at
once; other processes (more uvicorn workers, the job worker) pick it up on their next alias
check. A retrain runs as a job (`allocast worker`): it trains on the stored sales, registers a
new version and promotes it only when it passes the champion gate of `forecasting.tracking`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from forecasting.forecaster import ForecastConfig
from forecasting.tracking import ModelVersionInfo, list_versions, promote, train_and_register
from serving import audit
from serving.db import begin_write
from serving.deps import AdminDep, PlannerDep, SessionDep, SettingsDep
from serving.errors import ErrorMessage
from serving.forecast_service import read_stored_sales
from serving.jobs import JobContext, enqueue, register_handler
from serving.model_store import CHAMPION, ModelStoreDep
from serving.models import SalesRow
from serving.schemas import QUANTILE_DECIMALS

router = APIRouter(prefix="/v1/models", tags=["models"])

log = logging.getLogger(__name__)

RETRAIN = "retrain"  # job kind
VersionPath = Annotated[str, Path(pattern=r"^[1-9][0-9]{0,8}$", description="registry version")]


class ModelVersionPublic(BaseModel):
    """A registered version, its aliases and the backtest metrics logged with it."""

    version: str
    aliases: list[str]
    champion: bool
    loaded: bool  # this process answers forecasts with this version
    run_id: str | None
    created: dt.datetime | None
    freq: str | None  # periods it forecasts (the service serves "D" only)
    level: str | None  # location or region series (the service serves "location" only)
    horizon: int | None  # periods it was backtested and calibrated ahead
    metrics: dict[str, float]


class ModelsPublic(BaseModel):
    model_name: str
    champion_version: str | None
    loaded_version: str | None
    data: list[ModelVersionPublic]  # newest first
    count: int


class PromotionPublic(BaseModel):
    model_name: str
    version: str  # the new champion
    previous_champion: str | None
    loaded_version: str | None  # what this process now answers with
    load_error: str | None  # why the new champion could not be loaded here, if it could not


class RetrainCreate(BaseModel):
    """What to train: the stored sales, with these forecasting settings."""

    model_config = ConfigDict(extra="forbid")

    horizon: int = Field(28, strict=True, ge=1, le=366, description="days to forecast")
    quantiles: list[Annotated[float, Field(strict=True, gt=0, lt=1, allow_inf_nan=False)]] = Field(
        default=[0.5, 0.9, 0.95],
        min_length=1,
        max_length=20,
        description=f"quantile levels, at most {QUANTILE_DECIMALS} decimals each",
    )
    n_windows: int = Field(
        3, strict=True, ge=1, le=20, description="rolling-origin backtest windows"
    )
    seed: int = Field(0, strict=True, ge=0, le=2**31 - 1)

    @field_validator("quantiles")
    @classmethod
    def _named_by_four_decimals(cls, levels: list[float]) -> list[float]:
        # The forecast's columns are named by their levels (q0.975); allocation requests take
        # names with at most QUANTILE_DECIMALS decimals, so a model must not make others.
        finer = [level for level in levels if round(level, QUANTILE_DECIMALS) != level]
        if finer:
            raise ValueError(
                f"quantile levels {finer}: at most {QUANTILE_DECIMALS} decimals each "
                "(0.9, 0.975, 0.9995)"
            )
        return levels


class RetrainAccepted(BaseModel):
    job_id: int
    status: str
    status_url: str


def _public(info: ModelVersionInfo, loaded: str | None) -> ModelVersionPublic:
    aliases = sorted(info.aliases)
    return ModelVersionPublic(
        version=str(info.version),
        aliases=aliases,
        champion=CHAMPION in aliases,
        loaded=str(info.version) == loaded,
        run_id=info.run_id,
        created=info.created,
        freq=info.freq,
        level=info.level,
        horizon=info.horizon,
        metrics={k: float(v) for k, v in info.metrics.items()},
    )


def _versions(tracking_uri: str, model_name: str) -> list[ModelVersionInfo]:
    infos = list_versions(tracking_uri, model_name)
    return sorted(infos, key=lambda info: int(info.version), reverse=True)


@router.get("", response_model=ModelsPublic)
def read_models(
    settings: SettingsDep, model_store: ModelStoreDep, _principal: PlannerDep
) -> ModelsPublic:
    """Every registered version of the served model, newest first, with its backtest metrics."""
    loaded = model_store.version
    data = [_public(info, loaded) for info in _versions(settings.tracking_uri, settings.model_name)]
    champion = next((d.version for d in data if d.champion), None)
    return ModelsPublic(
        model_name=settings.model_name,
        champion_version=champion,
        loaded_version=loaded,
        data=data,
        count=len(data),
    )


def _find(infos: list[ModelVersionInfo], version: str, model_name: str) -> ModelVersionInfo:
    for info in infos:
        if str(info.version) == version:
            return info
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"model {model_name!r} has no version {version}")


@router.get(
    "/{version}",
    response_model=ModelVersionPublic,
    responses={status.HTTP_404_NOT_FOUND: {"model": ErrorMessage}},
)
def read_model(
    version: VersionPath, settings: SettingsDep, model_store: ModelStoreDep, _principal: PlannerDep
) -> ModelVersionPublic:
    """One version with its backtest metrics."""
    infos = _versions(settings.tracking_uri, settings.model_name)
    return _public(_find(infos, version, settings.model_name), model_store.version)


@router.post(
    "/{version}/promote",
    response_model=PromotionPublic,
    responses={
        status.HTTP_404_NOT_FOUND: {"model": ErrorMessage},
        status.HTTP_409_CONFLICT: {"model": ErrorMessage},
    },
)
def promote_model(
    version: VersionPath,
    settings: SettingsDep,
    session: SessionDep,
    model_store: ModelStoreDep,
    principal: AdminDep,
) -> PromotionPublic:
    """Make `version` the champion; this process serves it from the next request on. A version
    the service could not serve is a 409 and the champion stays (`allocast models promote` moves
    the alias for CLI use)."""
    infos = _versions(settings.tracking_uri, settings.model_name)
    info = _find(infos, version, settings.model_name)
    previous = next((str(i.version) for i in infos if CHAMPION in i.aliases), None)
    # Promoted, a weekly version was answered 200 with a load error: the old version went on
    # serving until a restart, then nothing did, and retrains stayed challenger against it.
    problem = model_store.unservable(str(info.version))
    if problem is not None:
        served = model_store.version
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"version {info.version} cannot be served here ({problem}); the champion stays "
            f"version {previous}"
            + (
                f" (this service serves version {served})" if served not in (None, previous) else ""
            ),
        )
    promote(settings.tracking_uri, settings.model_name, str(info.version))
    begin_write(session)
    audit.record(
        session,
        principal,
        "model.promote",
        "model",
        f"{settings.model_name}:{info.version}",
        previous_champion=previous,
    )
    session.commit()
    state = model_store.refresh()
    return PromotionPublic(
        model_name=settings.model_name,
        version=str(info.version),
        previous_champion=previous,
        loaded_version=state.version,
        load_error=state.error,
    )


@router.post(
    "/retrain",
    response_model=RetrainAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"model": ErrorMessage}},
)
def start_retrain(body: RetrainCreate, session: SessionDep, principal: AdminDep) -> RetrainAccepted:
    """Queue a retrain on the stored sales; follow it with `GET /v1/jobs/{job_id}`. 409 while
    no sales are stored (the job could only fail)."""
    if session.scalar(select(SalesRow.id).limit(1)) is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "no sales stored yet: POST /v1/sales first, then retrain"
        )
    _check_history(session, body)
    begin_write(session)
    job = enqueue(session, RETRAIN, body.model_dump(), created_by=principal.key_id)
    audit.record(session, principal, "model.retrain", "job", job.id, **body.model_dump())
    session.commit()
    return RetrainAccepted(job_id=job.id, status=job.status, status_url=f"/v1/jobs/{job.id}")


def _check_history(session: Session, body: RetrainCreate) -> None:
    """A 422 naming horizon when no stored series can be long enough: the days from the
    earliest listing (a first sale or price) to the last stored day bound every series, and the
    forecaster needs `ForecastConfig.fewest_periods` of them in one series (it was a job that
    failed later). A history with room for fewer windows than n_windows trains on those, as
    `allocast train` does, and the job's warnings say so."""
    needed = ForecastConfig(horizon=body.horizon, n_windows=body.n_windows).fewest_periods()
    # a series starts where it was listed: its first sale or its first price (trim_leading_zeros)
    listed = or_(SalesRow.units > 0, SalesRow.price.is_not(None))
    first = session.scalar(select(func.min(SalesRow.date)).where(listed))
    last = session.scalar(select(func.max(SalesRow.date)))
    longest = 0 if first is None or last is None else (last - first).days + 1
    if longest >= needed:
        return
    seasons = needed - body.horizon
    raise RequestValidationError(
        [
            {
                "type": "history_too_short",
                "loc": ("body", "horizon"),
                "msg": f"even one backtest window of horizon {body.horizon} days after {seasons} "
                f"days of history needs {needed} days from a series' listing (its first sale or "
                f"price); the stored "
                f"sales hold at most {longest}: lower horizon or send more history",
                "input": {"horizon": body.horizon, "n_windows": body.n_windows},
            }
        ]
    )


def run_retrain(payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """Job handler: train on the stored sales, register the version, promote it if it passes."""
    settings = context.settings
    request = RetrainCreate.model_validate(payload)
    with context.database.sessions() as session:
        sales = read_stored_sales(session)
    config = ForecastConfig(
        horizon=request.horizon,
        quantiles=tuple(sorted(set(request.quantiles))),
        n_windows=request.n_windows,
        seed=request.seed,
    )
    outcome = train_and_register(
        sales, config, tracking_uri=settings.tracking_uri, model_name=settings.model_name
    )
    with context.database.session() as session:
        audit.record(
            session,
            None,
            "model.register",
            "model",
            f"{settings.model_name}:{outcome.version}",
            job_id=context.job_id,
            promoted=outcome.promoted,
            gate=outcome.gate,
        )
    log.info(
        "retrain job %s: version %s promoted=%s", context.job_id, outcome.version, outcome.promoted
    )
    return {
        "model_name": settings.model_name,
        "version": str(outcome.version),
        "run_id": outcome.run_id,
        "promoted": outcome.promoted,
        "gate": outcome.gate,
        "metrics": {k: float(v) for k, v in outcome.metrics.items()},
        "series": int(sales[["sku", "location"]].drop_duplicates().shape[0]),
    }


register_handler(RETRAIN, run_retrain)
