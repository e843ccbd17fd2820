"""`python -m services.simulator --days 7 --out data/sim`: the simulator without `ecap`."""

from services.simulator.cli import app

app()
