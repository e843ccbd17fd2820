"""The embedded single-node Kafka broker (KRaft) of the local stack, as plain functions.

The broker is Apache Kafka itself, run from the jars that compose/kafka/pom.xml names. They
are fetched with Maven once into `.cache/kafka/lib`; every later start is offline. The
broker keeps its data in `.run/kafka/data` and is configured from the
compose/kafka/server.properties template and the `ECAP_KAFKA_*` settings (`BrokerSettings`).

Starting and stopping it from the stack runner:

    settings = BrokerSettings()
    if not settings.external:                   # ECAP_KAFKA_BOOTSTRAP set: start nothing
        command = prepare(settings)             # jars, properties, storage format (once)
        # spawn `command` detached, stdout and stderr into .run/logs/kafka.log
        wait_until_ready(settings.bootstrap_servers, settings.ready_timeout_s, process=proc)
    ensure_topics(settings.bootstrap_servers)   # services.mesh.kafka.topics
    # to stop: SIGTERM the process, wait up to settings.stop_timeout_s, then SIGKILL

`prepare()` may run Maven on first use (tens of seconds); call it before starting the
readiness clock. Alternatively, as a process of compose/stack.yaml,
`python -m services.stack.kafka run` prepares and then becomes the broker (exec), so its pid
is the JVM's and SIGTERM reaches Kafka directly; `python -m services.stack.kafka fetch-jars`
only fetches the jars (`make infra`).

`BrokerProcess` wraps the same steps around a child process, for tests and benchmarks.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from string import Template
from typing import Annotated

import typer
from confluent_kafka import KafkaException
from pydantic import Field
from rich.console import Console

from services.mesh.kafka.config import KafkaSettings
from services.mesh.kafka.topics import admin_client
from services.stack.config import REPO_ROOT

COMPOSE_DIR = REPO_ROOT / "compose" / "kafka"
POM = COMPOSE_DIR / "pom.xml"
PROPERTIES_TEMPLATE = COMPOSE_DIR / "server.properties"
LOG4J_CONFIG = COMPOSE_DIR / "log4j2.properties"
BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
# Written beside the jars: the hash of the pom they were fetched for.
JARS_STAMP = ".pom-sha256"

console = Console(stderr=True)


class BrokerSettings(KafkaSettings):
    """The embedded broker: ports, heap, and where its jars and data live (`ECAP_KAFKA_*`)."""

    controller_port: int = Field(default=9093, ge=1, le=65535, description="KRaft controller")
    heap: str = Field(default="512m", pattern=r"^[0-9]+[kmgKMG]$", description="JVM -Xmx")
    cache_dir: Path = Field(default=REPO_ROOT / ".cache" / "kafka", description="jars")
    run_dir: Path = Field(default=REPO_ROOT / ".run" / "kafka", description="data, properties")
    java: str = Field(default="java", description="the Java 17+ executable")
    mvn: str = Field(default="mvn", description="the Maven executable, used once")
    ready_timeout_s: float = Field(default=60.0, gt=0)
    stop_timeout_s: float = Field(default=30.0, gt=0)

    @property
    def lib_dir(self) -> Path:
        """The broker's classpath directory."""
        return self.cache_dir / "lib"

    @property
    def data_dir(self) -> Path:
        """`log.dirs`: partitions and the KRaft metadata log."""
        return self.run_dir / "data"

    @property
    def properties_file(self) -> Path:
        """The rendered server.properties the broker reads."""
        return self.run_dir / "server.properties"


class BrokerSetupError(RuntimeError):
    """The broker could not be fetched, configured, formatted or started."""


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def jars_present(settings: BrokerSettings) -> bool:
    """True when the jars for the current pom are in the cache."""
    stamp = settings.lib_dir / JARS_STAMP
    return stamp.is_file() and stamp.read_text().strip() == _pom_digest()


