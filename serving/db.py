"""Database engine, sessions and migrations: embedded SQLite by default, PostgreSQL in production.

`connect(url)` builds the engine and session factory; `upgrade(engine)` applies the Alembic
migrations in serving/migrations (what `allocast db upgrade` and the app's startup run).

SQLite has one write lock per file. Writers of one process queue for it in process (a
`threading.Lock` per file, taken by `begin_write` and released when the transaction ends), so
they wait in order instead of polling SQLite's busy handler, and one that waits too long gets a
`DatabaseBusyError` (503 with Retry-After), never a 500. Other processes (`allocast worker`, a
second uvicorn worker) still meet at SQLite's own lock, within its busy timeout.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

__all__ = [
    "IN_LIST_MAX",
    "BusyError",
    "Database",
    "DatabaseBusyError",
    "begin_write",
    "connect",
    "lock_tables",
    "upgrade",
]

_UPGRADE_LOCK = threading.Lock()
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000  # writers wait this long for SQLite's single write lock
WRITER_WAIT_SECONDS = SQLITE_BUSY_TIMEOUT_MS / 1000  # ... and as long for the in-process queue
BUSY_RETRY_AFTER_SECONDS = 5  # what a writer that waited too long is told (Retry-After)
# Tables a write takes whole on PostgreSQL (`lock_tables`), always in this order.
LOCK_ORDER = ("networks", "stock_positions", "sales", "plans")
MIGRATION_LOCK_KEY = 0x616C6C6F63617374  # "allocast": PostgreSQL advisory lock of `upgrade`
# Values of one SQL IN list: PostgreSQL takes at most 65,535 parameters in a statement.
IN_LIST_MAX = 10_000


class BusyError(RuntimeError):
    """The service has no room for the request now (503 with Retry-After): try again later.

    retry_after: seconds the client is told to wait before it repeats the request.
    """

    def __init__(self, message: str, retry_after: int = BUSY_RETRY_AFTER_SECONDS) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DatabaseBusyError(BusyError):
    """The database's write lock was not free in time."""


@dataclass(frozen=True)
class Database:
    """An engine and the session factory bound to it."""

    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back when it raises.

        write: the block writes after reading (see `begin_write`).
        """
        with self.sessions() as session:
            if write:
                begin_write(session)
            try:
                yield session
            except BaseException:
                session.rollback()
                raise
            session.commit()

    def ping(self) -> None:
        """Raises when the database cannot be reached."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


_WRITE_INTENT: ContextVar[bool] = ContextVar("allocast_sqlite_write_intent", default=False)


def _use_wal(cursor: Any) -> None:
    """Put the SQLite file in WAL mode (kept in the file: set once). The switch needs the file
    to itself, and SQLite answers "database is locked" at once, without waiting out the busy
    timeout, while another process opens a new file too: two processes migrating a new file at
    once failed one of them. So it is retried until the busy timeout."""
    import sqlite3

    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own BEGIN cannot be IMMEDIATE).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while one writer writes; foreign keys are off by default in SQLite.
    _use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A writer takes SQLite's write lock up front (waiting up to the busy timeout): a deferred
    # transaction that read first could not upgrade once another writer committed in between
    # (SQLITE_BUSY_SNAPSHOT, which no timeout retries).
    connection.exec_driver_sql("BEGIN IMMEDIATE" if _WRITE_INTENT.get() else "BEGIN")


_WRITER_LOCKS: dict[str, threading.Lock] = {}  # SQLite file (real path) -> its writers' queue
_WRITER_LOCKS_GUARD = threading.Lock()
_HELD_WRITER_LOCK = "allocast_writer_lock"  # key in Session.info while the session holds it


def _writer_lock(session: Session) -> threading.Lock | None:
    """The in-process writers' lock of the SQLite file behind `session`; None on PostgreSQL."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return None
    name = bind.engine.url.database or ":memory:"
    # One lock per file, not per engine: two engines on one file (the CLI, tests) share it.
    path = name if name == ":memory:" else os.path.realpath(Path(name).expanduser())
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(path, threading.Lock())


def _release_writer_lock(session: Session) -> None:
    lock: threading.Lock | None = session.info.pop(_HELD_WRITER_LOCK, None)
    if lock is not None:
        lock.release()


@event.listens_for(Session, "after_transaction_end")
def _writer_done(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended (committed, rolled back or closed): the next writer goes.
    if transaction.parent is None:
        _release_writer_lock(session)


def begin_write(session: Session, wait: float | None = None) -> None:
    """Start the session's transaction as a writer; call before the request's first write.

    On SQLite it queues behind the process's other writers (at most `wait` seconds, default
    WRITER_WAIT_SECONDS, then `DatabaseBusyError`) and takes the write lock now (BEGIN
    IMMEDIATE), so a read-then-write sequence never fails half way under concurrent writers;
    both are held until the transaction ends, so do the slow work (solving, forecasting) before
    it.
    On PostgreSQL it only ends the read transaction: `lock_tables`, row locks and conditional
    updates do the rest.
    """
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("begin_write() must come before the first write of the transaction")
    if session.in_transaction():
        session.rollback()
    lock = _writer_lock(session)
    if lock is not None:
        wait = WRITER_WAIT_SECONDS if wait is None else wait
        if not lock.acquire(timeout=wait):
            raise DatabaseBusyError(
                f"the database is busy: another write held it for over {wait:g} s; "
                "repeat the request later"
            )
        session.info[_HELD_WRITER_LOCK] = lock
    token = _WRITE_INTENT.set(True)
    try:
        session.connection()
    except BaseException:
        session.rollback()
        _release_writer_lock(session)  # when no transaction began, no event released it
        raise
    finally:
        _WRITE_INTENT.reset(token)


def lock_tables(session: Session, *tables: str) -> None:
    """Take these tables for the write transaction `begin_write` began, before its first read
    of them. SQLite queues writers already; on PostgreSQL two writes read-then-wrote at once:
    two sales ingests of the same days both deleted nothing and one insert failed (500), or
    gave one location two regions; a network upload beside a stock PATCH let the stock name a
    SKU the network had dropped. SHARE ROW EXCLUSIVE lets one writer in at a time and readers
    on; the fixed order (LOCK_ORDER) keeps two writers from waiting on each other."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in sorted(tables, key=LOCK_ORDER.index):
        session.execute(text(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))


def connect(url: str) -> Database:
    """Engine + sessions for `url`; creates the directory of an SQLite file when it is missing."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        }
        kwargs["pool_size"] = 20
        kwargs["max_overflow"] = 80
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["pool_size"] = 10
        kwargs["max_overflow"] = 20
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.set_main_option(
            "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
        )
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision` on the database behind `engine`."""
    config = alembic_config(engine)
    # On SQLite the write lock first (BEGIN IMMEDIATE, `_sqlite_begin`): two processes that
    # both read first deadlocked, and one failed at once with "database is locked".
    token = _WRITE_INTENT.set(True)
    try:
        _upgrade(engine, config, revision)
    finally:
        _WRITE_INTENT.reset(token)


def _upgrade(engine: Engine, config: Config, revision: str) -> None:
    # Alembic keeps the running migration in module globals (`alembic.context`): two upgrades at
    # once in one process (apps starting in threads) would trample each other.
    with _UPGRADE_LOCK, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # and across processes: two service processes starting on an empty database both
            # created the tables, and the second failed ("pg_type_typname_nsp_index")
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
