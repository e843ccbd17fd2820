"""The `ecap` command line."""
