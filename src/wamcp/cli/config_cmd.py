"""``wamcp config init`` and ``wamcp config show``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..config import SAMPLE_FILE_NAME, flatten, load_config, write_sample_config
from ._errors import guarded

config_app = typer.Typer(help="Create and inspect the configuration (mcp_config.json).", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", metavar="PATH", help="Config file (default: $MCP_CONFIG_FILE, ./mcp_config.json, user dir)."
    ),
]


@config_app.command("init")
@guarded
def init(
    directory: Annotated[Path, typer.Option("--dir", metavar="DIR", help="Where to write the sample file.")] = Path(
        "."
    ),
) -> None:
    """Write mcp_config_sample.json with every key at its default; rename it to mcp_config.json to use it."""
    target = write_sample_config(directory)
    typer.echo(f"wrote {target} — edit it and rename it to mcp_config.json")


@config_app.command("show")
@guarded
def show(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the effective config as JSON.")] = False,
) -> None:
    """Print the effective configuration (token redacted) and where each value came from."""
    loaded = load_config(config)
    data = loaded.redacted()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "config": data,
                    "file": str(loaded.path) if loaded.path else None,
                    "sources": loaded.sources,
                },
                indent=2,
            )
        )
        return
    table = Table(title=f"effective configuration (file: {loaded.path or 'none'})")
    table.add_column("key", overflow="fold")  # folded, never cut: keys of accounts are long
    table.add_column("value", overflow="fold")
    table.add_column("source")
    for key, value in flatten(data["whatsapp"]).items():
        dotted = ".".join(key)
        table.add_row(
            f"whatsapp.{dotted}", json.dumps(value, ensure_ascii=False), loaded.sources.get(dotted, "default")
        )
    Console(soft_wrap=True).print(table)


def register(app: typer.Typer) -> None:
    """Add ``config`` to the root app."""
    app.add_typer(config_app, name="config")


__all__ = ["SAMPLE_FILE_NAME", "register"]
