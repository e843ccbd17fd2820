"""The analytics service (`python -m services.analytics`)."""
