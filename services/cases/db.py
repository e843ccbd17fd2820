"""The cases database: engines for SQLite (WAL) or PostgreSQL, sessions, and migrations.

SQLite has one writer at a time. Write transactions start with `BEGIN IMMEDIATE`, which
takes the write lock up front, and writers of this process queue on a lock of their own
instead of spinning in SQLite's busy handler. Readers run beside them (WAL). PostgreSQL
gets a connection pool as large as the DB worker pool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlmodel import Session

from services.mesh.sql import sqlite_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant: PostgreSQL replicas starting together migrate one at a time.
_MIGRATION_LOCK_KEY = 720_854_001


class Database:
    """Sessions for reading and for writing, on SQLite or PostgreSQL."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        busy_timeout_ms: int = 10_000,
        ping_after_idle_s: float = 30.0,
    ) -> None:
        self.url = url
        self.dialect = sa.make_url(url).get_backend_name()
        if self.dialect == "sqlite":
            self._writer = sqlite_engine(
                url, "BEGIN IMMEDIATE", busy_timeout_ms, pool_size=pool_size, foreign_keys=True
            )
            self._reader = sqlite_engine(
                url, "BEGIN", busy_timeout_ms, pool_size=pool_size, foreign_keys=True
            )
            self._write_lock: threading.Lock | None = threading.Lock()
        else:
            self._writer = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size)
            _ping_when_idle(self._writer, ping_after_idle_s)
            self._reader = self._writer
            self._write_lock = None

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL (row locks, SKIP LOCKED), False on SQLite."""
        return self.dialect == "postgresql"

    @property
    def engine(self) -> sa.Engine:
        """The engine that writes (migrations, tests)."""
        return self._writer

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits when the block ends without an exception."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                yield session
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def autocommit(self) -> Iterator[sa.Connection]:
        """A connection on which each statement is its own transaction (one round trip)."""
        with self._writer.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads only (rolled back at the end)."""
        with Session(self._reader, expire_on_commit=False) as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self._writer.dispose()
        if self._reader is not self._writer:
            self._reader.dispose()


def _ping_when_idle(engine: sa.Engine, idle_s: float) -> None:
    """Check a pooled connection at checkout only when it sat idle for `idle_s` or more: one
    that PostgreSQL (or the network) dropped meanwhile is replaced before use. SQLAlchemy's
    `pool_pre_ping` would check every checkout: a second round trip on every claim, which is
    most of a busy desk's latency tail."""

    @sa.event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_s:
            return
        try:
            dbapi_connection.execute("SELECT 1")
        except Exception as exc:
            # The pool discards this connection and checks out another (SQLAlchemy's
            # pessimistic disconnect handling).
            raise sa.exc.DisconnectionError(f"a pooled connection was dropped: {exc}") from exc


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration for the cases migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest migration."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def current_revision(database: Database) -> str | None:
    """The migration the database is at, or None before the first."""
    with database.engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def migrate(database: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the database to `revision`; returns the revisions before and after."""
    before = current_revision(database)
    config = alembic_config()
    with database.engine.begin() as connection:
        if database.is_postgres:
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return before, current_revision(database)
