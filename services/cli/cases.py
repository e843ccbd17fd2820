"""`ecap cases`: the case database (migrations)."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
import typer
from pydantic import ValidationError
from rich.console import Console

from services.cases.config import CasesSettings
from services.cases.db import Database, head_revision, migrate

cases_app = typer.Typer(help="The case management service's database.", no_args_is_help=True)
console = Console(stderr=True)


@cases_app.command("migrate")
def migrate_command(
    revision: Annotated[str, typer.Option(help="the Alembic revision to upgrade to")] = "head",
) -> None:
    """Apply the Alembic migrations to the case database (ECAP_DATABASE_URL, or .run/cases.db)."""
    try:
        settings = CasesSettings()
    except ValidationError as exc:
        console.print(f"[red]invalid case settings:[/] {exc}")
        raise typer.Exit(2) from exc
    shown = sa.make_url(settings.database_url).render_as_string(hide_password=True)
    console.print(f"migrating {shown} to {revision} (newest: {head_revision()})")
    database = Database(settings.database_url, pool_size=1)
    try:
        before, after = migrate(database, revision)
    except sa.exc.OperationalError as exc:
        console.print(f"[red]cannot reach the case database {shown}:[/] {exc.orig}")
        raise typer.Exit(1) from exc
    finally:
        database.dispose()
    if before == after:
        console.print(f"already at {after}; nothing to do")
    else:
        console.print(f"migrated from {before or 'an empty database'} to {after}")