def ensure_jars(settings: BrokerSettings | None = None) -> Path:
    """Fetch the broker jars with Maven unless the cache holds them; return the lib dir."""
    settings = settings or BrokerSettings()
    lib = settings.lib_dir
    if jars_present(settings):
        return lib
    mvn = shutil.which(settings.mvn)
    if mvn is None:
        raise BrokerSetupError(
            f"Maven ({settings.mvn!r}) is needed once to fetch the Kafka broker jars into {lib}, "
            "but it is not on PATH: install Maven (e.g. `apt-get install maven`) or set "
            "ECAP_KAFKA_MVN to its path"
        )
    # Fetch into a sibling and rename, so an interrupted fetch never looks complete.
    partial = lib.with_name(lib.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    console.print(
        f"[bold]kafka[/]: fetching the Apache Kafka broker jars into {lib} with Maven "
        "(once; later starts are offline)…"
    )
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not any(partial.glob("kafka_2.13-*.jar")):
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise BrokerSetupError(
            f"`{settings.mvn} dependency:copy-dependencies -f {POM}` failed "
            f"(exit {result.returncode}); Maven said:\n{tail}\n"
            "Check that Maven can reach its repository, then run "
            "`python -m services.stack.kafka fetch-jars` again."
        )
    (partial / JARS_STAMP).write_text(_pom_digest() + "\n")
    shutil.rmtree(lib, ignore_errors=True)
    partial.rename(lib)
    console.print(f"[bold]kafka[/]: {sum(1 for _ in lib.glob('*.jar'))} jars in {lib}")
    return lib


def render_properties(template: str, settings: BrokerSettings) -> str:
    """Fill the server.properties `template` with `settings`' host, ports and data dir."""
    try:
        return Template(template).substitute(
            host=settings.host,
            port=settings.port,
            controller_port=settings.controller_port,
            data_dir=settings.data_dir.resolve(),
        )
    except (KeyError, ValueError) as exc:
        raise BrokerSetupError(
            f"{PROPERTIES_TEMPLATE} has a placeholder that is not host, port, controller_port "
            f"or data_dir: {exc}"
        ) from exc


def write_properties(settings: BrokerSettings) -> Path:
    """Render the template into the run dir; return the file's path."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    path = settings.properties_file
    path.write_text(render_properties(PROPERTIES_TEMPLATE.read_text(), settings))
    return path


def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID in URL-safe base64, as `kafka-storage random-uuid`.

    Like Kafka's own, it never starts with '-', which a command line would take for an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _java(settings: BrokerSettings, heap: str, main: str, *args: str) -> list[str]:
    return [
        settings.java,
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp",
        f"{settings.lib_dir.resolve()}/*",
        main,
        *args,
    ]


def format_storage(settings: BrokerSettings) -> bool:
    """Format the data dir as a one-voter KRaft cluster unless it already is; True if it did."""
    if (settings.data_dir / "meta.properties").is_file():
        return False
    properties = write_properties(settings)
    command = _java(
        settings, "256m", STORAGE_TOOL_MAIN,
        "format", "--standalone", "--cluster-id", new_cluster_id(), "--config", str(properties),
    )  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BrokerSetupError(
            f"formatting Kafka storage in {settings.data_dir} failed (exit {result.returncode}):\n"
            f"{(result.stdout + result.stderr).strip()}\n"
            f"If the directory holds a broken broker, remove {settings.run_dir} and start again."
        )
    return True


def broker_command(settings: BrokerSettings) -> list[str]:
    """The command that runs the broker in the foreground, logging to stdout."""
    return _java(settings, settings.heap, BROKER_MAIN, str(settings.properties_file.resolve()))


def check_ports_free(settings: BrokerSettings) -> None:
    """Fail with a clear message when the broker's ports are already taken."""
    ports = {
        "ECAP_KAFKA_PORT": settings.port,
        "ECAP_KAFKA_CONTROLLER_PORT": settings.controller_port,
    }
    for name, port in ports.items():
        with socket.socket() as sock:
            # As the JVM binds: connections of a just-stopped broker in TIME_WAIT don't count.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((settings.host, port))
            except OSError as exc:
                raise BrokerSetupError(
                    f"cannot start Kafka: {settings.host}:{port} is in use ({exc.strerror}). "
                    f"Is a broker already running (`ecap status`)? Otherwise set {name}."
                ) from exc


def prepare(settings: BrokerSettings) -> list[str]:
    """Everything before the start: jars, properties, storage, free ports; return the command."""
    if shutil.which(settings.java) is None:
        raise BrokerSetupError(
            f"Java ({settings.java!r}) is not on PATH: Kafka needs Java 17 or newer; install it "
            "or set ECAP_KAFKA_JAVA"
        )
    ensure_jars(settings)
    write_properties(settings)
    format_storage(settings)
    check_ports_free(settings)
    return broker_command(settings)


def wait_until_ready(
    bootstrap: str, timeout_s: float, *, process: subprocess.Popen | None = None
) -> None:
    """Return once a broker at `bootstrap` answers metadata requests; raise after `timeout_s`."""
    admin = admin_client(bootstrap)
    deadline = time.monotonic() + timeout_s
    while (remaining := deadline - time.monotonic()) > 0:
        if process is not None and process.poll() is not None:
            raise BrokerSetupError(
                f"the Kafka broker exited with code {process.returncode} before it was ready; "
                "its log says why"
            )
        try:
            if admin.list_topics(timeout=min(1.0, remaining)).brokers:
                return
        except KafkaException:
            pass  # not listening yet
    raise BrokerSetupError(
        f"no Kafka broker answered at {bootstrap} within {timeout_s:g} s; see the broker's log"
    )


def rss_bytes(pid: int) -> int:
    """The resident memory of process `pid`, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ProcessLookupError(pid)


class BrokerProcess:
    """The embedded broker as a child process that can be started, stopped and restarted."""

    def __init__(self, settings: BrokerSettings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self._process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        """The bootstrap servers of this broker."""
        return self.settings.bootstrap_servers

    @property
    def pid(self) -> int | None:
        """The JVM's pid while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        """True while the JVM process lives."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the broker (formatting its storage the first time) and wait until it is ready."""
        if self.running:
            return
        command = prepare(self.settings)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_until_ready(self.bootstrap, self.settings.ready_timeout_s, process=self._process)
        except BrokerSetupError as exc:
            self.stop()
            raise BrokerSetupError(f"{exc} (log: {self.log_path})") from exc

    def stop(self) -> None:
        """SIGTERM the broker, wait for its clean shutdown, and SIGKILL it if that hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(self.settings.stop_timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def rss_bytes(self) -> int:
        """The JVM's resident memory."""
        if self.pid is None:
            raise RuntimeError("the broker is not running")
        return rss_bytes(self.pid)


cli = typer.Typer(help="The embedded Kafka broker of the local stack.", add_completion=False)


@cli.command("fetch-jars")
def fetch_jars_command() -> None:
    """Fetch the broker jars into the cache (Maven, once)."""
    try:
        lib = ensure_jars()
    except BrokerSetupError as exc:
        console.print(f"[bold red]kafka[/]: {exc}")
        raise typer.Exit(1) from exc
    console.print(f"[bold]kafka[/]: broker jars ready in {lib}")


@cli.command("run")
def run_command(
    show: Annotated[bool, typer.Option("--print", help="print the command, do not run")] = False,
) -> None:
    """Prepare the broker, then replace this process with it (logs on stdout)."""
    settings = BrokerSettings()
    if settings.external:
        console.print(
            f"[bold red]kafka[/]: ECAP_KAFKA_BOOTSTRAP={settings.bootstrap} names an external "
            "cluster: there is no local broker to run"
        )
        raise typer.Exit(2)
    try:
        command = prepare(settings)
    except BrokerSetupError as exc:
        console.print(f"[bold red]kafka[/]: {exc}")
        raise typer.Exit(1) from exc
    if show:
        typer.echo(" ".join(command))
        return
    os.execvp(command[0], command)


if __name__ == "__main__":
    cli()
