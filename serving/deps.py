"""Request dependencies as `Annotated` aliases: settings, database session, caller, role checks.

The dependencies that do no I/O are `async`: FastAPI runs a plain `def` dependency in the thread
pool, one hop per dependency per request, which cost the suggestion read half its throughput.
The key lookup asks the database only on a `KeyCache` miss, in the thread pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

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
