"""A distributor's replenishment suggestions, read with one query and a cache.

An approved plan's lines never change (plans are never edited; a new approval makes a new latest
plan), so the suggestions of (approved plan, distributor) are serialized once and kept as JSON
bytes. Each read still asks the database which plan is the latest approved one and whether the
distributor acknowledged it (one query): both change, possibly in another service process, and a
cached answer would miss that.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from serving.crud import newest_network_row
from serving.errors import NotFoundError
from serving.models import Acknowledgement, LineKind, NetworkVersion, Plan, PlanLine, PlanStatus
from serving.schemas import SuggestionPublic, SuggestionsPublic

__all__ = [
    "SuggestionCache",
    "UnknownDistributorError",
    "check_known_distributor",
    "suggestions_json",
]


class UnknownDistributorError(NotFoundError):
    """The distributor is not in the plan's network (a mistyped id read as "no suggestions"):
    a 404, by `serving.errors`."""


_SUGGESTIONS = TypeAdapter(list[SuggestionPublic])


class SuggestionCache:
    """JSON of the suggestions per (approved plan id, distributor id), and their count.

    Bounded: when `max_entries` are held it starts over (entries are cheap to remake, and there
    are few approved plans times distributors in use at once). Used from worker threads.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[int, str], tuple[bytes, int]] = {}
        self._lock = threading.Lock()

    def get(self, plan_id: int, distributor_id: str) -> tuple[bytes, int] | None:
        return self._entries.get((plan_id, distributor_id))

    def put(self, plan_id: int, distributor_id: str, data: bytes, count: int) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[(plan_id, distributor_id)] = (data, count)


def _suggestions(session: Session, plan_id: int, distributor_id: str) -> list[SuggestionPublic]:
    lines = session.execute(
        select(
            PlanLine.sku,
            PlanLine.quantity,
            PlanLine.origin,
            PlanLine.arrives,
            PlanLine.reason,
            PlanLine.details,
        )
        .where(
            PlanLine.plan_id == plan_id,
            PlanLine.kind == LineKind.replenishment.value,
            PlanLine.destination == distributor_id,
        )
        .order_by(PlanLine.sku, PlanLine.id)
    ).all()
    return [
        SuggestionPublic(
            sku=line.sku,
            quantity=line.quantity,
            source=line.origin,
            arrives=line.arrives,
            reason=line.reason,
            details=line.details,
        )
        for line in lines
    ]


def check_known_distributor(session: Session, plan_id: int, distributor_id: str) -> None:
    """UnknownDistributorError unless the plan's network has the distributor."""
    document = session.scalar(
        select(NetworkVersion.document)
        .join(Plan, Plan.network_id == NetworkVersion.id)
        .where(Plan.id == plan_id)
    )
    if document is None:  # a plan stored without its network: nothing to check against
        return
    _require_distributor(document, distributor_id, f"the network of plan {plan_id}")


def _check_plan_or_stored_network(session: Session, plan_id: int, distributor_id: str) -> None:
    """UnknownDistributorError unless the plan's network or the stored one has the distributor:
    one added to the network since the plan was approved has no suggestions yet (an empty
    answer, as before any approval), where it read 404 until the next approval."""
    stored = newest_network_row(session)
    if stored is not None and distributor_id in _distributor_ids(stored.document):
        return
    check_known_distributor(session, plan_id, distributor_id)


def _distributor_ids(document: dict[str, Any]) -> set[str]:
    return {d["id"] for d in document.get("distributors", [])}


def _require_distributor(document: dict[str, Any], distributor_id: str, where: str) -> None:
    if distributor_id not in _distributor_ids(document):
        raise UnknownDistributorError(f"no distributor {distributor_id!r} in {where}")


def suggestions_json(session: Session, cache: SuggestionCache, distributor_id: str) -> bytes:
    """The `SuggestionsPublic` answer for the distributor, as JSON bytes."""
    acknowledged = (
        exists()
        .where(Acknowledgement.plan_id == Plan.id, Acknowledgement.distributor_id == distributor_id)
        .label("acknowledged")
    )
    plan = session.execute(
        select(Plan.id, Plan.model_version, Plan.decided_at, acknowledged)
        .where(Plan.status == PlanStatus.approved.value)
        .order_by(Plan.id.desc())  # the newest approved plan (approvals never go back)
        .limit(1)
    ).first()
    if plan is None:  # none approved yet: an id the stored network lacks is still a 404
        stored = newest_network_row(session)
        if stored is not None:
            _require_distributor(stored.document, distributor_id, "the stored network")
        data, count = b"[]", 0
    else:
        cached = cache.get(plan.id, distributor_id)
        if cached is None:
            items = _suggestions(session, plan.id, distributor_id)
            if not items:
                _check_plan_or_stored_network(session, plan.id, distributor_id)
            cached = _SUGGESTIONS.dump_json(items), len(items)
            cache.put(plan.id, distributor_id, *cached)
        data, count = cached
    head = SuggestionsPublic.model_construct(
        distributor=distributor_id,
        plan_id=None if plan is None else plan.id,
        model_version=None if plan is None else plan.model_version,
        approved_at=None if plan is None else plan.decided_at,
        acknowledged=plan is not None and bool(plan.acknowledged),
        data=[],
        count=count,
    ).model_dump_json(exclude={"data"})
    # `head` is a JSON object without `data`: put the cached array in before its closing brace.
    return head.encode()[:-1] + b',"data":' + data + b"}"
