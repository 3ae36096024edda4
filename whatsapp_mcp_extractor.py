"""Seed-compatible shim: the WhatsApp extractor command line (re-exports :mod:`wamcp.cli.extractor`).

``python whatsapp_mcp_extractor.py --help`` lists the flags: ``--mcp-endpoint``, ``--mcp-connection``,
``--auth-token``, ``--max-chats``, ``--max-history`` and more.
"""

from wamcp.cli.extractor import app, main

__all__ = ["app", "main"]

if __name__ == "__main__":
    main()
