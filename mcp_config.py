"""Seed-compatible shim: configuration management (re-exports :mod:`wamcp.config`).

``python mcp_config.py`` writes ``mcp_config_sample.json`` into the current directory.
"""

from wamcp.config import *  # noqa: F403
from wamcp.config import __all__ as __all__
from wamcp.config import write_sample_config

if __name__ == "__main__":
    print(f"wrote {write_sample_config('.')}")
