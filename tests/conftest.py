"""Shared pytest fixtures: one module per real component, loaded for every test tier."""

pytest_plugins = [
    "tests.fixtures.mesh",
    "tests.fixtures.kafka",
    "tests.fixtures.spark",
    "tests.fixtures.postgres",
    "tests.fixtures.bentoml",
]
