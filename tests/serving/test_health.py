"""/health, /ready and /metrics over real HTTP (TestClient) on a fresh database."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_health_answers_without_a_key(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_is_503_without_a_champion_and_says_why(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["database"] == "ok"
    assert body["model"]["loaded"] is False


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    client.get("/health")
    client.get("/v1/plans/12345")  # unknown route or unauthorised: still counted, bounded label
    text = client.get("/metrics").text
    assert 'allocast_http_requests_total{method="GET",route="/health",status="200"} 1.0' in text
    assert "allocast_model_loaded 0.0" in text
