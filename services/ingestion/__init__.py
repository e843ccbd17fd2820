"""The ingestion service (`python -m services.ingestion`)."""
