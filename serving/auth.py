"""API keys: created once (printed, never stored), kept as SHA-256 hashes, each with a role.

A key is 32 random bytes (256 bits): a fast hash is enough to store it safely (no dictionary
to guess from), and a lookup is one indexed query. Roles: `planner`, `admin`, and `distributor`,
which is bound to one distributor id and only sees that distributor's suggestions.

The service keeps a found key for a few seconds (`KeyCache`, ALLOCAST_KEY_CACHE_SECONDS, default
5 s) so a busy client does not cost a query per request: a key revoked (`revoke_key`, which
`allocast keys revoke` runs, sets `revoked_at`) stops working within that time, in every service
process.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from allocation.network import check_id
from serving.models import ApiKey, Role, utcnow

__all__ = [
    "KEY_PREFIX",
    "KeyCache",
    "Principal",
    "create_key",
    "find_key",
    "hash_key",
    "list_keys",
    "revoke_key",
]

KEY_PREFIX = "ak_"  # makes a leaked key easy to spot in logs and scanners


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, its role and, for a distributor, the one id it may see."""

    key_id: int
    role: Role
    distributor_id: str | None

    def may_see_distributor(self, distributor_id: str) -> bool:
        return self.role is not Role.distributor or self.distributor_id == distributor_id


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


MAX_KEY_NAME = 200  # characters of a key's name (`ApiKey.name`)


def create_key(
    session: Session, role: Role, distributor_id: str | None = None, name: str | None = None
) -> tuple[str, ApiKey]:
    """Store a new key for `role` and return (the key in clear, its row); the clear key is not kept.

    A distributor key needs `distributor_id`; other roles must not have one.
    """
    if role is Role.distributor and not distributor_id:
        raise ValueError("a distributor key needs --distributor <distributor id>")
    if role is not Role.distributor and distributor_id:
        raise ValueError(f"--distributor applies only to distributor keys, not to {role.value}")
    if distributor_id:
        try:  # no path could name another: the key would read nothing
            check_id(distributor_id)
        except ValueError as error:
            raise ValueError(f"--distributor {distributor_id!r}: {error}") from None
    if name is not None and len(name) > MAX_KEY_NAME:
        # PostgreSQL refused the row with a traceback (SQLite stores any length)
        raise ValueError(f"--name is {len(name)} characters long; at most {MAX_KEY_NAME}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        key_hash=hash_key(key),
        prefix=key[:10],
        role=role.value,
        distributor_id=distributor_id,
        name=name,
    )
    session.add(row)
    session.flush()
    return key, row


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, revoked ones too, oldest first (rows hold the hash and prefix, never the key)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(
    session: Session, *, key_id: int | None = None, prefix: str | None = None
) -> tuple[ApiKey, bool]:
    """Revoke the key with `key_id` (or the one key whose prefix is `prefix`): (its row, whether
    this call revoked it; False when it was revoked before). LookupError when none matches, or
    when a prefix matches several."""
    rows = session.scalars(
        select(ApiKey).where(ApiKey.id == key_id if prefix is None else ApiKey.prefix == prefix)
    ).all()
    if not rows:
        raise LookupError(f"no key #{key_id}" if prefix is None else f"no key {prefix}...")
    if len(rows) > 1:
        raise LookupError(f"{len(rows)} keys start {prefix}...: give the --id of one")
    row = rows[0]
    if row.revoked_at is not None:
        return row, False
    row.revoked_at = utcnow()
    session.flush()
    return row, True


def find_key(session: Session, key: str) -> Principal | None:
    """The principal behind `key`, or None when it is unknown or revoked."""
    row = session.execute(
        select(ApiKey.id, ApiKey.role, ApiKey.distributor_id).where(
            ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    return Principal(key_id=row.id, role=Role(row.role), distributor_id=row.distributor_id)


class KeyCache:
    """Principals of keys found recently, trusted for `ttl` seconds, keyed by the key's hash.

    Only found keys are kept: an unknown or revoked key is asked of the database every time
    (nothing a stranger sends grows the cache), and a key revoked after it was found works for
    at most `ttl` more seconds. `ttl` 0 keeps nothing. Used from the event loop only.
    """

    def __init__(
        self, ttl: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock  # seconds, only ever compared with itself
        self._found: dict[str, tuple[Principal, float]] = {}

    def get(self, key_hash: str) -> Principal | None:
        entry = self._found.get(key_hash)
        if entry is None:
            return None
        principal, expires = entry
        if self.clock() >= expires:
            del self._found[key_hash]
            return None
        return principal

    def put(self, key_hash: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._found) >= self.max_entries:
            self._found.clear()  # many live keys at once: start over rather than track ages
        self._found[key_hash] = (principal, self.clock() + self.ttl)
