"""Engines and sessions: SQLite by default (WAL, foreign keys, busy timeout), PostgreSQL by URL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry


def make_engine(url: str, *, password: str | None = None, busy_timeout: float = 30) -> Engine:
    """An engine for `url` (with `password`, when the URL holds none); for a SQLite file,
    its folder is created first, and a write waits `busy_timeout` seconds for a lock."""
    parsed = make_url(url)
    if password and not parsed.password:
        parsed = parsed.set(password=password)
    if parsed.get_backend_name() != "sqlite":
        # A silent database must not hang a worker past Dramatiq's time limit.
        engine = create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            connect_args={"connect_timeout": 10},
        )
        _ping_fails_as_a_disconnect(engine)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": busy_timeout})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _ping_fails_as_a_disconnect(engine: Engine) -> None:
    """A pooled connection whose ping fails is replaced, whatever the failure: SQLAlchemy's
    psycopg ping restores autocommit in a `finally`, and when the socket died during its
    SELECT 1 that raises "can't change 'autocommit' now" (a ProgrammingError), which hid the
    disconnect, so a request during a database outage got a 500 instead of a 503."""
    dialect = engine.dialect
    ping = dialect.do_ping
    broken = dialect.loaded_dbapi.ProgrammingError

    def do_ping(dbapi_connection: Any) -> bool:
        try:
            return bool(ping(dbapi_connection))
        except broken:
            return False  # the pool reconnects (and a down server is an OperationalError)

    dialect.do_ping = do_ping  # type: ignore[method-assign]


def _sqlite_begin(connection: Connection) -> None:
    # We begin transactions ourselves (pysqlite's own handling breaks SAVEPOINT), and take
    # the write lock at once: a deferred reader that later writes can deadlock on upgrade.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    # WAL lets the workers read while the poller writes; the driver's timeout (SQLite's busy
    # timeout) waits out short locks.
    dbapi_connection.isolation_level = None  # no implicit BEGIN from the driver
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
