"""Local SQLite store of chats and messages, and the exports that stream out of it.

The extractor writes through :class:`Store` (each page with its cursor in one transaction); everything that reads the
store (exports, reports) streams it with :meth:`Store.iter_messages` in constant memory. Schema: ``schema.py``.
"""

from __future__ import annotations

from .sqlite import ChatRow, MessageRow, PageResult, Store, SyncState

__all__ = ["ChatRow", "MessageRow", "PageResult", "Store", "SyncState"]
