"""The network planners plan over: upload a new version (validated), read the current one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Response, status

from allocation.errors import AllocationInputError
from allocation.inputs import validate_stock
from allocation.network import Network
from serving import audit
from serving.crud import newest_network_row, parse_stored_network, stock_frame, store_network
from serving.db import begin_write, lock_tables
from serving.deps import PlannerDep, SessionDep
from serving.errors import ErrorMessage
from serving.models import NetworkVersion
from serving.schemas import NetworkPublic

router = APIRouter(prefix="/v1/network", tags=["network"])

EXAMPLE = {
    "warehouses": [
        {"id": "CW", "kind": "central", "region": "north", "capacity": 100000},
        {"id": "FW-N1", "kind": "forward", "region": "north", "capacity": 5000},
    ],
    "lanes": [{"origin": "CW", "destination": "FW-N1", "cost_per_unit": 0.5, "lead_time_days": 2}],
    "distributors": [
        {"id": "D-N1", "region": "north", "tier": "strategic", "served_by": ["FW-N1"]}
    ],
    "skus": [{"id": "SKU-001", "unit_cost": 10.0}],
}


def _public(row: NetworkVersion, problem: str | None = None) -> NetworkPublic:
    # Counted on the stored document, which a version that fails a newer check still has.
    return NetworkPublic(
        id=row.id,
        created_at=row.created_at,
        warehouses=len(row.document.get("warehouses", [])),
        distributors=len(row.document.get("distributors", [])),
        skus=len(row.document.get("skus", [])),
        document=row.document,
        problem=problem,
    )


@router.put(
    "",
    response_model=NetworkPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": NetworkPublic, "description": "the current version already: nothing stored"},
        409: {"model": ErrorMessage},
    },
)
def upload_network(
    session: SessionDep,
    principal: PlannerDep,
    response: Response,
    document: dict[str, Any] = Body(
        ...,
        description="warehouses, lanes, laterals, distributors and skus (see allocation.network)",
        examples=[EXAMPLE],
    ),
) -> NetworkPublic:
    """Replace the current network with a new version (earlier versions stay for old plans).

    200 and nothing stored when the document is the current version's: drafts planned on it
    stay approvable. 409 when the stored stock names a SKU or node the new network lacks (every
    later plan would fail on it): replace the stock first (PUT /v1/stock), then the network.
    """
    begin_write(session)
    # one upload at a time, and none beside a stock write: the same network sent twice at
    # once stored two versions, and stock PATCHed beside it named a SKU it had dropped
    lock_tables(session, "networks", "stock_positions")
    row, created = store_network(session, document, principal.key_id)
    if not created:
        unchanged = _public(row)
        session.rollback()  # ends the write transaction: nothing to write
        response.status_code = status.HTTP_200_OK
        return unchanged
    network = Network.model_validate(row.document)
    stock = stock_frame(session)
    if len(stock):
        try:
            validate_stock(stock, network, source="stored stock")
        except AllocationInputError as error:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"the new network does not hold the stored stock ({error}): replace the stock "
                "first (PUT /v1/stock, without those positions), then the network",
            ) from error
    audit.record(
        session,
        principal,
        "network.upload",
        "network",
        row.id,
        warehouses=len(network.warehouses),
        distributors=len(network.distributors),
    )
    session.commit()
    return _public(row)


@router.get("", response_model=NetworkPublic, responses={404: {"model": ErrorMessage}})
def read_network(session: SessionDep, _principal: PlannerDep) -> NetworkPublic:
    """The current network, as stored.

    A version that fails a check added after it was stored is still read back, with `problem`
    saying why plans on it are refused, so that it can be corrected and PUT again.
    """
    row = newest_network_row(session)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no network yet: PUT /v1/network first")
    try:
        parse_stored_network(row)
    except AllocationInputError as error:
        return _public(row, problem=str(error))
    return _public(row)
