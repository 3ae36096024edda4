"""Local SQLite store of chats and messages (see schema.py)."""
