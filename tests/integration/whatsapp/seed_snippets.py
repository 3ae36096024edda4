"""The seed's usage snippets, copied verbatim from its documentation (WhatsApp MCP Client Infrastructure
Documentation, sections "Basic Usage (Synchronous)", "Advanced Usage (Asynchronous)" and "Getting Health Status").

They are promises to users: ``test_seed_snippets.py`` runs them as written in a subprocess (only the spaces on blank
lines are dropped, for the linter). Never edit them to make a test pass; the tests apply only the substitutions they
document (where the server is).
"""

from __future__ import annotations

# "Basic Usage (Synchronous)"
BASIC_USAGE_SYNC = """\
from mcp_utils import use_mcp_tool, initialize_whatsapp_mcp

# Initialize the client
success = initialize_whatsapp_mcp()
if not success:
    print("Failed to initialize MCP client")
    exit(1)

# List chats
chats = use_mcp_tool(
    server_name="github.com/lharries/whatsapp-mcp",
    tool_name="list_chats",
    arguments={
        "limit": 50,
        "page": 0,
        "include_last_message": True,
        "sort_by": "last_active"
    }
)

# Get messages from a chat
messages = use_mcp_tool(
    server_name="github.com/lharries/whatsapp-mcp",
    tool_name="list_messages",
    arguments={
        "chat_jid": "1234567890@c.us",
        "limit": 100,
        "page": 0,
        "include_context": True
    }
)
"""

# "Advanced Usage (Asynchronous)"
ADVANCED_USAGE_ASYNC = """\
import asyncio
from whatsapp_mcp_client import WhatsAppMCPClient
from mcp_client import MCPConnectionType

async def main():
    # Create client
    client = WhatsAppMCPClient()

    # Initialize with custom settings
    await client.initialize(
        endpoint="http://localhost:3000",
        connection_type=MCPConnectionType.SSE,
        auth_token="your-token"
    )

    # Authenticate with WhatsApp
    auth_result = await client.authenticate("+1234567890")
    if auth_result.get("qr_code"):
        print("Scan QR code:", auth_result["qr_code"])

    # List chats
    chats = await client.list_chats(limit=50, page=0)

    # Get messages
    for chat in chats:
        messages = await client.get_chat_messages(
            chat_jid=chat["jid"],
            limit=100
        )
        print(f"Chat {chat['name']}: {len(messages)} messages")

    # Cleanup
    await client.disconnect()

# Run the async function
asyncio.run(main())
"""

# "Getting Health Status"
HEALTH_STATUS = """\
from whatsapp_mcp_client import get_whatsapp_mcp_client

client = get_whatsapp_mcp_client()
health = await client.health_check()
print(f"MCP Connection: {health['mcp_connection']}")
print(f"WhatsApp Status: {health['whatsapp_connection']}")
"""
