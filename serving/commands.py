"""The service's commands: `serve`, `worker`, `keys create`, `db upgrade`, `demo-service`."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from serving.config import Settings

__all__ = ["register"]

keys_app = typer.Typer(help="API keys: create them (each is printed once).", no_args_is_help=True)
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
    """Start the API with uvicorn (settings from ALLOCAST_* variables)."""
    import uvicorn

    settings = Settings()
    uvicorn.run(
        "serving.main:app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level="info",
    )


def worker(
    once: Annotated[bool, typer.Option(help="run the jobs queued now, then stop")] = False,
) -> None:
    """Run queued jobs (large allocations, retrains) until stopped with Ctrl-C or SIGTERM."""
    from serving.db import connect, upgrade
    from serving.jobs import run_next, run_worker, worker_name

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    database = connect(settings.database_url)
    if settings.migrate_on_startup:
        upgrade(database.engine)
    if once:
        import serving.api  # noqa: F401  (registers the job handlers)

        name = worker_name()
        count = 0
        while run_next(settings, database, name):
            count += 1
        typer.echo(f"ran {count} job(s)")
        return
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    typer.echo(f"worker polling {settings.database_url} every {settings.worker_poll_seconds} s")
    run_worker(settings, database, stop=stop)


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


def db_upgrade(
    revision: Annotated[str, typer.Argument(help="migration to go to")] = "head",
) -> None:
    """Apply the database migrations (the app also does this when it starts)."""
    from serving.db import connect, upgrade

    settings = Settings()
    database = connect(settings.database_url)
    upgrade(database.engine, revision)
    typer.echo(f"database {database.engine.url.render_as_string(hide_password=True)} at {revision}")


def register(app: typer.Typer) -> None:
    """Add the service's commands to the `allocast` app."""
    app.command("serve")(serve)
    app.command("worker")(worker)
    keys_app.command("create")(create_key_command)
    app.add_typer(keys_app, name="keys")
    db_app.command("upgrade")(db_upgrade)
    app.add_typer(db_app, name="db")
