"""``python -m wamcp.demo [demo-server|demo-data] …``: the demo commands without loading the other CLI layers.

Used by :class:`wamcp.demo.launch.DemoServerProcess` so a subprocess server starts fast and does not depend on
the rest of the CLI importing cleanly.
"""

from __future__ import annotations

import typer

from .._exiting import skip_final_collection
from .._help import flags_without_placeholder
from .commands import demo_data, demo_server, standalone

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True)
app.command("demo-server")(standalone(demo_server))
app.command("demo-data")(standalone(demo_data))

if __name__ == "__main__":
    try:
        flags_without_placeholder(typer.main.get_command(app))()
    finally:
        skip_final_collection()
