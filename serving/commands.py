"""The service's commands: `serve`, `worker`, `keys create|list|revoke`, `db upgrade`,
`demo-service`."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from serving.config import Settings

__all__ = ["register"]

keys_app = typer.Typer(
    help="API keys: create them (each is printed once), list and revoke them.",
    no_args_is_help=True,
)
db_app = typer.Typer(
    help="The service database (SQLite by default, PostgreSQL by URL).", no_args_is_help=True
)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def serve(
    host: Annotated[str | None, typer.Option(help="address to bind (ALLOCAST_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port to bind (ALLOCAST_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(help="uvicorn worker processes")] = None,
) -> None:
    """Start the API with uvicorn (settings from ALLOCAST_* variables). Exits 3, as uvicorn
    does with one process, when a worker fails to start (a database it cannot reach or
    migrate, say)."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    settings = Settings()
    config = uvicorn.Config(
        "serving.main:app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level="info",
    )
    if config.workers == 1:
        server = uvicorn.Server(config)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is a clean stop, as in uvicorn.run
            server.run()
        if not server.started:
            raise typer.Exit(code=STARTUP_FAILURE)
        return
    # uvicorn.run's own supervisor stops every worker when one fails to start, then returns as
    # after a clean stop: exit 0, and a process manager would not see the failure.
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        raise _fail("a worker process failed to start (its error is above)", STARTUP_FAILURE)


def worker(
    once: Annotated[bool, typer.Option(help="run the jobs queued now, then stop")] = False,
) -> None:
    """Run queued jobs (large allocations, retrains) until stopped with Ctrl-C or SIGTERM: the
    first lets the running job finish, a second stops it at once and puts it back in the queue."""
    from serving.db import connect, upgrade
    from serving.jobs import run_worker

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    database = connect(settings.database_url)
    if settings.migrate_on_startup:
        upgrade(database.engine)
    stop, handling = threading.Event(), threading.Event()

    def on_signal(*_: object) -> None:
        # The second stops a running job at once (run_next puts it back in the queue); while a
        # job is claimed or its result written, the worker finishes that, then stops.
        if stop.is_set() and handling.is_set():
            raise KeyboardInterrupt
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    if once:
        ran = run_worker(settings, database, stop=stop, once=True, handling=handling)
        typer.echo(f"ran {ran} job(s)")
        return
    typer.echo(f"worker polling {settings.database_url} every {settings.worker_poll_seconds} s")
    run_worker(settings, database, stop=stop, handling=handling)


