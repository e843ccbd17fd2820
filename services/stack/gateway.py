"""The REST gateway (Go, `gateway/`): build it when its sources changed, and its command."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from services.analytics.config import AnalyticsSettings
from services.cases.config import CasesSettings
from services.ingestion.config import IngestionSettings
from services.scoring.config import ScoringSettings
from services.stack.config import GatewayBuildSettings

BINARY = Path("bin") / "ecap-gateway"
_SETTINGS_BY_BACKEND = {
    "ingestion": IngestionSettings,
    "scoring": ScoringSettings,
    "analytics": AnalyticsSettings,
    "cases": CasesSettings,
}


def _go(settings: GatewayBuildSettings) -> str:
    found = shutil.which(settings.go) or shutil.which("go", path="/usr/local/go/bin")
    if found is None:
        raise RuntimeError(
            f"the Go toolchain ({settings.go!r}) is not on PATH: install Go 1.26 or set "
            "ECAP_GATEWAY_GO to its go binary"
        )
    return found


def build_gateway(settings: GatewayBuildSettings | None = None) -> Path:
    """`go build` the gateway (the Go build cache makes an unchanged tree a no-op) and
    return the binary's path."""
    settings = settings or GatewayBuildSettings()
    binary = settings.source_dir / BINARY
    result = subprocess.run(
        [_go(settings), "build", "-o", str(BINARY), "./cmd/ecap-gateway"],
        cwd=settings.source_dir,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"building the gateway failed:\n{result.stdout}{result.stderr}")
    return binary


def backend_flags() -> list[str]:
    """`--<service> host:port` from each service's own settings (ECAP_<SERVICE>_PORT), for
    the backends whose ECAP_GATEWAY_<SERVICE>_ADDRESS is not set."""
    flags = []
    for name, settings_class in _SETTINGS_BY_BACKEND.items():
        if not os.environ.get(f"ECAP_GATEWAY_{name.upper()}_ADDRESS"):
            flags += [f"--{name}", f"127.0.0.1:{settings_class().port}"]
    return flags


def gateway_command(settings: GatewayBuildSettings | None = None) -> list[str]:
    """The gateway's command in the stack, built first if needed."""
    settings = settings or GatewayBuildSettings()
    return [str(build_gateway(settings)), "--listen", settings.listen, *backend_flags()]
