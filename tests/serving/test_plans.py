"""Plans: paging, reading lines, approve / reject once, concurrent approvals over real TCP."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from serving.models import AuditEntry
from tests.serving.conftest import Keys, allocation_body, create_plan


def test_plans_are_listed_newest_first_with_paging(seeded: TestClient, keys: Keys) -> None:
    ids = [create_plan(seeded, keys)["id"] for _ in range(3)]
    planner = keys.headers("planner")
    page = seeded.get("/v1/plans", params={"limit": 2}, headers=planner).json()
    assert page["count"] == 3
    assert [p["id"] for p in page["data"]] == ids[::-1][:2]
    rest = seeded.get("/v1/plans", params={"offset": 2, "limit": 2}, headers=planner).json()
    assert [p["id"] for p in rest["data"]] == [ids[0]]
    assert seeded.get("/v1/plans", params={"limit": 0}, headers=planner).status_code == 422
    assert seeded.get("/v1/plans", params={"limit": 10_000}, headers=planner).status_code == 422


def test_openapi_publishes_the_bounds_of_ids_and_pages(app: FastAPI) -> None:
    # Published as "ge" / "le" (no JSON Schema keywords), clients and generators never saw them.
    paths = app.openapi()["paths"]
    limit = next(p for p in paths["/v1/plans"]["get"]["parameters"] if p["name"] == "limit")
    plan_id = paths["/v1/plans/{plan_id}"]["get"]["parameters"][0]
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 500)
    assert plan_id["schema"]["minimum"] == 1 and "ge" not in plan_id["schema"]


def test_approve_then_reject_is_a_conflict(seeded: TestClient, keys: Keys, app: FastAPI) -> None:
    plan_id = create_plan(seeded, keys)["id"]
    planner = keys.headers("planner")
    approved = seeded.post(
        f"/v1/plans/{plan_id}/approve", json={"note": "looks right"}, headers=planner
    )
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"
    assert approved.json()["decision_note"] == "looks right"
    again = seeded.post(f"/v1/plans/{plan_id}/reject", headers=planner)
    assert again.status_code == 409
    assert "already approved" in again.json()["detail"]
    listed = seeded.get("/v1/plans", params={"status": "approved"}, headers=planner).json()
    assert [p["id"] for p in listed["data"]] == [plan_id]
    with app.state.db.session() as session:
        decisions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.resource == "plan")
        ).all()
        assert decisions.count("plan.approved") == 1


def test_a_draft_planned_on_a_changed_network_cannot_be_approved(
    seeded: TestClient, keys: Keys, network_document: dict[str, Any]
) -> None:
    # A network change (here D-N1's credit turned red) after the draft: approving it told D-N1
    # to expect units it can no longer be sent.
    plan_id = create_plan(seeded, keys)["id"]
    planner = keys.headers("planner")
    changed = copy.deepcopy(network_document)
    changed["distributors"][0]["credit"] = "red"
    assert seeded.put("/v1/network", json=changed, headers=planner).status_code == 201
    stale = seeded.post(f"/v1/plans/{plan_id}/approve", headers=planner)
    assert stale.status_code == 409
    assert "network has changed since" in stale.json()["detail"]
    assert seeded.post(f"/v1/plans/{plan_id}/reject", headers=planner).status_code == 200
    fresh = create_plan(seeded, keys)["id"]
    assert seeded.post(f"/v1/plans/{fresh}/approve", headers=planner).status_code == 200


def test_a_draft_that_ships_more_than_the_stock_now_holds_cannot_be_approved(
    seeded: TestClient, keys: Keys
) -> None:
    plan_id = create_plan(seeded, keys)["id"]
    planner = keys.headers("planner")
    lines = seeded.get(
        f"/v1/plans/{plan_id}/lines", params={"kind": "transfer", "limit": 500}, headers=planner
    ).json()["data"]
    shipped = [line for line in lines if line["origin"] == "CW" and line["sku"] == "SKU-001"]
    assert shipped, lines
    sent = sum(line["quantity"] for line in shipped)
    # The central warehouse's stock of SKU-001 was shipped elsewhere after the plan was made.
    patch = {"positions": [{"sku": "SKU-001", "node": "CW", "on_hand": 1.0}]}
    assert seeded.patch("/v1/stock", json=patch, headers=planner).status_code == 200
    refused = seeded.post(f"/v1/plans/{plan_id}/approve", headers=planner)
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert f"{sent:g} of SKU-001 out of CW" in detail and "holds 1 on hand" in detail
    assert seeded.get(f"/v1/plans/{plan_id}", headers=planner).json()["status"] == "draft"
    # The units in transit again, but due a day after the lines leave (2026-01-01): a delayed
    # shipment counted in full, whatever its date, and the plan was approvable.
    leaves = {line["details"]["departs"][:10] for line in shipped}
    assert leaves == {"2026-01-01"}
    patch = {"positions": [{"sku": "SKU-001", "node": "CW", "on_hand": 1.0, "in_transit": sent,
                            "arrival_date": "2026-01-02"}]}  # fmt: skip
    assert seeded.patch("/v1/stock", json=patch, headers=planner).status_code == 200
    refused = seeded.post(f"/v1/plans/{plan_id}/approve", headers=planner)
    assert refused.status_code == 409, refused.text
    assert f"{sent:g} of SKU-001 out of CW by 2026-01-01" in refused.json()["detail"]
    assert "holds 1 on hand and 0 in transit arriving by then" in refused.json()["detail"]
    # Due by the day they leave, the units cover the plan again: approvable.
    patch["positions"][0]["arrival_date"] = "2026-01-01"
    assert seeded.patch("/v1/stock", json=patch, headers=planner).status_code == 200
    approved = seeded.post(f"/v1/plans/{plan_id}/approve", headers=planner)
    assert approved.status_code == 200, approved.text


def test_sending_the_same_network_again_stores_nothing_and_keeps_drafts_approvable(
    seeded: TestClient, keys: Keys, network_document: dict[str, Any]
) -> None:
    plan_id = create_plan(seeded, keys)["id"]
    planner = keys.headers("planner")
    current = seeded.get("/v1/network", headers=planner).json()
    # The same network with its defaults written out and its lists in the same order.
    again = seeded.put("/v1/network", json=current["document"], headers=planner)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == current["id"]
    resent = seeded.put("/v1/network", json=network_document, headers=planner)
    assert (resent.status_code, resent.json()["id"]) == (200, current["id"])
    approved = seeded.post(f"/v1/plans/{plan_id}/approve", headers=planner)
    assert approved.status_code == 200, approved.text


def test_reject_a_draft(seeded: TestClient, keys: Keys) -> None:
    plan_id = create_plan(seeded, keys)["id"]
    response = seeded.post(f"/v1/plans/{plan_id}/reject", headers=keys.headers("admin"))
    assert response.status_code == 200 and response.json()["status"] == "rejected"


def test_unknown_plan_is_404(seeded: TestClient, keys: Keys) -> None:
    planner = keys.headers("planner")
    assert seeded.get("/v1/plans/999", headers=planner).status_code == 404
    assert seeded.get("/v1/plans/999/lines", headers=planner).status_code == 404
    assert seeded.post("/v1/plans/999/approve", headers=planner).status_code == 404
    assert seeded.get("/v1/plans/99999999999", headers=planner).status_code == 422


@pytest.mark.parametrize("written", ["1_0", "1.0", "+1", "%201"])
def test_an_id_or_count_not_written_in_digits_is_422(
    seeded: TestClient, keys: Keys, written: str
) -> None:
    planner = keys.headers("planner")
    plans = [create_plan(seeded, keys)["id"] for _ in range(2)]
    assert plans == [1, 2]
    # int() reads "1_0" as 10: /v1/plans/1_1/reject rejected plan 11
    assert seeded.post(f"/v1/plans/{written}/reject", headers=planner).status_code == 422
    assert seeded.get(f"/v1/alerts?plan_id={written}", headers=planner).status_code == 422
    assert seeded.get(f"/v1/plans?limit={written}", headers=planner).status_code == 422
    horizon = seeded.get(f"/v1/forecasts?horizon={written}", headers=planner)
    assert horizon.status_code == 422 and "digits" in horizon.text
    limit = seeded.get(f"/v1/forecasts?limit={written}", headers=planner)
    assert limit.status_code == 422 and "digits" in limit.text
    assert seeded.get("/v1/plans/01", headers=planner).status_code == 200  # digits all the same


def test_concurrent_approvals_cannot_both_apply(
    seeded: TestClient, keys: Keys, live_url: str, app: FastAPI
) -> None:
    plan_ids = [create_plan(seeded, keys)["id"] for _ in range(2)]
    headers = keys.headers("planner")

    def decide(args: tuple[int, str]) -> int:
        plan_id, verb = args
        with httpx.Client(base_url=live_url, timeout=60) as http:
            return http.post(f"/v1/plans/{plan_id}/{verb}", headers=headers).status_code

    for plan_id in plan_ids:
        attempts = [(plan_id, "approve")] * 6 + [(plan_id, "reject")] * 6
        with ThreadPoolExecutor(max_workers=12) as pool:
            codes = list(pool.map(decide, attempts))
        assert sorted(codes) == [200] + [409] * 11, codes
    with app.state.db.session() as session:
        decided = session.scalars(
            select(AuditEntry.resource_id).where(
                AuditEntry.action.in_(["plan.approved", "plan.rejected"])
            )
        ).all()
        assert sorted(decided) == sorted(str(p) for p in plan_ids)


def test_alerts_of_the_newest_or_a_named_plan_filtered_by_kind(
    seeded: TestClient, keys: Keys
) -> None:
    planner = keys.headers("planner")
    plan = create_plan(seeded, keys)
    newest = seeded.get("/v1/alerts", headers=planner).json()
    assert newest["plan_id"] == plan["id"] and newest["count"] == len(newest["data"]) > 0
    kind = newest["data"][0]["kind"]
    only = seeded.get("/v1/alerts", params={"kind": kind}, headers=planner).json()
    assert only["count"] > 0 and {a["kind"] for a in only["data"]} == {kind}
    named = seeded.get("/v1/alerts", params={"plan_id": plan["id"]}, headers=planner).json()
    assert named["count"] == newest["count"]
    # Every kind the planner writes can be asked for (early ones only come with the setting).
    early = seeded.get("/v1/alerts", params={"kind": "early_stockout_risk"}, headers=planner)
    assert early.status_code == 200
    # A plan that does not exist, a kind that does not exist: not an empty 200.
    assert seeded.get("/v1/alerts", params={"plan_id": 99999}, headers=planner).status_code == 404
    bogus = seeded.get("/v1/alerts", params={"kind": "bogus"}, headers=planner)
    assert bogus.status_code == 422 and bogus.json()["detail"][0]["loc"] == ["query", "kind"]


def test_a_plan_that_leaves_out_suggested_skus_or_locations_cannot_replace_the_approved_plan(
    seeded: TestClient, keys: Keys
) -> None:
    # Distributors read the newest approved plan alone: approving a plan of SKU-001, or of the
    # north's demand, withdrew the others' suggestions with no word (helper-56, helper-61).
    planner = keys.headers("planner")
    first = create_plan(seeded, keys)["id"]
    assert seeded.post(f"/v1/plans/{first}/approve", headers=planner).status_code == 200
    narrow = create_plan(seeded, keys, skus=["SKU-001"])["id"]
    refused = seeded.post(f"/v1/plans/{narrow}/approve", headers=planner)
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert detail.startswith(f"plan {narrow} does not plan SKU-002 for D-")
    assert f"which approved plan {first} suggests" in detail
    assert seeded.get(f"/v1/plans/{narrow}", headers=planner).json()["status"] == "draft"
    north = [row for row in allocation_body()["demand"] if row["location"].endswith("N1")]
    north_only = create_plan(seeded, keys, demand=north)["id"]
    refused = seeded.post(f"/v1/plans/{north_only}/approve", headers=planner)
    assert refused.status_code == 409 and " for D-E1" in refused.json()["detail"]
    # A plan of every SKU and location replaces it
    full = create_plan(seeded, keys)["id"]
    assert seeded.post(f"/v1/plans/{full}/approve", headers=planner).status_code == 200
    # Leaving out a SKU the approved plan suggests nothing of withdraws nothing
    quiet = [
        {**row, "forecast": 0.0, "quantiles": dict.fromkeys(row["quantiles"], 0.0)}
        if row["sku"] == "SKU-003"
        else row
        for row in allocation_body()["demand"]
    ]
    zero = create_plan(seeded, keys, demand=quiet)["id"]
    assert seeded.post(f"/v1/plans/{zero}/approve", headers=planner).status_code == 200
    lines = seeded.get(
        f"/v1/plans/{zero}/lines", params={"kind": "replenishment", "limit": 500}, headers=planner
    ).json()["data"]
    assert "SKU-003" not in {line["sku"] for line in lines}
    without = [row for row in allocation_body()["demand"] if row["sku"] != "SKU-003"]
    later = create_plan(seeded, keys, demand=without)["id"]
    assert seeded.post(f"/v1/plans/{later}/approve", headers=planner).status_code == 200


def test_a_plan_whose_distributor_stock_changed_cannot_be_approved(
    seeded: TestClient, keys: Keys
) -> None:
    # D-N1 reported 900 on hand after the plan counted none: the plan still told it to expect
    # more, its reason quoting "on hand 0.0" (helper-56).
    planner = keys.headers("planner")
    plan_id = create_plan(seeded, keys)["id"]
    lines = seeded.get(
        f"/v1/plans/{plan_id}/lines",
        params={"kind": "replenishment", "destination": "D-N1", "limit": 500},
        headers=planner,
    ).json()["data"]
    sku = lines[0]["sku"]
    assert lines[0]["details"]["on_hand"] == 0
    patch = {"positions": [{"sku": sku, "node": "D-N1", "on_hand": 900.0}]}
    assert seeded.patch("/v1/stock", json=patch, headers=planner).status_code == 200
    refused = seeded.post(f"/v1/plans/{plan_id}/approve", headers=planner)
    assert refused.status_code == 409, refused.text
    assert f"{sku} at D-N1: 0 on hand then, 900 now" in refused.json()["detail"]
    # Back as it was, the plan is approvable
    patch["positions"][0]["on_hand"] = 0.0
    assert seeded.patch("/v1/stock", json=patch, headers=planner).status_code == 200
    assert seeded.post(f"/v1/plans/{plan_id}/approve", headers=planner).status_code == 200
