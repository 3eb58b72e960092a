"""Idempotency-Key for POST /v1/allocations: a repeat of a request gets the first answer again.

The record of (api key, Idempotency-Key) is inserted in the same transaction as the plan (or
job) it answers for, under a unique constraint: of two concurrent requests with one key only
one commits; the other rolls its work back and replays the committed answer. A key reused with
a different body is refused (422), so a client bug never silently returns the wrong plan.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.models import IdempotencyRecord

__all__ = ["HEADER", "Replay", "find", "remember", "request_hash"]

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: dict[str, Any]


def request_hash(body: dict[str, Any]) -> str:
    """SHA-256 of the body in canonical JSON (key order does not matter)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find(session: Session, api_key_id: int, key: str, digest: str) -> Replay | None:
    """The stored answer for this key, None when the key is new; 422 when the body differs."""
    record = session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key
        )
    ).first()
    if record is None:
        return None
    if record.request_hash != digest:
        # A 422 in FastAPI's validation shape, as the route documents its 422s.
        raise RequestValidationError(
            [
                {
                    "loc": ("header", HEADER),
                    "msg": f"{HEADER} {key!r} was used for a different request body; use a new "
                    "key for a new request",
                    "type": "idempotency_key_reused",
                    "input": key,
                }
            ]
        )
    assert record.status_code is not None and record.response is not None
    return Replay(record.status_code, record.response)


def remember(
    session: Session, api_key_id: int, key: str, digest: str, status_code: int, body: dict[str, Any]
) -> None:
    """Add the answer to the session's transaction (the commit fails if another got there first)."""
    session.add(
        IdempotencyRecord(
            api_key_id=api_key_id,
            key=key,
            request_hash=digest,
            status_code=status_code,
            response=body,
            completed=True,
        )
    )
