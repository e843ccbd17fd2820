"""SQL databases as the services use them: SQLite (WAL) on one machine, PostgreSQL beyond.

`database_url` normalises what a user may write (`postgresql://...`) to the driver the
services use (psycopg); `sqlite_engine` opens a SQLite file in WAL mode whose transactions
start with the statement given (`BEGIN IMMEDIATE` for writers: they take the write lock up
front instead of spinning in SQLite's busy handler).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event


def database_url(url: str, setting: str) -> str:
    """`url` with the psycopg driver for PostgreSQL; ValueError naming `setting` for any
    other database than SQLite or PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not url.startswith(("sqlite://", "postgresql+psycopg://")):
        raise ValueError(
            f"{setting} must be sqlite:///PATH or postgresql://..., not {url.split(':')[0]}"
        )
    return url


def sqlite_engine(
    url: str,
    begin: str,
    busy_timeout_ms: int,
    *,
    pool_size: int = 5,
    foreign_keys: bool = False,
) -> sa.Engine:
    """A SQLite engine (the file's folder created) in WAL mode, transactions started by
    `begin`."""
    database = sa.make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False},
        pool_size=pool_size,
        max_overflow=pool_size,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy's `begin` event, not the driver, start transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if foreign_keys:
            cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        connection.exec_driver_sql(begin)

    return engine
