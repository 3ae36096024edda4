"""CLI commands of the demo layer: ``wamcp demo-server`` (serve) and ``wamcp demo-data`` (generate).

The command bodies live in :mod:`wamcp.demo.commands` (so ``python -m wamcp.demo`` can run them without loading
every layer); here they only get the CLI's error handling. ``wamcp demo`` (serve → extract → report) is added by
the pipeline layer next to these.
"""

from __future__ import annotations

import typer

from ..demo.commands import demo_data, demo_server
from ._errors import guarded

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("demo-server")(guarded(demo_server))
    app.command("demo-data")(guarded(demo_data))
