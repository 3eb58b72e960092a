"""Request dependencies as `Annotated` aliases: settings, database session, caller, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from serving.auth import Principal, find_key
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


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]


def get_session(database: DatabaseDep) -> Iterator[Session]:
    """One session per request; routes commit what they write, anything else is rolled back."""
    with database.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_current_key(
    session: SessionDep, key: Annotated[str | None, Security(_api_key_scheme)]
) -> Principal:
    """The caller behind the X-API-Key header; 401 when it is missing, unknown or revoked."""
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"missing {API_KEY_HEADER} header: create a key with `allocast keys create`",
        )
    principal = find_key(session, key)
    # The lookup only reads: end its transaction so a SQLite reader holds no snapshot open.
    session.rollback()
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"unknown or revoked {API_KEY_HEADER}")
    return principal


CurrentKeyDep = Annotated[Principal, Depends(get_current_key)]


def require_roles(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only the given roles through (403 for the others)."""
    allowed = frozenset(Role(role) for role in roles)
    names = ", ".join(sorted(role.value for role in allowed))

    def check(principal: CurrentKeyDep) -> Principal:
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
