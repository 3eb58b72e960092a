"""The champion forecaster the service answers with, kept in step with the MLflow registry.

The store loads `models:/<name>@champion` at startup and notices when the alias moves to
another version (a promote through the API, the CLI or a retrain job in the worker process)
without a restart:

- a cheap alias look-up (one registry query, about a millisecond on SQLite) runs at most every
  `check_interval` seconds, on the request that asks for the model after the interval ran out;
- `refresh(force=True)` checks at once; the promote route checks the version can be served
  (`unservable`) and calls `refresh()` right after promoting it.

Only one thread checks or loads at a time. While a new version loads, other requests keep being
answered by the version already loaded (never by a half-loaded one); a request only waits when
no model is loaded at all. A failed load keeps the previous model, and the failure is kept in
`status().error` (shown by `/ready`) and logged with the version that failed.

This is the one serving module that talks to the MLflow registry directly (the alias look-up);
loading goes through `forecasting.tracking.load_model`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Protocol

import pandas as pd
from fastapi import Depends, Request
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from forecasting.errors import ModelFormatError
from forecasting.forecaster import ForecastConfig, trained_level
from forecasting.tracking import load_model
from serving.crud import SALES_COLUMNS

__all__ = [
    "CHAMPION",
    "ForecastModel",
    "LoadedModel",
    "ModelStore",
    "ModelStoreDep",
    "ModelStoreStatus",
    "ModelUnavailableError",
    "get_model_store",
]

CHAMPION = "champion"
DEFAULT_CHECK_INTERVAL = 2.0  # seconds between two alias look-ups on the request path

log = logging.getLogger(__name__)


class ForecastModel(Protocol):
    """What the store needs of a loaded forecaster (`forecasting.tracking.LoadedForecaster`)."""

    version: str
    run_id: str

    @property
    def config(self) -> ForecastConfig: ...

    def predict(self, sales: pd.DataFrame, horizon: int | None = None) -> pd.DataFrame: ...


Loader = Callable[[str, str, str], ForecastModel]
"""(tracking_uri, model_name, version number) -> loaded model."""


class ModelUnavailableError(RuntimeError):
    """No champion model is loaded (none registered yet, or it failed to load): say which."""


@dataclass(frozen=True)
class LoadedModel:
    """A loaded forecaster and the registry facts about it."""

    model: ForecastModel
    version: str
    run_id: str
    loaded_at: float  # time.time() when it finished loading, in seconds since the epoch
    load_seconds: float  # how long loading took, in seconds


@dataclass(frozen=True)
class ModelStoreStatus:
    """What `/ready` reports about the model."""

    model_name: str
    loaded: bool
    version: str | None
    run_id: str | None
    champion_version: str | None  # what the alias pointed at on the last check
    error: str | None  # why the champion is not (or not yet) the loaded model


def _default_loader(tracking_uri: str, model_name: str, version: str) -> ForecastModel:
    # load_model takes an alias or a version number: the version the alias named when checked,
    # so what is loaded is what was checked even if the alias moves in between.
    loaded = load_model(tracking_uri=tracking_uri, model_name=model_name, alias=version)
    if loaded.config.freq != "D":
        # the service stores daily sales and plans in days: a weekly model fed days would
        # forecast weeks' worth a day (the load fails, the version before it goes on serving)
        raise ValueError(
            f"it forecasts {loaded.config.freq!r} periods, and the service forecasts days from "
            "its daily sales: promote a version trained on days (`allocast train` without --freq)"
        )
    unstored = sorted(set(loaded.forecaster.input_columns()) - set(SALES_COLUMNS))
    if unstored:
        # /ready said ready, and every forecast was a 422 about a column no client can send
        raise ValueError(
            f"it reads column(s) {', '.join(unstored)}, which the service's sales do not hold "
            f"({', '.join(SALES_COLUMNS)}): promote a version trained without them"
        )
    if trained_level(loaded.config) != "location":
        # a region model fed one location's sales forecasts its region's demand there
        raise ValueError(
            "it forecasts region totals, and the service forecasts each location: promote a "
            "version trained per location (`allocast train` without --level region)"
        )
    return loaded


class ModelStore:
    """Thread-safe holder of the champion model; see the module docstring for the protocol."""

    def __init__(
        self,
        tracking_uri: str,
        model_name: str,
        *,
        alias: str = CHAMPION,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        loader: Loader = _default_loader,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.alias = alias
        self.check_interval = check_interval  # seconds
        self._loader = loader
        self._client: MlflowClient | None = None
        self._lock = threading.Lock()
        self._loaded: LoadedModel | None = None
        self._champion_version: str | None = None
        self._error: str | None = None
        self._checked_at = float("-inf")  # time.monotonic() of the last alias look-up
        self._background: threading.Thread | None = None  # the status() check under way
        self._background_lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------

    @property
    def version(self) -> str | None:
        """Version of the loaded model, or None when none is loaded."""
        loaded = self._loaded
        return loaded.version if loaded else None

    def status(self) -> ModelStoreStatus:
        """What is loaded and why not; starts a due alias check in the background.

        So `/ready` turns 200 once a champion appears (a retrain in the worker, the CLI) even
        when no forecast is asked for, without making the probe wait for a model to load.
        """
        self._check_in_background_if_due()
        return self._snapshot()

    def _snapshot(self) -> ModelStoreStatus:
        loaded = self._loaded
        return ModelStoreStatus(
            model_name=self.model_name,
            loaded=loaded is not None,
            version=loaded.version if loaded else None,
            run_id=loaded.run_id if loaded else None,
            champion_version=self._champion_version,
            error=self._error,
        )

    def current(self) -> LoadedModel:
        """The model to answer with, after a due alias check; raises ModelUnavailableError."""
        if time.monotonic() - self._checked_at >= self.check_interval:
            self._refresh_if_free()
        loaded = self._loaded
        if loaded is None:
            raise ModelUnavailableError(
                self._error or f"no {self.alias!r} model of {self.model_name!r} is loaded"
            )
        return loaded

    def unservable(self, version: str) -> str | None:
        """Why this service could not serve `version` (weeks, region totals, a column it does
        not store, a fitted state of another release), or None: the check a champion meets at
        load, made before promoting it. The version loaded now passes without a second load. A
        registry that cannot be read is ModelUnavailableError (a 503), not a refusal."""
        if version == self.version:
            return None
        try:
            self._loader(self.tracking_uri, self.model_name, version)
        except (ValueError, ModelFormatError) as error:  # what the load would refuse
            return f"{type(error).__name__}: {error}"
        except Exception as error:  # the registry or its artifact store, not the version
            raise ModelUnavailableError(
                f"version {version} could not be read to check it: {type(error).__name__}: {error}"
            ) from error
        return None

    # -- updating --------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> ModelStoreStatus:
        """Look up the alias and load its version when it differs from the loaded one.

        Waits for a refresh already under way in another thread. `force` also reloads when
        the version is unchanged (e.g. after a failed load).
        """
        with self._lock:
            self._refresh_locked(force=force)
        return self._snapshot()

    def _check_in_background_if_due(self) -> None:
        if time.monotonic() - self._checked_at < self.check_interval or self._lock.locked():
            return
        with self._background_lock:
            if self._background is not None and self._background.is_alive():
                return
            self._background = threading.Thread(
                target=self._refresh_if_free, name="model-store-check", daemon=True
            )
            self._background.start()

    def _refresh_if_free(self) -> None:
        # Without a model the caller must wait for one; with one it keeps answering with it.
        blocking = self._loaded is None
        if not self._lock.acquire(blocking=blocking):
            return
        try:
            if time.monotonic() - self._checked_at >= self.check_interval:
                self._refresh_locked(force=False)
        finally:
            self._lock.release()

    def _refresh_locked(self, *, force: bool) -> None:
        self._checked_at = time.monotonic()
        try:
            champion = self._champion_version_now()
        except MlflowException as error:
            self._error = f"cannot read the model registry at {self.tracking_uri}: {error}"
            log.warning("%s", self._error)
            return
        self._champion_version = champion
        if champion is None:
            self._error = (
                f"model {self.model_name!r} has no {self.alias!r} version yet: train one with "
                "`allocast train` or POST /v1/models/retrain"
            )
            return
        loaded = self._loaded
        if loaded is not None and loaded.version == champion and not force:
            self._error = None
            return
        self._load(champion)

    def _champion_version_now(self) -> str | None:
        if self._client is None:
            self._client = MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
            )
        try:
            return str(self._client.get_model_version_by_alias(self.model_name, self.alias).version)
        except MlflowException as error:
            if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
                return None  # no such model, or no such alias on it (yet)
            raise

    def _load(self, champion: str) -> None:
        started = time.perf_counter()
        try:
            model = self._loader(self.tracking_uri, self.model_name, champion)
        except Exception as error:  # any loader failure keeps the old model and is reported
            self._error = (
                f"loading {self.model_name!r} version {champion} ({self.alias}) failed: "
                f"{type(error).__name__}: {error}"
            )
            serving = f"still serving version {self.version}" if self.version else "no model loaded"
            log.error("%s; %s", self._error, serving)
            return
        seconds = time.perf_counter() - started
        self._loaded = LoadedModel(
            model=model,
            version=str(model.version),
            run_id=str(model.run_id),
            loaded_at=time.time(),
            load_seconds=seconds,
        )
        self._champion_version = str(model.version)
        self._error = None
        log.info(
            "loaded %s version %s (%s) in %.2f s",
            self.model_name,
            model.version,
            self.alias,
            seconds,
        )


async def get_model_store(request: Request) -> ModelStore:
    """The app's model store (`app.state.model_store`, set when the app is built).

    `async` so FastAPI calls it on the event loop: no thread-pool hop for an attribute read.
    """
    store: ModelStore = request.app.state.model_store
    return store


ModelStoreDep = Annotated[ModelStore, Depends(get_model_store)]
