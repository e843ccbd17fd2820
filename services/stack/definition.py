"""The stack definition (`compose/stack.yaml`) as typed objects."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, model_validator


class Readiness(BaseModel):
    """How to tell a process is up: gRPC health, Kafka metadata, a TCP connect, an HTTP GET
    answered 200, or a file."""

    grpc: str | None = None
    kafka: str | None = None
    tcp: str | None = None
    http: str | None = None
    # A file the process writes once it works (the runner deletes it before a start).
    file: str | None = None

    @property
    def address(self) -> str:
        """The probed address."""
        return self.grpc or self.kafka or self.tcp or self.http or self.file or ""


class ProcessSpec(BaseModel):
    """One process of the stack: a fixed command, or a launcher hook that prepares one."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    command: list[str] | None = Field(default=None, min_length=1)
    # "module:function" returning the command after preparing (fetch, format, ...), or a
    # `Delegated` when the component is provided from outside (e.g. an external Kafka).
    launcher: str | None = Field(default=None, pattern=r"^[\w.]+:\w+$")
    # "module:function" run once the process is ready (e.g. create Kafka topics).
    after_ready: str | None = Field(default=None, pattern=r"^[\w.]+:\w+$")
    ready: Readiness
    metrics: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    ready_timeout_s: float | None = None

    @model_validator(mode="after")
    def _one_way_to_start(self) -> ProcessSpec:
        if (self.command is None) == (self.launcher is None):
            raise ValueError(f"process {self.name!r} needs exactly one of command or launcher")
        return self

    def argv(self, command: list[str] | None = None) -> list[str]:
        """The command with `{python}` replaced by the running interpreter."""
        return [part.replace("{python}", sys.executable) for part in command or self.command or []]


class StackDefinition(BaseModel):
    """All processes, in start order."""

    processes: list[ProcessSpec]


def load_definition(path: Path, placeholders: Mapping[str, str] | None = None) -> StackDefinition:
    """Parse and check `path`, filling `{name}` placeholders; errors name the file and field."""
    try:
        text = path.read_text()
        for name, value in (placeholders or {}).items():
            text = text.replace("{" + name + "}", value)
        raw = yaml.safe_load(text)
    except FileNotFoundError as exc:
        raise ValueError(f"stack definition {path} does not exist") from exc
    try:
        return StackDefinition.model_validate(raw)
    except ValueError as exc:
        raise ValueError(f"stack definition {path} is invalid:\n{exc}") from exc


@dataclass(frozen=True)
class Delegated:
    """A launcher's answer when the component runs elsewhere: nothing to start here."""

    where: str


def resolve_hook(reference: str) -> Callable[..., Any]:
    """Import the function named by "module:function"."""
    module_name, _, function = reference.partition(":")
    return getattr(importlib.import_module(module_name), function)
