"""Quick process exit for the command-line entry points.

When the interpreter exits it runs the cyclic garbage collector over everything still alive; after a command has
imported pydantic, the SDK and their schemas that walk took ~0.35 s of every ``wamcp`` and demo-server process,
most of a rerun's shutdown. Entry points call :func:`skip_final_collection` once their work is done: ``atexit``
handlers, flushing and closing still happen; objects only reachable through reference cycles are no longer
collected (and finalized) at exit, which this code base never relies on (files and databases are closed by
``with`` blocks).
"""

from __future__ import annotations

import gc

__all__ = ["skip_final_collection"]


def skip_final_collection() -> None:
    """Move every object alive into the collector's permanent generation, which exit-time collections skip."""
    gc.freeze()
