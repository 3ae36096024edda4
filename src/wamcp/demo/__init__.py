"""Embedded demo WhatsApp MCP server (the lharries/whatsapp-mcp tool contract) and its synthetic bridge data.

Works with no phone and no WhatsApp account: :func:`generate_database` writes a deterministic small-business bridge
database (plus ground truth), :class:`DemoServer` serves one on any transport, and :class:`DemoServerProcess` starts
``wamcp demo-server`` in a subprocess for tests and the demo pipeline. See docs/demo.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .data import GenerationResult, generate_database, truth_path_for
    from .faults import FaultConfig
    from .launch import DemoServerProcess, demo_server_command, stdio_parameters
    from .server import READY_PREFIX, DemoServer, DemoServerConfig, default_database, run_demo_server

# Loaded on first use: the package is imported by every ``wamcp`` command line (its demo commands), and the server
# and launcher modules import ``mcp`` (~1 s), which ``wamcp extract`` must be able to put off until its stdio server
# is already starting (see wamcp.stdio_process).
_HOMES = {
    "GenerationResult": "data",
    "generate_database": "data",
    "truth_path_for": "data",
    "FaultConfig": "faults",
    "DemoServerProcess": "launch",
    "demo_server_command": "launch",
    "stdio_parameters": "launch",
    "READY_PREFIX": "server",
    "DemoServer": "server",
    "DemoServerConfig": "server",
    "default_database": "server",
    "run_demo_server": "server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "READY_PREFIX",
    "DemoServer",
    "DemoServerConfig",
    "DemoServerProcess",
    "FaultConfig",
    "GenerationResult",
    "default_database",
    "demo_server_command",
    "generate_database",
    "run_demo_server",
    "stdio_parameters",
    "truth_path_for",
]
