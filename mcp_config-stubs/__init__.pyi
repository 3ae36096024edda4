# Types of the top-level mcp_config.py (a single-file module cannot carry py.typed; PEP 561).
from wamcp.config import *  # noqa: F403
from wamcp.config import __all__ as __all__
