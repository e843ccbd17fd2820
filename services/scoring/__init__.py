"""The scoring service (`python -m services.scoring`)."""
