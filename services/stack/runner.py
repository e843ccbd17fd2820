"""Start, stop and inspect the local stack as detached processes (no Docker needed).

Each process gets a pid file in `.run/pids/` and a log in `.run/logs/`. `up` starts what is
not already running, in the definition's order, and returns once every process is ready, or
stops what it started and names the process that failed with the tail of its log.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.mesh.kafka.config import KafkaSettings
from services.stack.config import REPO_ROOT, StackSettings
from services.stack.definition import Delegated, ProcessSpec, load_definition, resolve_hook
from services.stack.probes import probe

Report = Callable[[str], None]


class StackError(RuntimeError):
    """A process did not come up; the message names it and carries its log's tail."""


@dataclass(frozen=True)
class ProcessStatus:
    """What `ecap status` shows for one process."""

    name: str
    pid: int | None
    running: bool
    health: str
    address: str
    metrics: str | None
    log: Path


def tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file, or a note that there is none."""
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Stack:
    """The processes of `compose/stack.yaml` on this machine."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.definition = load_definition(
            self.settings.definition,
            {
                "kafka_bootstrap": KafkaSettings().bootstrap_servers,
                "run_dir": str(self.settings.run_dir),
            },
        )

    def _pid_file(self, name: str) -> Path:
        return self.settings.pid_dir / f"{name}.pid"

    def _log_file(self, name: str) -> Path:
        return self.settings.log_dir / f"{name}.log"

    def pid_of(self, name: str) -> int | None:
        """The pid of a running stack process, or None (stale pid files are ignored)."""
        path = self._pid_file(name)
        try:
            pid = int(path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def ensure_secret(self) -> Path:
        """Create the development JWT secret once; services and `ecap token` share it."""
        path = self.settings.jwt_secret_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path

    def _environment(self, spec: ProcessSpec) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("ECAP_JWT_SECRET_FILE", str(self.ensure_secret()))
        env.update(spec.env)
        return env

    def _delegation_file(self, name: str) -> Path:
        return self.settings.pid_dir / f"{name}.delegated"

    def start(self, spec: ProcessSpec, command: list[str] | None = None) -> int:
        """Launch one process detached from this terminal; return its pid."""
        if spec.ready.file:
            Path(spec.ready.file).unlink(missing_ok=True)  # a stale one would pass the probe
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        self.settings.pid_dir.mkdir(parents=True, exist_ok=True)
        log_path = self._log_file(spec.name)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                spec.argv(command),
                cwd=REPO_ROOT,
                env=self._environment(spec),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._pid_file(spec.name).write_text(str(process.pid))
        return process.pid

    def wait_ready(self, spec: ProcessSpec, pid: int | None) -> None:
        """Poll the readiness probe until it passes; raise StackError if it never does."""
        timeout = spec.ready_timeout_s or self.settings.ready_timeout_s
        deadline = time.monotonic() + timeout
        last = "UNKNOWN"
        while time.monotonic() < deadline:
            if pid is not None and not _alive(pid):
                raise StackError(
                    f"{spec.name} exited during start-up; last lines of "
                    f"{self._log_file(spec.name)}:\n{tail(self._log_file(spec.name))}"
                )
            last = probe(spec.ready)
            if last == "SERVING":
                return
            time.sleep(0.2)
        raise StackError(
            f"{spec.name} was not ready at {spec.ready.address} within {timeout:.0f}s "
            f"(last probe: {last}); last lines of {self._log_file(spec.name)}:\n"
            f"{tail(self._log_file(spec.name))}"
        )

    def up(self, report: Report = print) -> list[ProcessStatus]:
        """Start every process not yet running and wait until all are ready."""
        self.ensure_secret()
        started: list[ProcessSpec] = []
        try:
            for spec in self.definition.processes:
                pid = self.pid_of(spec.name)
                if pid is not None and probe(spec.ready) == "SERVING":
                    report(f"{spec.name}: already running (pid {pid})")
                    continue
                if pid is not None:
                    self.stop_one(spec, report)
                command = None
                if spec.launcher:
                    report(f"{spec.name}: preparing")
                    launched = resolve_hook(spec.launcher)()
                    if isinstance(launched, Delegated):
                        self.settings.pid_dir.mkdir(parents=True, exist_ok=True)
                        self._delegation_file(spec.name).write_text(launched.where)
                        report(f"{spec.name}: {launched.where}, not started here")
                        self.wait_ready(spec, None)
                        self._after_ready(spec, report)
                        continue
                    command = launched
                pid = self.start(spec, command)
                started.append(spec)
                report(f"{spec.name}: started (pid {pid}), waiting for {spec.ready.address}")
                self.wait_ready(spec, pid)
                self._after_ready(spec, report)
                report(f"{spec.name}: ready")
        except BaseException:
            for spec in reversed(started):
                self.stop_one(spec, report)
            raise
        return self.status()

    def _after_ready(self, spec: ProcessSpec, report: Report) -> None:
        if spec.after_ready:
            report(f"{spec.name}: {resolve_hook(spec.after_ready)()}")

    def stop_one(self, spec: ProcessSpec, report: Report = print) -> None:
        """SIGTERM the process group, wait for it to drain, SIGKILL if it will not stop."""
        self._delegation_file(spec.name).unlink(missing_ok=True)
        pid = self.pid_of(spec.name)
        if pid is None:
            self._pid_file(spec.name).unlink(missing_ok=True)
            return
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.stop_timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            report(f"{spec.name}: did not stop within {self.settings.stop_timeout_s:.0f}s, killed")
            _signal_group(pid, signal.SIGKILL)
        else:
            report(f"{spec.name}: stopped")
        self._pid_file(spec.name).unlink(missing_ok=True)

    def down(self, report: Report = print) -> None:
        """Stop every process, in reverse start order."""
        for spec in reversed(self.definition.processes):
            self.stop_one(spec, report)

    def status(self) -> list[ProcessStatus]:
        """Each process's pid, liveness and probe result."""
        rows = []
        for spec in self.definition.processes:
            pid = self.pid_of(spec.name)
            delegated = self._delegation_file(spec.name).exists()
            rows.append(
                ProcessStatus(
                    name=spec.name,
                    pid=pid,
                    running=pid is not None or delegated,
                    health=probe(spec.ready) if pid is not None or delegated else "STOPPED",
                    address=spec.ready.address,
                    metrics=spec.metrics,
                    log=self._log_file(spec.name),
                )
            )
        return rows


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap our own exited children
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().split(") ")[-1].startswith("Z"))


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)
