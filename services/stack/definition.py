"""The stack definition (`compose/stack.yaml`) as typed objects."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from pydantic import BaseModel, Field


class Readiness(BaseModel):
    """How to tell a process is up: a gRPC health check, or a TCP connect."""

    grpc: str | None = None
    tcp: str | None = None

    @property
    def address(self) -> str:
        """The probed address."""
        return self.grpc or self.tcp or ""


class ProcessSpec(BaseModel):
    """One process of the stack."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    command: list[str] = Field(min_length=1)
    ready: Readiness
    metrics: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    ready_timeout_s: float | None = None

    def argv(self) -> list[str]:
        """The command with `{python}` replaced by the running interpreter."""
        return [part.replace("{python}", sys.executable) for part in self.command]


class StackDefinition(BaseModel):
    """All processes, in start order."""

    processes: list[ProcessSpec]


def load_definition(path: Path) -> StackDefinition:
    """Parse and check `path`; errors name the file and the offending field."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ValueError(f"stack definition {path} does not exist") from exc
    try:
        return StackDefinition.model_validate(raw)
    except ValueError as exc:
        raise ValueError(f"stack definition {path} is invalid:\n{exc}") from exc
