"""`allocast keys create` and `allocast db upgrade`: a key printed once, stored hashed, usable;
the migrations make what the models declare."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from serving.auth import find_key, hash_key
from serving.cli import app as cli
from serving.config import Settings
from serving.db import alembic_config, connect, upgrade
from serving.main import create_app
from serving.models import ApiKey, Base, Role, SalesIngest, StockPosition
from tests.serving.registry import registry_copy

runner = CliRunner()


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ALLOCAST_DATABASE_URL", settings.database_url)
    # The test's own empty registry: never the working copy's .allocast/ store that `make demo`
    # fills (its champion would make "no champion yet" untestable after a demo).
    monkeypatch.setenv("ALLOCAST_TRACKING_URI", settings.tracking_uri)
    return settings


def test_db_upgrade_creates_the_tables(env: Settings) -> None:
    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    database = connect(env.database_url)
    with database.session() as session:
        assert session.scalars(select(ApiKey)).all() == []
    database.dispose()


def test_the_migrations_make_the_tables_the_models_declare(database_url: str) -> None:
    database = connect(database_url)
    upgrade(database.engine)
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []  # a model changed without its migration (or the other way)
    config = alembic_config(database.engine)
    with database.engine.begin() as connection:  # the newest migration goes back down
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert "ix_sales_date" not in {i["name"] for i in inspect(database.engine).get_indexes("sales")}
    database.dispose()


def test_migrations_up_and_down_keep_the_rows_that_refer_to_the_tables_they_change(
    database_url: str,
) -> None:
    # On SQLite a batch rebuild (DROP TABLE) of sales_ingests failed the sales rows' foreign
    # key, so a database holding sales could not upgrade past 0003 (and the service, migrating
    # on startup, did not start); down from 0005 it deleted every plan line (ON DELETE
    # CASCADE) without a word (helper-61).
    database = connect(database_url)
    upgrade(database.engine, "0003")
    inserts = (
        "INSERT INTO sales_ingests (created_at, rows, series, first_date, last_date) "
        "VALUES ('2026-01-01 00:00:00', 7, 1, '2026-01-01', '2026-01-07')",
        "INSERT INTO sales (ingest_id, sku, location, date, units) "
        "SELECT id, 'S', 'L', '2026-01-01', 3 FROM sales_ingests",
        "INSERT INTO plans (created_at, status, demand_source, kpis, solver) "
        "VALUES ('2026-01-01 00:00:00', 'draft', 'request', '{}', '{}')",
        "INSERT INTO plan_lines (plan_id, kind, sku, destination, quantity, details) "
        "SELECT id, 'transfer', 'S', 'X', 1, '{}' FROM plans",
    )
    with database.engine.begin() as connection:
        for insert in inserts:
            connection.execute(text(insert))
    counts = "SELECT (SELECT count(*) FROM sales), (SELECT count(*) FROM plan_lines)"
    upgrade(database.engine)
    with database.engine.connect() as connection:
        assert tuple(connection.execute(text(counts)).one()) == (1, 1)
    config = alembic_config(database.engine)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    with database.engine.connect() as connection:
        assert tuple(connection.execute(text(counts)).one()) == (1, 1)
    database.dispose()


def test_stored_positions_upgrade_to_one_row_per_shipment(database_url: str) -> None:
    database = connect(database_url)
    upgrade(database.engine, "0002")  # one position per SKU and node
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO stock_positions (sku, node, on_hand, in_transit, arrival_date, "
                "updated_at) VALUES ('S', 'CW', 4, 5, '2026-01-07', '2026-01-01 00:00:00')"
            )
        )
    upgrade(database.engine)
    with database.session() as session:
        later = StockPosition(
            sku="S", node="CW", on_hand=0.0, in_transit=3.0, arrival_date=dt.date(2026, 1, 9)
        )
        session.add(later)
        session.commit()
        rows = session.scalars(select(StockPosition).order_by(StockPosition.arrival_date)).all()
        assert [(r.on_hand, r.in_transit, r.arrival_date.day) for r in rows] == [
            (4.0, 5.0, 7),
            (0.0, 3.0, 9),
        ]
        session.add(StockPosition(**{**_fields(later), "in_transit": 1.0}))
        with pytest.raises(IntegrityError):  # the same SKU, node and arrival date twice
            session.commit()
        session.rollback()
        # Undated twice too (NULLs are distinct in a unique key: two PATCHes at once each added
        # one on PostgreSQL).
        session.add(StockPosition(sku="S", node="FW", on_hand=1.0, in_transit=0.0))
        session.flush()
        session.add(StockPosition(sku="S", node="FW", on_hand=2.0, in_transit=0.0))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
    database.dispose()


def test_ingests_stored_before_notes_were_kept_read_none(database_url: str) -> None:
    database = connect(database_url)
    upgrade(database.engine, "0003")
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sales_ingests (created_at, rows, series, first_date, last_date) "
                "VALUES ('2026-01-01 00:00:00', 7, 1, '2026-01-01', '2026-01-07')"
            )
        )
        # A sales row refers to the ingest: on SQLite a rebuild of sales_ingests (DROP TABLE)
        # broke its foreign key, and every database holding sales failed the upgrade.
        connection.execute(
            text(
                "INSERT INTO sales (ingest_id, sku, location, date, units) "
                "SELECT id, 'S', 'L', '2026-01-01', 3 FROM sales_ingests"
            )
        )
    upgrade(database.engine)
    with database.session() as session:
        assert [i.notes for i in session.scalars(select(SalesIngest))] == [[]]
    database.dispose()


def _fields(row: StockPosition) -> dict[str, object]:
    return {name: getattr(row, name) for name in ("sku", "node", "on_hand", "arrival_date")}


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


def test_keys_list_and_revoke_stop_a_key_without_showing_it(env: Settings) -> None:
    made = runner.invoke(cli, ["keys", "create", "--role", "distributor", "--distributor", "D-N1"])
    key = made.stdout.strip().splitlines()[-1]
    planner = runner.invoke(cli, ["keys", "create", "--role", "planner", "--name", "ops"])
    listed = runner.invoke(cli, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    header, north, ops = listed.stdout.splitlines()
    assert header.split() == ["id", "prefix", "role", "distributor", "created", "revoked", "name"]
    assert north.split()[:4] == ["1", key[:10], "distributor", "D-N1"] and north.split()[5] == "-"
    assert ops.split()[2:4] == ["planner", "-"] and ops.split()[-1] == "ops"
    assert key not in listed.output and planner.stdout.strip() not in listed.output

    app = create_app(env.model_copy(update={"key_cache_seconds": 0}))
    with TestClient(app) as client:
        suggestions = "/v1/distributors/D-N1/suggestions"
        assert client.get(suggestions, headers={"X-API-Key": key}).status_code == 200
        revoked = runner.invoke(cli, ["keys", "revoke", "--id", "1"])
        assert revoked.exit_code == 0, revoked.output
        assert revoked.stdout.startswith(f"revoked key #1 ({key[:10]}...")
        assert client.get(suggestions, headers={"X-API-Key": key}).status_code == 401

    again = runner.invoke(cli, ["keys", "revoke", "--prefix", key[:10]])
    assert again.exit_code == 0 and "key #1 " in again.stdout
    assert "was already revoked at" in again.stdout
    revoked_at = runner.invoke(cli, ["keys", "list"]).stdout.splitlines()[1].split()[5]
    assert dt.datetime.fromisoformat(revoked_at) <= dt.datetime.now(dt.UTC)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--id", "7"], 1, "error: no key #7\n"),
        (["--prefix", "ak_nothere"], 1, "error: no key ak_nothere...\n"),
        ([], 2, "error: give the key's --id or its --prefix (one of them)\n"),
        (["--id", "1", "--prefix", "ak_"], 2, "--id or its --prefix"),
    ],
)
def test_revoking_no_key_is_a_one_line_error(
    env: Settings, args: list[str], code: int, message: str
) -> None:
    result = runner.invoke(cli, ["keys", "revoke", *args])
    assert (result.exit_code, result.stderr.count("\n")) == (code, 1)
    assert message in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "boss"], "not one of planner, distributor, admin"),
        (["--role", "distributor"], "needs --distributor"),
        (["--role", "planner", "--distributor", "D-N1"], "only to distributor keys"),
        (["--role", "distributor", "--distributor", "D N1/é"], "without spaces"),
        (["--role", "planner", "--name", "n" * 201], "201 characters long; at most 200"),
    ],
)
def test_bad_key_requests_are_one_line_errors(env: Settings, args: list[str], message: str) -> None:
    result = runner.invoke(cli, ["keys", "create", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_demo_service_stores_an_approved_champion_plan_and_working_keys(
    env: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    repo_root: Path,
) -> None:
    registry = registry_copy(tmp_path_factory, Path(env.tracking_uri.removeprefix("sqlite:///")))
    monkeypatch.setenv("ALLOCAST_TRACKING_URI", registry.tracking_uri)
    sales = tmp_path / "sales.parquet"
    registry.sales.to_parquet(sales)  # the series the test models know
    samples = repo_root / "data" / "samples"
    result = runner.invoke(
        cli,
        [
            "demo-service",
            "--network", str(samples / "network.yaml"),
            "--stock", str(samples / "stock.csv"),
            "--sales", str(sales),
            "--policy", str(samples / "policy.yaml"),
            "--horizon", "14",
            "--out", str(tmp_path / "demo"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "make serve" in result.stdout and "/v1/distributors/D-N1/suggestions" in result.stdout
    keys = dict(
        line.removeprefix("export ").split("=", 1)
        for line in (tmp_path / "demo" / "keys.env").read_text().splitlines()
    )
    assert set(keys) == {"ALLOCAST_PLANNER_KEY", "ALLOCAST_ADMIN_KEY", "ALLOCAST_DISTRIBUTOR_KEY"}
    app = create_app(env.model_copy(update={"tracking_uri": registry.tracking_uri}))
    with TestClient(app) as client:
        body = client.get(
            "/v1/distributors/D-N1/suggestions",
            headers={"X-API-Key": keys["ALLOCAST_DISTRIBUTOR_KEY"]},
        ).json()
        assert body["plan_id"] is not None and body["model_version"] == "1"
        assert body["count"] > 0
        plan = client.get(
            f"/v1/plans/{body['plan_id']}", headers={"X-API-Key": keys["ALLOCAST_PLANNER_KEY"]}
        ).json()
        assert plan["status"] == "approved" and plan["demand_source"] == "champion"


@pytest.mark.slow
def test_demo_service_without_a_champion_says_to_train(env: Settings, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["demo-service", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 2
    assert "no champion model" in result.stderr and "make demo" in result.stderr
