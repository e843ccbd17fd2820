"""Alembic environment: runs on the connection `services.cases.db.migrate` passes in."""

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from services.cases.models import CaseRow  # noqa: F401  (registers the tables)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    """Migrate on the given connection, or on one to `sqlalchemy.url`."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `ecap cases migrate`")
run_migrations_online()
