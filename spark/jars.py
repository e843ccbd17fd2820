"""The jars ECAP adds to pyspark's Spark: Delta Lake and the Kafka source, fetched once.

compose/spark/pom.xml names them. The first call of `ensure_jars()` copies them with Maven
into `.cache/spark/jars` (about 23 MB); every later call, and every SparkSession, is offline:
Spark gets the files through `spark.jars` and never resolves packages itself. A stamp file
beside the jars records the hash of the pom they came from, so editing the pom fetches again.

    python -m spark.jars        # what `make infra` runs
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from spark.config import REPO_ROOT, SparkSettings

POM = REPO_ROOT / "compose" / "spark" / "pom.xml"
# Written beside the jars: the hash of the pom they were fetched for.
JARS_STAMP = ".pom-sha256"
# Any complete fetch has these; a copy without them is broken, whatever Maven said.
REQUIRED_JARS = ("delta-spark_*.jar", "delta-storage-*.jar", "spark-sql-kafka-0-10_*.jar")

console = Console(stderr=True)


class JarsError(RuntimeError):
    """The Spark jars could not be fetched."""


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def _missing(jars_dir: Path) -> list[str]:
    return [pattern for pattern in REQUIRED_JARS if not any(jars_dir.glob(pattern))]


def _cached(jars_dir: Path) -> list[Path] | None:
    stamp = jars_dir / JARS_STAMP
    if stamp.is_file() and stamp.read_text().strip() == _pom_digest() and not _missing(jars_dir):
        return sorted(jars_dir.glob("*.jar"))
    return None


def ensure_jars(settings: SparkSettings | None = None) -> list[Path]:
    """Return the jars of compose/spark/pom.xml, fetching them with Maven unless cached."""
    settings = settings or SparkSettings()
    jars_dir = settings.jars_dir
    if (jars := _cached(jars_dir)) is not None:
        return jars
    jars_dir.parent.mkdir(parents=True, exist_ok=True)
    # Two processes starting Spark at once (test workers, a job and a notebook) must not
    # fetch into the same directory; the second waits and then finds the cache.
    with (jars_dir.parent / f".{jars_dir.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (jars := _cached(jars_dir)) is not None:
            return jars
        return _fetch(settings)


def _fetch(settings: SparkSettings) -> list[Path]:
    jars_dir = settings.jars_dir
    mvn = shutil.which(settings.mvn)
    if mvn is None:
        raise JarsError(
            f"Maven ({settings.mvn!r}) is needed once to fetch the Delta Lake and Kafka jars "
            f"for Spark into {jars_dir}, but it is not on PATH: install Maven (e.g. "
            "`apt-get install maven`) or set ECAP_SPARK_MVN to its path"
        )
    # Fetch into a sibling and rename, so an interrupted fetch never looks complete.
    partial = jars_dir.with_name(jars_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    console.print(
        f"[bold]spark[/]: fetching the Delta Lake and Kafka jars for Spark into {jars_dir} "
        "with Maven (once; later sessions are offline)…"
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
    missing = _missing(partial)
    if result.returncode != 0 or missing:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        shutil.rmtree(partial, ignore_errors=True)
        raise JarsError(
            f"`{settings.mvn} dependency:copy-dependencies -f {POM}` failed "
            f"(exit {result.returncode}"
            + (f"; no {', '.join(missing)} was copied" if missing else "")
            + f"); Maven said:\n{tail or '(nothing)'}\n"
            "Check that Maven can reach its repository, then run `python -m spark.jars` again."
        )
    (partial / JARS_STAMP).write_text(_pom_digest() + "\n")
    shutil.rmtree(jars_dir, ignore_errors=True)
    partial.rename(jars_dir)
    jars = sorted(jars_dir.glob("*.jar"))
    size_mb = sum(jar.stat().st_size for jar in jars) / 1e6
    console.print(f"[bold]spark[/]: {len(jars)} jars ({size_mb:.0f} MB) in {jars_dir}")
    return jars


def main() -> None:
    """Fetch the jars unless cached (`python -m spark.jars`, run by `make infra`)."""
    try:
        jars = ensure_jars()
    except JarsError as exc:
        console.print(f"[bold red]spark[/]: {exc}")
        sys.exit(1)
    console.print(f"[bold]spark[/]: {len(jars)} jars ready in {SparkSettings().jars_dir}")


if __name__ == "__main__":
    main()
