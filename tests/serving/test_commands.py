"""`allocast keys create` and `allocast db upgrade`: a key printed once, stored hashed, usable."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from serving.auth import find_key, hash_key
from serving.cli import app as cli
from serving.config import Settings
from serving.db import connect
from serving.models import ApiKey, Role

runner = CliRunner()


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ALLOCAST_DATABASE_URL", settings.database_url)
    return settings


def test_db_upgrade_creates_the_tables(env: Settings) -> None:
    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    database = connect(env.database_url)
    with database.session() as session:
        assert session.scalars(select(ApiKey)).all() == []
    database.dispose()


def test_keys_create_prints_a_key_once_and_stores_its_hash(env: Settings) -> None:
    result = runner.invoke(
        cli, ["keys", "create", "--role", "distributor", "--distributor", "D-N1"]
    )
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("ak_") and len(key) > 40
    database = connect(env.database_url)
    with database.session() as session:
        rows = session.scalars(select(ApiKey)).all()
        assert [(r.role, r.distributor_id, r.key_hash) for r in rows] == [
            ("distributor", "D-N1", hash_key(key))
        ]
        assert all(key not in str(value) for value in vars(rows[0]).values())
        principal = find_key(session, key)
    database.dispose()
    assert principal is not None and principal.role is Role.distributor


def test_key_from_the_command_works_against_the_api(env: Settings, client: TestClient) -> None:
    key = (
        runner.invoke(cli, ["keys", "create", "--role", "planner"]).stdout.strip().splitlines()[-1]
    )
    assert client.get("/v1/plans", headers={"X-API-Key": key}).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "boss"], "not one of planner, distributor, admin"),
        (["--role", "distributor"], "needs --distributor"),
        (["--role", "planner", "--distributor", "D-N1"], "only to distributor keys"),
    ],
)
def test_bad_key_requests_are_one_line_errors(env: Settings, args: list[str], message: str) -> None:
    result = runner.invoke(cli, ["keys", "create", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
