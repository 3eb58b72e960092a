"""The audit table: every write records who (key, role), what (action, resource, id) and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from serving.auth import Principal
from serving.models import AuditEntry

__all__ = ["record"]


def record(
    session: Session,
    principal: Principal | None,
    action: str,
    resource: str,
    resource_id: object = None,
    **detail: Any,
) -> None:
    """Add an audit entry to the session's transaction (it commits, or not, with the write).

    `principal` None means the system itself (a worker job, the CLI).
    """
    session.add(
        AuditEntry(
            api_key_id=principal.key_id if principal else None,
            role=principal.role.value if principal else "system",
            action=action,
            resource=resource,
            resource_id=None if resource_id is None else str(resource_id),
            detail=detail,
        )
    )
