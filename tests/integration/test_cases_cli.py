"""`ecap cases migrate` against real databases: SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from services.cases.db import head_revision
from services.cli.main import app

pytestmark = pytest.mark.integration


def test_ecap_cases_migrate_builds_the_schema_once(sql_database_url, monkeypatch):
    monkeypatch.setenv("ECAP_DATABASE_URL", sql_database_url)
    runner = CliRunner()
    first = runner.invoke(app, ["cases", "migrate"])
    assert first.exit_code == 0, first.output
    assert f"migrated from an empty database to {head_revision()}" in first.output
    again = runner.invoke(app, ["cases", "migrate"])
    assert again.exit_code == 0 and "nothing to do" in again.output
    engine = sa.create_engine(sql_database_url)
    with engine.connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    engine.dispose()
    assert {"cases", "case_transactions", "case_notes", "case_evidence"} <= tables
    assert {"case_audit", "case_outbox"} <= tables
    assert version == head_revision()


def test_ecap_cases_migrate_names_a_bad_database_url(monkeypatch):
    monkeypatch.setenv("ECAP_DATABASE_URL", "mysql://db/cases")
    result = CliRunner().invoke(app, ["cases", "migrate"])
    assert result.exit_code == 2
    assert "ECAP_DATABASE_URL" in result.output and "sqlite:///PATH" in result.output
