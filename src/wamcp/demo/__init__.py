"""Embedded demo WhatsApp MCP server (the lharries/whatsapp-mcp tool contract) and its synthetic bridge data.

Works with no phone and no WhatsApp account: :func:`generate_database` writes a deterministic small-business bridge
database (plus ground truth), :class:`DemoServer` serves one on any transport, and :class:`DemoServerProcess` starts
``wamcp demo-server`` in a subprocess for tests and the demo pipeline. See docs/demo.md.
"""

from __future__ import annotations

from .data import GenerationResult, generate_database, truth_path_for
from .faults import FaultConfig
from .launch import DemoServerProcess, demo_server_command, stdio_parameters
from .server import READY_PREFIX, DemoServer, DemoServerConfig, default_database, run_demo_server

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
