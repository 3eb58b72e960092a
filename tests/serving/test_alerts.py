"""GET /v1/alerts: the alerts of the newest plan not rejected, or of the plan named."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.serving.conftest import Keys, create_plan


def test_alerts_default_to_the_newest_plan_not_rejected(seeded: TestClient, keys: Keys) -> None:
    planner = keys.headers("planner")
    kept = create_plan(seeded, keys)
    what_if = create_plan(seeded, keys)
    rejected = seeded.post(f"/v1/plans/{what_if['id']}/reject", headers=planner)
    assert rejected.status_code == 200, rejected.text
    default = seeded.get("/v1/alerts", headers=planner).json()
    assert default["plan_id"] == kept["id"] and default["count"] > 0
    # the rejected plan's alerts are still there for whoever names it
    named = seeded.get("/v1/alerts", params={"plan_id": what_if["id"]}, headers=planner).json()
    assert named["plan_id"] == what_if["id"] and named["count"] > 0

    assert seeded.post(f"/v1/plans/{kept['id']}/reject", headers=planner).status_code == 200
    none_left = seeded.get("/v1/alerts", headers=planner).json()
    assert none_left == {"data": [], "count": 0, "plan_id": None}
