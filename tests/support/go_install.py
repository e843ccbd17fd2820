"""Go command-line tools for benchmarks, built from source with `go install` into `.cache/go/`.

    binary = go_install(GoTool("github.com/tsenart/vegeta/v12", "v12.13.0", "vegeta"))

The tool is built once with the Go toolchain (through the Go module proxy) into
`.cache/go/bin/`, its module cache under `.cache/go/` as well; later runs reuse the binary while
`go version -m` says it was built from the pinned version.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GO_CACHE = REPO / ".cache" / "go"
INSTALL_TIMEOUT_S = 900
# Where the official Go tarball installs itself, for shells that did not put it on PATH.
GO_HOME_BIN = "/usr/local/go/bin"


@dataclass(frozen=True)
class GoTool:
    """A Go main package at a pinned module version, and the binary `go install` makes."""

    module: str  # the module path, as `go version -m` names it
    version: str
    binary_name: str
    package: str = ""  # the main package inside the module; default: the module's root

    @property
    def install_target(self) -> str:
        return f"{self.package or self.module}@{self.version}"

    @property
    def binary(self) -> Path:
        return GO_CACHE / "bin" / self.binary_name


def find_go() -> str | None:
    """The `go` binary on PATH or in Go's default install directory, None if neither."""
    return shutil.which("go") or shutil.which("go", path=GO_HOME_BIN)


def go_install(tool: GoTool) -> Path:
    """The binary of `tool` at its pinned version, installed with `go install` on first use."""
    go = find_go()
    if tool.binary.is_file() and (go is None or _built_version(go, tool) == tool.version):
        return tool.binary  # without Go the version cannot be checked: use the binary as it is
    if go is None:
        raise RuntimeError(
            f"the benchmark needs {tool.binary_name}, which is built with the Go toolchain: "
            "install Go (1.22 or later, `go` on PATH) and run the benchmark again"
        )
    build_cache = tempfile.mkdtemp(prefix=f"{tool.binary_name}-build-")
    env = {
        **os.environ,
        "GOPATH": str(GO_CACHE),
        "GOBIN": str(tool.binary.parent),
        "GOMODCACHE": str(GO_CACHE / "pkg" / "mod"),
        "GOCACHE": build_cache,  # compiled packages, useless once the binary is built
        "GOFLAGS": "-modcacherw",  # so that `rm -rf .cache` can delete the module cache
    }
    print(
        f"installing {tool.binary_name} {tool.version} with `go install` into "
        f"{tool.binary.parent} (once, 1-3 min)"
    )
    started = time.monotonic()
    try:
        result = subprocess.run(
            [go, "install", tool.install_target],
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    finally:
        shutil.rmtree(build_cache, ignore_errors=True)
    if result.returncode != 0:
        raise RuntimeError(f"`go install {tool.install_target}` failed:\n{result.stderr}")
    print(f"{tool.binary_name} installed in {time.monotonic() - started:.0f} s")
    return tool.binary


def _built_version(go: str, tool: GoTool) -> str | None:
    """The version of `tool.module` its binary was built from (`go version -m`), if known."""
    result = subprocess.run([go, "version", "-m", str(tool.binary)], capture_output=True, text=True)
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "mod" and parts[1] == tool.module:
            return parts[2]
    return None
