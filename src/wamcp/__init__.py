"""whatsapp-mcp-client: pull a business's WhatsApp conversations out through MCP and turn them into BI.

Layers (each imports only those below it): ``cli`` -> ``analytics`` / ``store`` / ``whatsapp`` / ``demo`` ->
``core`` -> ``errors`` / ``config``. See docs/DESIGN.md.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

# A library configures no output of its own: without a handler from the application, Python would print our
# warnings on stderr (logging's last resort). The CLI installs its own handlers.
logging.getLogger("wamcp").addHandler(logging.NullHandler())
# The same for the MCP SDK, whose transports log failures our client handles itself (a call cut short by its
# timeout printed "Error parsing SSE message" and a traceback to an application that had configured no logging).
# An application that configures logging still gets the SDK's records through its own handlers.
logging.getLogger("mcp").addHandler(logging.NullHandler())

try:
    __version__ = version("whatsapp-mcp-client")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
