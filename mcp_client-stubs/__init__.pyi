# Types of the top-level mcp_client.py (a single-file module cannot carry py.typed; PEP 561).
from wamcp.core import *  # noqa: F403
from wamcp.core import __all__ as __all__
