"""Run a real ECAP service's `main` with the probe service added: `python -m ... SERVICE`."""

import importlib
import sys

from tests.support.probe_service import ROLES, probe_handler

if __name__ == "__main__":
    server = importlib.import_module(f"services.{sys.argv[1]}.server")
    spec = server.build_spec()
    spec.generic_handlers = [probe_handler()]
    spec.role_table = {**spec.role_table, **ROLES}
    server.main(spec)
