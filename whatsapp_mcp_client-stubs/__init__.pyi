# Types of the top-level whatsapp_mcp_client.py (a single-file module cannot carry py.typed; PEP 561).
from wamcp.whatsapp import *  # noqa: F403
from wamcp.whatsapp import __all__ as __all__
