"""The cases service (`python -m services.cases`)."""
