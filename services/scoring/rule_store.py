"""The versioned rule store: the current rules and an append-only history of every change.

Two tables, on SQLite (the default, a file) or PostgreSQL:

- `scoring_rules`: the current rules, one row each, with an etag for optimistic concurrency
  and the rule-set version their last change made;
- `scoring_rule_revisions`: one row per change (CREATED, UPDATED, DELETED), numbered 1, 2,
  3... The number of the latest revision is the rule-set version: "v<N>", "v0" while empty.
  The row holds the rule as it is after the change (for DELETED: as it was when deleted),
  when, and who made it.

Every write is one transaction that takes the store's write lock first (an advisory
transaction lock on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so writers are serialised, the
revision numbers have no gaps and no duplicates (the revision number is also the primary
key), and etag checks cannot race. Reads of the rule set see one snapshot (REPEATABLE READ
on PostgreSQL, a WAL read transaction on SQLite).

The tables are created when the store opens (`create_all`). Alembic migrations will come
with the first change of this schema.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog

from services.mesh.errors import (
    Aborted,
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from services.mesh.sql import sqlite_engine
from services.scoring.rules import (
    CompiledRule,
    RuleAction,
    RuleSet,
    RuleSpec,
    compile_rule,
)

log = structlog.get_logger("ecap.scoring.rules")

UPDATABLE_FIELDS = ("display_name", "description", "expression", "action", "reason_code", "enabled")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
SEED_ACTOR = "system:seed"
# Any constant: the advisory lock that serialises the writers of every process.
_WRITE_LOCK_KEY = 720_854_007


class ChangeKind:
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


@dataclass(frozen=True, kw_only=True)
class StoredRule(RuleSpec):
    """A rule as stored: its spec plus etag, the version its last change made, and times."""

    etag: str
    rules_version: str
    create_time: datetime
    update_time: datetime

    @property
    def spec(self) -> RuleSpec:
        """The rule without its storage fields."""
        return RuleSpec(**{f.name: getattr(self, f.name) for f in fields(RuleSpec)})


@dataclass(frozen=True)
class RuleRevision:
    """One change in the history: revision N made rule-set version "v<N>"."""

    revision: int
    rule_id: str
    change: str  # CREATED, UPDATED or DELETED
    rule: dict[str, Any]
    change_time: datetime
    actor: str

    @property
    def version(self) -> str:
        return version_name(self.revision)


class UtcDateTime(sa.TypeDecorator):
    """Aware UTC datetimes in Python; naive UTC on SQLite, timestamptz on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()
