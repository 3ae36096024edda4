# Types of the top-level mcp_utils.py (a single-file module cannot carry py.typed; PEP 561).
from wamcp.whatsapp.facade import cleanup_mcp_connections as cleanup_mcp_connections
from wamcp.whatsapp.facade import initialize_whatsapp_mcp as initialize_whatsapp_mcp
from wamcp.whatsapp.facade import register_mcp_server as register_mcp_server
from wamcp.whatsapp.facade import use_mcp_tool as use_mcp_tool
