"""`ecap train fraud|churn` and `ecap models list|promote`: forwarded to `models.training`.

Services import no training code (DESIGN: models -> features only); like `ecap lake stream`,
these commands hand the process over to the module that owns the work, arguments and
`--help` included.
"""

from __future__ import annotations

import os
import sys

import typer

FORWARD = {"allow_extra_args": True, "ignore_unknown_options": True}

train_app = typer.Typer(help="Train and evaluate the fraud and churn models.", no_args_is_help=True)
models_app = typer.Typer(
    help="The BentoML model store: list and promote models.", no_args_is_help=True
)


def _forward(*argv: str) -> None:
    os.execv(sys.executable, [sys.executable, "-m", "models.training", *argv])


def _command(app: typer.Typer, group: str, name: str, help_text: str) -> None:
    @app.command(name, context_settings=FORWARD, add_help_option=False, help=help_text)
    def forward(ctx: typer.Context) -> None:
        _forward(group, name, *ctx.args)


_command(train_app, "train", "fraud", "Train the fraud model (--help for the options).")
_command(train_app, "train", "churn", "Train the churn model (--help for the options).")
_command(models_app, "models", "list", "Model versions and their metrics.")
_command(models_app, "models", "promote", "Make a model the champion of its kind.")
_command(models_app, "models", "drift", "Live feature and score drift of the fraud model.")
_command(
    models_app,
    "models",
    "bootstrap",
    "Train a first model of a kind on a simulated shop when the store has no champion.",
)