rules_table = sa.Table(
    "scoring_rules",
    metadata,
    sa.Column("rule_id", sa.String(63), primary_key=True),
    sa.Column("display_name", sa.String(128), nullable=False),
    sa.Column("description", sa.String(1024), nullable=False),
    sa.Column("expression", sa.Text, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("reason_code", sa.String(64), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("etag", sa.String(64), nullable=False),
    sa.Column("rules_version", sa.String(32), nullable=False),
    sa.Column("create_time", UtcDateTime, nullable=False),
    sa.Column("update_time", UtcDateTime, nullable=False),
)
revisions_table = sa.Table(
    "scoring_rule_revisions",
    metadata,
    # Assigned as max + 1 under the write lock; the key refuses a duplicate regardless.
    sa.Column("revision", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("rule_id", sa.String(63), nullable=False, index=True),
    sa.Column("change", sa.String(16), nullable=False),
    sa.Column("rule", sa.JSON, nullable=False),
    sa.Column("change_time", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
)


def version_name(revision: int) -> str:
    """The rule-set version made by `revision` ("v0": no revision yet)."""
    return f"v{revision}"


def etag_of(rule_id: str, revision: int) -> str:
    """The etag of a rule whose last change was `revision`: opaque, new on every change."""
    return hashlib.sha256(f"{rule_id}@{revision}".encode()).hexdigest()[:16]


class RuleStore:
    """The rules and their history in a SQL database (SQLite or PostgreSQL). Thread-safe;
    methods are synchronous (call them from a worker thread in async code)."""

    def __init__(self, url: str, *, pool_size: int = 4, busy_timeout_ms: int = 10_000) -> None:
        self.url = url
        self.dialect = sa.make_url(url).get_backend_name()
        if self.dialect == "sqlite":
            # Writers take SQLite's write lock up front and queue on a lock of this process
            # rather than in SQLite's busy handler; readers run beside them (WAL).
            self._writer = sqlite_engine(url, "BEGIN IMMEDIATE", busy_timeout_ms)
            self._reader = sqlite_engine(url, "BEGIN", busy_timeout_ms)
            self._local_lock: threading.Lock | None = threading.Lock()
        elif self.dialect == "postgresql":
            self._writer = sa.create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self._reader = self._writer.execution_options(isolation_level="REPEATABLE READ")
            self._local_lock = None
        else:
            raise ValueError(
                f"rules_database_url: unsupported database {self.dialect!r}; use sqlite:///PATH "
                "or postgresql+psycopg://..."
            )
        with self._write() as connection:
            metadata.create_all(connection)

    def close(self) -> None:
        """Close every pooled connection."""
        self._writer.dispose()
        if self.dialect == "sqlite":
            self._reader.dispose()

    def __enter__(self) -> RuleStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- transactions ----------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """A transaction holding the store's write lock; commits when the block succeeds."""
        lock = self._local_lock
        if lock is not None:
            lock.acquire()
        try:
            with self._writer.begin() as connection:
                if self.dialect == "postgresql":
                    connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITE_LOCK_KEY}
                    )
                yield connection
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        """A read transaction: one snapshot for all its statements."""
        with self._reader.connect() as connection, connection.begin():
            yield connection

    # -- reads -------------------------------------------------------------------------------

    def version(self) -> str:
        """The current rule-set version, "v<N>" for the latest revision N ("v0" when empty)."""
        with self._read() as connection:
            return version_name(_latest_revision(connection))

    def get(self, rule_id: str) -> StoredRule:
        """One rule (NotFound naming it when there is none)."""
        with self._read() as connection:
            row = connection.execute(
                sa.select(rules_table).where(rules_table.c.rule_id == rule_id)
            ).first()
        if row is None:
            raise _not_found(rule_id)
        return _stored(row)

    def list(self, page_size: int = 0, page_token: str = "") -> tuple[list[StoredRule], str]:
        """A page of rules in rule_id order and the token of the next page ("" on the last).
        `page_size` 0 means 100; at most 500."""
        if not 0 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument(
                f"page_size: must be between 0 and {MAX_PAGE_SIZE}, got {page_size}",
                [FieldViolation("page_size", "int32.lte", f"0 to {MAX_PAGE_SIZE}")],
            )
        size = page_size or DEFAULT_PAGE_SIZE
        query = sa.select(rules_table).order_by(rules_table.c.rule_id).limit(size + 1)
        if page_token:
            query = query.where(rules_table.c.rule_id > _decode_token(page_token))
        with self._read() as connection:
            rows = connection.execute(query).all()
        more = len(rows) > size
        rules = [_stored(row) for row in rows[:size]]
        return rules, _encode_token(rules[-1].rule_id) if more else ""

    def rule_set(self) -> RuleSet:
        """The enabled rules, compiled, with the current version (one snapshot). A stored rule
        that no longer compiles (e.g. a feature was removed since) is left out and logged."""
        with self._read() as connection:
            revision = _latest_revision(connection)
            rows = connection.execute(
                sa.select(rules_table)
                .where(rules_table.c.enabled.is_(True))
                .order_by(rules_table.c.rule_id)
            ).all()
        compiled: list[CompiledRule] = []
        for row in rows:
            stored = _stored(row)
            try:
                compiled.append(compile_rule(stored.spec))
            except InvalidArgument as error:
                log.error(
                    "stored rule no longer compiles; it is not evaluated",
                    rule_id=stored.rule_id,
                    error=error.message,
                )
        return RuleSet(version_name(revision), tuple(compiled))

    def history(self, rule_id: str | None = None) -> list[RuleRevision]:
        """The revisions (of one rule, or all), oldest first."""
        query = sa.select(revisions_table).order_by(revisions_table.c.revision)
        if rule_id is not None:
            query = query.where(revisions_table.c.rule_id == rule_id)
        with self._read() as connection:
            rows = connection.execute(query).all()
        return [
            RuleRevision(r.revision, r.rule_id, r.change, dict(r.rule), r.change_time, r.actor)
            for r in rows
        ]

    # -- writes ------------------------------------------------------------------------------

    def seed(self, defaults: Iterable[RuleSpec], actor: str = SEED_ACTOR) -> bool:
        """Create `defaults` if the store never had a revision (not even of a since-deleted
        rule); True when it did."""
        specs = [_checked(spec) for spec in defaults]
        with self._write() as connection:
            if _latest_revision(connection) > 0:
                return False
            for spec in specs:
                self._insert(connection, spec, actor)
        log.info("seeded the built-in rules", rules=[s.rule_id for s in specs])
        return True

    def create(self, spec: RuleSpec, actor: str) -> StoredRule:
        """Add a rule (InvalidArgument when it does not check, AlreadyExists when its id is
        taken)."""
        spec = _checked(spec)
        with self._write() as connection:
            if _current_row(connection, spec.rule_id) is not None:
                raise AlreadyExists(
                    f"rule {spec.rule_id!r} already exists; update it or pick another rule_id",
                    metadata={"rule_id": spec.rule_id},
                )
            return self._insert(connection, spec, actor)

    def update(
        self, rule_id: str, changes: dict[str, Any], etag: str | None, actor: str
    ) -> StoredRule:
        """Change the fields named in `changes` (of UPDATABLE_FIELDS). NotFound, Aborted on a
        stale `etag` (None or "": no check), InvalidArgument on an unknown field or a result
        that does not check. A change that changes nothing writes nothing."""
        unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
        if unknown or not changes:
            why = (
                f"{', '.join(unknown)} cannot be updated" if unknown else "names no field to update"
            )
            description = f"{why}; updatable: {', '.join(UPDATABLE_FIELDS)}"
            raise InvalidArgument(
                f"update_mask: {description}",
                [FieldViolation("update_mask", "field.updatable", description)],
            )
        with self._write() as connection:
            current = _stored_or_not_found(connection, rule_id)
            _check_etag(current, etag)
            spec = _checked(replace(current.spec, **changes))
            if spec == current.spec:
                return current
            revision = _next_revision(connection)
            now = datetime.now(UTC)
            values = _spec_values(spec) | {
                "etag": etag_of(rule_id, revision),
                "rules_version": version_name(revision),
                "update_time": now,
            }
            connection.execute(
                sa.update(rules_table).where(rules_table.c.rule_id == rule_id).values(values)
            )
            stored = replace(current, **values)
            _append(connection, revision, stored, ChangeKind.UPDATED, now, actor)
            return stored

    def delete(self, rule_id: str, etag: str | None, actor: str) -> str:
        """Remove a rule (NotFound; Aborted on a stale `etag`); returns the new version."""
        with self._write() as connection:
            current = _stored_or_not_found(connection, rule_id)
            _check_etag(current, etag)
            revision = _next_revision(connection)
            connection.execute(sa.delete(rules_table).where(rules_table.c.rule_id == rule_id))
            _append(connection, revision, current, ChangeKind.DELETED, datetime.now(UTC), actor)
            return version_name(revision)

    def _insert(self, connection: sa.Connection, spec: RuleSpec, actor: str) -> StoredRule:
        revision = _next_revision(connection)
        now = datetime.now(UTC)
        stored = StoredRule(
            **asdict(spec),
            etag=etag_of(spec.rule_id, revision),
            rules_version=version_name(revision),
            create_time=now,
            update_time=now,
        )
        connection.execute(sa.insert(rules_table).values(_row_values(stored)))
        _append(connection, revision, stored, ChangeKind.CREATED, now, actor)
        return stored


# -- helpers -------------------------------------------------------------------------------------


def _checked(spec: RuleSpec) -> RuleSpec:
    """`spec` validated (InvalidArgument otherwise), with its action as a plain string."""
    compile_rule(spec)
    return replace(spec, action=RuleAction(spec.action).value)


def _latest_revision(connection: sa.Connection) -> int:
    return connection.execute(
        sa.select(sa.func.coalesce(sa.func.max(revisions_table.c.revision), 0))
    ).scalar_one()


def _next_revision(connection: sa.Connection) -> int:
    return _latest_revision(connection) + 1


def _current_row(connection: sa.Connection, rule_id: str):
    return connection.execute(
        sa.select(rules_table).where(rules_table.c.rule_id == rule_id)
    ).first()


def _stored_or_not_found(connection: sa.Connection, rule_id: str) -> StoredRule:
    row = _current_row(connection, rule_id)
    if row is None:
        raise _not_found(rule_id)
    return _stored(row)


def _not_found(rule_id: str) -> NotFound:
    return NotFound(f"rule {rule_id!r} does not exist", metadata={"rule_id": rule_id})


def _check_etag(current: StoredRule, etag: str | None) -> None:
    if etag and etag != current.etag:
        raise Aborted(
            f"rule {current.rule_id!r} changed since it was read (etag {etag!r}, now "
            f"{current.etag!r}); read it again and retry",
            metadata={"rule_id": current.rule_id, "etag": current.etag},
        )


def _spec_values(spec: RuleSpec) -> dict[str, Any]:
    return {f.name: getattr(spec, f.name) for f in fields(RuleSpec)}


def _row_values(stored: StoredRule) -> dict[str, Any]:
    return {column.name: getattr(stored, column.name) for column in rules_table.columns}


def _stored(row: sa.Row) -> StoredRule:
    return StoredRule(**row._asdict())


def _append(
    connection: sa.Connection,
    revision: int,
    stored: StoredRule,
    change: str,
    when: datetime,
    actor: str,
) -> None:
    connection.execute(
        sa.insert(revisions_table).values(
            revision=revision,
            rule_id=stored.rule_id,
            change=change,
            rule=_spec_values(stored) | {"etag": stored.etag},
            change_time=when,
            actor=actor,
        )
    )


def _encode_token(after_rule_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after_rule_id}).encode()).decode()


def _decode_token(token: str) -> str:
    try:
        after = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
        if not isinstance(after, str):
            raise TypeError(after)
        return after
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidArgument(
            "page_token: not a token this service issued; pass next_page_token unchanged",
            [FieldViolation("page_token", "page_token.valid", "not a token this service issued")],
        ) from None
