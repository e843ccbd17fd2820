"""Spark batch jobs."""