def create_key_command(
    role: Annotated[str, typer.Option(help="planner, distributor or admin")],
    distributor: Annotated[
        str | None, typer.Option(help="the distributor id a distributor key may see")
    ] = None,
    name: Annotated[str | None, typer.Option(help="a note saying whose key it is")] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from serving.auth import create_key
    from serving.db import connect, upgrade
    from serving.models import Role

    try:
        role_value = Role(role)
    except ValueError:
        raise _fail(f"--role {role!r} is not one of planner, distributor, admin") from None
    settings = Settings()
    database = connect(settings.database_url)
    upgrade(database.engine)
    try:
        with database.session() as session:
            key, row = create_key(session, role_value, distributor, name)
            key_id = row.id
    except ValueError as error:
        raise _fail(str(error)) from None
    scope = f" for distributor {distributor}" if distributor else ""
    typer.echo(f"created {role_value.value} key #{key_id}{scope}; it is shown only once:", err=True)
    typer.echo(key)


def _utc(moment: dt.datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def list_keys_command() -> None:
    """List the keys, revoked ones too (never the keys themselves: only their hashes are kept)."""
    from serving.auth import list_keys
    from serving.db import connect, upgrade

    database = connect(Settings().database_url)
    upgrade(database.engine)
    with database.session() as session:
        rows = [
            [
                str(key.id),
                key.prefix,
                key.role,
                key.distributor_id or "-",
                _utc(key.created_at),
                _utc(key.revoked_at),
                key.name or "",
            ]
            for key in list_keys(session)
        ]
    header = ["id", "prefix", "role", "distributor", "created", "revoked", "name"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        typer.echo("  ".join(cells).rstrip())


def revoke_key_command(
    key_id: Annotated[int | None, typer.Option("--id", help="the key's id (keys list)")] = None,
    prefix: Annotated[str | None, typer.Option(help="the key's prefix (keys list)")] = None,
) -> None:
    """Revoke a key: the service refuses it within ALLOCAST_KEY_CACHE_SECONDS (5 s)."""
    from serving import audit
    from serving.auth import revoke_key
    from serving.db import connect, upgrade

    if (key_id is None) == (prefix is None):
        raise _fail("give the key's --id or its --prefix (one of them)")
    database = connect(Settings().database_url)
    upgrade(database.engine)
    try:
        with database.session(write=True) as session:
            row, revoked = revoke_key(session, key_id=key_id, prefix=prefix)
            if revoked:
                audit.record(session, None, "key.revoked", "api_key", row.id)
            key, at = f"key #{row.id} ({row.prefix}..., {row.role})", _utc(row.revoked_at)
    except LookupError as error:
        raise _fail(str(error), code=1) from None
    typer.echo(f"revoked {key}" if revoked else f"{key} was already revoked at {at}")


def db_upgrade(
    revision: Annotated[str, typer.Argument(help="migration to go to")] = "head",
) -> None:
    """Apply the database migrations (the app also does this when it starts)."""
    from serving.db import connect, upgrade

    settings = Settings()
    database = connect(settings.database_url)
    upgrade(database.engine, revision)
    typer.echo(f"database {database.engine.url.render_as_string(hide_password=True)} at {revision}")


DEMO_DISTRIBUTOR = "D-N1"


def demo_service(
    network: Annotated[Path, typer.Option(help="network YAML/JSON")] = Path(
        "data/samples/network.yaml"
    ),
    stock: Annotated[Path, typer.Option(help="stock positions CSV/Parquet")] = Path(
        "data/samples/stock.csv"
    ),
    sales: Annotated[Path, typer.Option(help="sales history CSV/Parquet")] = Path(
        "data/samples/sales.parquet"
    ),
    policy: Annotated[Path | None, typer.Option(help="policy overrides YAML/JSON")] = Path(
        "data/samples/policy.yaml"
    ),
    horizon: Annotated[int, typer.Option(min=1, max=366, help="days of demand to plan for")] = 28,
    out: Annotated[Path, typer.Option(help="where keys.env is written")] = Path(".allocast/demo"),
) -> None:
    """Load the samples into the service database, plan with the champion, approve, make keys.

    Prints how to start the service and the curl commands that show a forecast, the plan and a
    distributor's suggestions.
    """
    from allocation.errors import AllocationError
    from forecasting.errors import ForecastingError

    settings = Settings()
    try:
        plan_id, version, keys = _load_demo(settings, network, stock, sales, policy, horizon)
    except (AllocationError, ForecastingError) as error:
        raise _fail(str(error)) from None
    out.mkdir(parents=True, exist_ok=True)
    env_file = out / "keys.env"
    env_file.write_text("".join(f"export {name}={value}\n" for name, value in keys.items()))
    env_file.chmod(0o600)
    base = f"http://{settings.host}:{settings.port}"
    typer.echo(
        f"""
stored in {settings.database_url}: network, stock, sales, and plan {plan_id} (approved),
planned on the forecast of model {settings.model_name!r} version {version}.
API keys for a planner, an admin and distributor {DEMO_DISTRIBUTOR} are in {env_file}.

Start the service in another terminal:   make serve      (API docs: {base}/docs)
Then paste:

  source {env_file}
  curl -s -H "X-API-Key: $ALLOCAST_PLANNER_KEY" \\
    "{base}/v1/forecasts?sku=SKU-001&location=FW-N1&horizon=7&quantile=0.9"
  curl -s -H "X-API-Key: $ALLOCAST_PLANNER_KEY" {base}/v1/plans/{plan_id}
  curl -s -H "X-API-Key: $ALLOCAST_PLANNER_KEY" \\
    "{base}/v1/plans/{plan_id}/lines?kind=replenishment&limit=5"
  curl -s -H "X-API-Key: $ALLOCAST_DISTRIBUTOR_KEY" \\
    {base}/v1/distributors/{DEMO_DISTRIBUTOR}/suggestions
  curl -s -H "X-API-Key: $ALLOCAST_DISTRIBUTOR_KEY" \\
    {base}/v1/distributors/D-E1/suggestions      # another distributor's: 403
"""
    )


def _load_demo(
    settings: Settings,
    network_path: Path,
    stock_path: Path,
    sales_path: Path,
    policy_path: Path | None,
    horizon: int,
) -> tuple[int, str | None, dict[str, str]]:
    from allocation.inputs import load_stock
    from allocation.network import load_document, load_network
    from forecasting.data import load_sales
    from serving import audit
    from serving.auth import create_key
    from serving.crud import replace_stock, store_network, store_sales
    from serving.db import connect, upgrade
    from serving.forecast_service import ForecastCache
    from serving.model_store import ModelStore
    from serving.models import PlanStatus, Role, utcnow
    from serving.planning import make_plan, planned_days, store_plan
    from serving.schemas import AllocationCreate

    store = ModelStore(settings.tracking_uri, settings.model_name)
    status = store.refresh()
    if not status.loaded:
        raise _fail(f"no champion model to forecast with: {status.error} (run `make demo`)")
    network = load_network(network_path)
    stock = load_stock(stock_path, network)
    sales = load_sales(sales_path)
    policy = load_document(policy_path, "policy") if policy_path else None
    database = connect(settings.database_url)
    upgrade(database.engine)
    with database.session(write=True) as session:
        store_network(session, network.model_dump(mode="json"), None)
        replace_stock(session, stock)
        store_sales(session, sales, None)
        audit.record(session, None, "demo.load", "demo", None, sales=str(sales_path))
    request = AllocationCreate(horizon=horizon, policy=policy)
    with database.session() as session:
        outcome = make_plan(session, store, ForecastCache(), request)
    with database.session(write=True) as session:
        plan = store_plan(session, outcome, horizon=planned_days(request), created_by=None).row
        plan.status = PlanStatus.approved.value
        plan.decided_at = utcnow()
        plan.decision_note = "approved by `allocast demo-service`"
        audit.record(session, None, "plan.approved", "plan", plan.id, note=plan.decision_note)
        keys = {
            "ALLOCAST_PLANNER_KEY": create_key(session, Role.planner, name="demo planner")[0],
            "ALLOCAST_ADMIN_KEY": create_key(session, Role.admin, name="demo admin")[0],
            "ALLOCAST_DISTRIBUTOR_KEY": create_key(
                session, Role.distributor, DEMO_DISTRIBUTOR, name="demo distributor"
            )[0],
        }
        plan_id = plan.id
    database.dispose()
    return plan_id, outcome.model_version, keys


def register(app: typer.Typer) -> None:
    """Add the service's commands to the `allocast` app."""
    app.command("serve")(serve)
    app.command("worker")(worker)
    keys_app.command("create")(create_key_command)
    keys_app.command("list")(list_keys_command)
    keys_app.command("revoke")(revoke_key_command)
    app.add_typer(keys_app, name="keys")
    db_app.command("upgrade")(db_upgrade)
    app.add_typer(db_app, name="db")
    app.command("demo-service")(demo_service)
