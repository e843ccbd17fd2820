"""Alembic migrations of the cases database (`ecap cases migrate`, or at service start)."""
