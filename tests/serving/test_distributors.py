"""Distributors: their own latest approved suggestions with reasons, acknowledgement, scoping."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving.auth import create_key
from serving.models import Role
from serving.schemas import SuggestionsPublic
from tests.serving.conftest import Keys, create_plan, small_network


def test_no_approved_plan_means_no_suggestions(seeded: TestClient, keys: Keys) -> None:
    create_plan(seeded, keys)  # a draft is never shown to distributors
    body = seeded.get("/v1/distributors/D-N1/suggestions", headers=keys.headers("north")).json()
    assert body["plan_id"] is None and body["data"] == [] and body["count"] == 0
    # a mistyped id is not "no suggestions yet" either (it was a 200 until a plan was approved)
    typo = seeded.get("/v1/distributors/NOPE/suggestions", headers=keys.headers("planner"))
    assert typo.status_code == 404 and "no distributor 'NOPE' in the stored network" in typo.text


def test_distributor_reads_its_latest_approved_suggestions(seeded: TestClient, keys: Keys) -> None:
    planner = keys.headers("planner")
    older = create_plan(seeded, keys)["id"]
    newer = create_plan(seeded, keys)["id"]
    assert seeded.post(f"/v1/plans/{newer}/approve", headers=planner).status_code == 200
    # the older draft was planned on an older position: it cannot replace the newer plan
    stale = seeded.post(f"/v1/plans/{older}/approve", headers=planner)
    assert stale.status_code == 409
    assert f"plan {older} is older than plan {newer}, which is approved" in stale.json()["detail"]
    assert seeded.get(f"/v1/plans/{older}", headers=planner).json()["status"] == "draft"
    assert seeded.post(f"/v1/plans/{older}/reject", headers=planner).status_code == 200
    body = seeded.get("/v1/distributors/D-N1/suggestions", headers=keys.headers("north")).json()
    assert body["plan_id"] == newer
    assert body["distributor"] == "D-N1" and body["count"] == len(body["data"]) > 0
    for suggestion in body["data"]:
        assert suggestion["quantity"] > 0
        assert "forecast" in suggestion["reason"] and "need" in suggestion["reason"]
        assert suggestion["source"] in {"FW-N1", "RW-N"}  # its own territory only
        assert {"forecast", "safety_stock", "need"} <= set(suggestion["details"])
    # a planner may read what a distributor was sent
    as_planner = seeded.get("/v1/distributors/D-N1/suggestions", headers=planner).json()
    assert as_planner["data"] == body["data"]
    # a mistyped id is not "no suggestions"
    typo = seeded.get("/v1/distributors/D-n1/suggestions", headers=planner)
    assert typo.status_code == 404 and "no distributor 'D-n1'" in typo.json()["detail"]


def test_distributor_cannot_see_another_distributor(seeded: TestClient, keys: Keys) -> None:
    plan_id = create_plan(seeded, keys)["id"]
    seeded.post(f"/v1/plans/{plan_id}/approve", headers=keys.headers("planner"))
    response = seeded.get("/v1/distributors/D-E1/suggestions", headers=keys.headers("north"))
    assert response.status_code == 403
    assert "D-E1" not in response.text.replace("D-E1's", "")  # names nothing of theirs but the id
    ack = seeded.post(
        "/v1/distributors/D-E1/acknowledgements",
        json={"plan_id": plan_id},
        headers=keys.headers("north"),
    )
    assert ack.status_code == 403


def test_acknowledge_once(seeded: TestClient, keys: Keys) -> None:
    plan_id = create_plan(seeded, keys)["id"]
    north = keys.headers("north")
    draft = seeded.post(
        "/v1/distributors/D-N1/acknowledgements", json={"plan_id": plan_id}, headers=north
    )
    assert draft.status_code == 409
    seeded.post(f"/v1/plans/{plan_id}/approve", headers=keys.headers("planner"))
    first = seeded.post(
        "/v1/distributors/D-N1/acknowledgements",
        json={"plan_id": plan_id, "note": "ordered"},
        headers=north,
    )
    assert first.status_code == 201
    assert first.json()["distributor_id"] == "D-N1" and first.json()["note"] == "ordered"
    again = seeded.post(
        "/v1/distributors/D-N1/acknowledgements", json={"plan_id": plan_id}, headers=north
    )
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    body = seeded.get("/v1/distributors/D-N1/suggestions", headers=north).json()
    assert body["acknowledged"] is True
    missing = seeded.post(
        "/v1/distributors/D-N1/acknowledgements", json={"plan_id": 4242}, headers=north
    )
    assert missing.status_code == 404
    planner = seeded.post(
        "/v1/distributors/D-N1/acknowledgements",
        json={"plan_id": plan_id},
        headers=keys.headers("planner"),
    )
    assert planner.status_code == 403


def test_a_distributor_the_plan_lacks_neither_reads_nor_acknowledges_it(
    seeded: TestClient, keys: Keys, app: FastAPI
) -> None:
    plan_id = create_plan(seeded, keys)["id"]
    seeded.post(f"/v1/plans/{plan_id}/approve", headers=keys.headers("planner"))
    with app.state.db.session() as session:  # a key made for an id the network does not have
        stranger = {"X-API-Key": create_key(session, Role.distributor, "D-ZZ")[0]}
    url = "/v1/distributors/D-ZZ"
    assert seeded.get(f"{url}/suggestions", headers=stranger).status_code == 404
    ack = seeded.post(f"{url}/acknowledgements", json={"plan_id": plan_id}, headers=stranger)
    assert ack.status_code == 404 and f"network of plan {plan_id}" in ack.json()["detail"]


def test_suggestions_follow_acknowledgement_and_the_next_approval(
    seeded: TestClient, keys: Keys
) -> None:
    planner, north = keys.headers("planner"), keys.headers("north")
    first = create_plan(seeded, keys)["id"]
    seeded.post(f"/v1/plans/{first}/approve", headers=planner)
    url = "/v1/distributors/D-N1/suggestions"
    before = seeded.get(url, headers=north)
    assert before.headers["content-type"] == "application/json"
    read = SuggestionsPublic.model_validate_json(before.content)  # exactly the documented shape
    assert read.plan_id == first and read.acknowledged is False and read.count == len(read.data)
    lines = seeded.get(
        f"/v1/plans/{first}/lines",
        params={"kind": "replenishment", "destination": "D-N1", "limit": 500},
        headers=planner,
    ).json()["data"]
    assert [(s.sku, s.quantity, s.source) for s in read.data] == [
        (line["sku"], line["quantity"], line["origin"]) for line in lines
    ]
    ack = seeded.post(
        "/v1/distributors/D-N1/acknowledgements", json={"plan_id": first}, headers=north
    )
    assert ack.status_code == 201 and ack.json()["superseded_by"] is None
    after = seeded.get(url, headers=north).json()  # the same plan, now acknowledged
    assert after["acknowledged"] is True and after["data"] == before.json()["data"]
    second = create_plan(seeded, keys, today="2026-01-02")["id"]
    seeded.post(f"/v1/plans/{second}/approve", headers=planner)
    latest = seeded.get(url, headers=north).json()
    assert latest["plan_id"] == second and latest["acknowledged"] is False
    # The first plan's acknowledgement, read again, says which plan replaces it.
    again = seeded.post(
        "/v1/distributors/D-N1/acknowledgements", json={"plan_id": first}, headers=north
    )
    assert again.status_code == 200 and again.json()["superseded_by"] == second


def test_a_distributor_added_since_the_approved_plan_reads_no_suggestions_yet(
    seeded: TestClient, keys: Keys, app: FastAPI
) -> None:
    # D-NEW joined the network after plan 1 was approved: it read 404 "not in the network of
    # plan 1" until the next approval, where before any approval it read an empty list
    # (helper-56).
    planner = keys.headers("planner")
    plan_id = create_plan(seeded, keys)["id"]
    assert seeded.post(f"/v1/plans/{plan_id}/approve", headers=planner).status_code == 200
    network = small_network()
    joined = {**network["distributors"][0], "id": "D-NEW"}
    network["distributors"] = [*network["distributors"], joined]
    assert seeded.put("/v1/network", json=network, headers=planner).status_code == 201
    with app.state.db.session() as session:
        newcomer = {"X-API-Key": create_key(session, Role.distributor, "D-NEW")[0]}
    answer = seeded.get("/v1/distributors/D-NEW/suggestions", headers=newcomer)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["plan_id"], answer.json()["count"]) == (plan_id, 0)
