"""Request dependencies as `Annotated` aliases: settings, database session, caller, role checks.

The dependencies that do no I/O are `async`: FastAPI runs a plain `def` dependency in the thread
pool, one hop per dependency per request, which cost the suggestion read half its throughput.
The key lookup asks the database only on a `KeyCache` miss, in the thread pool.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.utils import get_flat_params
from fastapi.exceptions import RequestValidationError
from fastapi.params import Query
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from allocation.network import RepeatedKeyError, json_with_unique_keys
from serving.auth import KeyCache, Principal, find_key, hash_key
from serving.config import Settings
from serving.db import Database
from serving.models import Role

__all__ = [
    "API_KEY_HEADER",
    "AdminDep",
    "CurrentKeyDep",
    "DatabaseDep",
    "PlannerDep",
    "SessionDep",
    "SettingsDep",
    "check_request_form",
    "get_current_key",
    "get_session",
    "require_roles",
]

API_KEY_HEADER = "X-API-Key"
_api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="a key made by `allocast keys create`"
)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


def _is_json(content_type: str) -> bool:
    """application/json or an application/*+json type, whatever its parameters (charset)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _route_form(route: APIRoute) -> tuple[bool, frozenset[str]]:
    """Whether the route reads a JSON body (`_takes_json_body`), and the names of its query
    parameters that take one value; worked out once per route and kept on it (an APIRoute is
    not hashable: no functools.cache)."""
    known: tuple[bool, frozenset[str]] | None = getattr(route, _FORM_ATTRIBUTE, None)
    if known is None:
        known = _read_route_form(route)
        setattr(route, _FORM_ATTRIBUTE, known)
    return known


_FORM_ATTRIBUTE = "_allocast_request_form"


def _takes_json_body(route: APIRoute) -> bool:
    """The route reads a JSON body: its own, or one it validates itself and declares in
    `openapi_extra`."""
    return route.body_field is not None or "requestBody" in (route.openapi_extra or {})


def _read_route_form(route: APIRoute) -> tuple[bool, frozenset[str]]:
    takes_json = _takes_json_body(route)
    single = frozenset(
        field.alias
        for field in get_flat_params(route.dependant)
        if isinstance(field.field_info, Query) and not _takes_many(field.field_info.annotation)
    )
    return takes_json, single


def _takes_many(annotation: Any) -> bool:
    """A list, tuple or set, or an optional one: FastAPI reads a repeated query parameter into
    it."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_takes_many(arg) for arg in get_args(annotation))
    return (origin or annotation) in (list, tuple, set, frozenset)


async def check_request_form(request: Request) -> None:
    """Every route's first check: a body sent to a JSON route is declared as JSON (415;
    FastAPI would read text/plain as a string and answer a 422 about its type), and a query
    parameter that takes one value comes once (422; FastAPI keeps the last one silently, so
    `status=draft&status=approved` listed approved plans alone)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    takes_json, single = _route_form(route)
    content_type = request.headers.get("content-type")
    sent_body = request.headers.get("content-length", "0") != "0" or (
        "transfer-encoding" in request.headers
    )
    if takes_json and sent_body and not _is_json(content_type or ""):
        shown = "no content type" if content_type is None else f"content type {content_type!r}"
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"{shown}: send the body as application/json",
        )
    if takes_json and sent_body:  # a parse of the whole body: off the event loop
        await run_in_threadpool(_refuse_repeated_keys, await request.body())
    repeated = [name for name in single if len(request.query_params.getlist(name)) > 1]
    if repeated:
        raise RequestValidationError(
            [
                {
                    "type": "too_many_values",
                    "loc": ("query", name),
                    "msg": f"given {len(request.query_params.getlist(name))} times; this "
                    "parameter takes one value",
                    "input": request.query_params.getlist(name),
                }
                for name in sorted(repeated)
            ]
        )


def _refuse_repeated_keys(body: bytes) -> None:
    """A JSON body with a key given twice in one object is a 422 naming it: parsed as sent,
    the last one won without a word (`"capacity": 100000, "capacity": 1` stored 1). A body that
    does not parse at all is left to the route's own reading, which says why."""
    try:
        json_with_unique_keys(body)
    except RepeatedKeyError as error:
        raise RequestValidationError(
            [
                {
                    "type": "repeated_key",
                    "loc": ("body",),
                    "msg": f"{error}; give each key once",
                    "input": None,
                }
            ]
        ) from None
    except (ValueError, RecursionError):
        return


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_session(database: DatabaseDep) -> AsyncIterator[Session]:
    """One session per request; routes commit what they write, anything else is rolled back.

    Making a session does no I/O; closing one that still holds a connection does (a rollback),
    so that happens in the thread pool.
    """
    session = database.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def _look_up(database: Database, key: str) -> Principal | None:
    with database.sessions() as session:
        return find_key(session, key)


async def get_current_key(
    request: Request, database: DatabaseDep, key: Annotated[str | None, Security(_api_key_scheme)]
) -> Principal:
    """The caller behind the X-API-Key header; 401 when it is missing, unknown or revoked."""
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"missing {API_KEY_HEADER} header: create a key with `allocast keys create`",
        )
    cache: KeyCache = request.app.state.key_cache
    digest = hash_key(key)
    principal = cache.get(digest)
    if principal is None:
        principal = await run_in_threadpool(_look_up, database, key)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, f"unknown or revoked {API_KEY_HEADER}"
            )
        cache.put(digest, principal)
    return principal


CurrentKeyDep = Annotated[Principal, Depends(get_current_key)]


def require_roles(*roles: str) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency that lets only the given roles through (403 for the others)."""
    allowed = frozenset(Role(role) for role in roles)
    names = ", ".join(sorted(role.value for role in allowed))

    async def check(principal: CurrentKeyDep) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"a {principal.role.value} key may not use this endpoint (needs: {names})",
            )
        return principal

    return check


PlannerDep = Annotated[Principal, Depends(require_roles("planner", "admin"))]
"""A planner or an admin: every endpoint that reads or changes the network, stock, plans, jobs."""
AdminDep = Annotated[Principal, Depends(require_roles("admin"))]
