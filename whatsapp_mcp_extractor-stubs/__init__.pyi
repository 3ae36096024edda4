# Types of the top-level whatsapp_mcp_extractor.py (a single-file module cannot carry py.typed; PEP 561).
from wamcp.cli.extractor import app as app
from wamcp.cli.extractor import main as main
