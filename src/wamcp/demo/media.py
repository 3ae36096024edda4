"""``download_media`` for the demo: writes a placeholder file, and only ever inside the demo media directory.

Both the caller's arguments and the database's ``filename`` column are untrusted (a copied bridge database may hold
anything), so every path component is checked and the final path must resolve under the media directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .bridge import Bridge

__all__ = ["DownloadRefusedError", "download_media", "safe_component"]

_UNSAFE = re.compile(r"[\\/\x00]|^\.{1,2}$")


class DownloadRefusedError(ValueError):
    """The request would write outside the media directory."""


def safe_component(value: str, what: str) -> str:
    """``value`` if it is a plain file-name component, else :class:`DownloadRefusedError`."""
    if not value or _UNSAFE.search(value) or ".." in value:
        raise DownloadRefusedError(f"refusing {what} {value!r}: it is not a plain name inside the media directory")
    return value


def download_media(bridge: Bridge, message_id: str, chat_jid: str) -> Path | None:
    """Write the media of (``message_id``, ``chat_jid``) under ``bridge.media_dir``; None when there is none."""
    safe_component(message_id, "message id")
    safe_component(chat_jid, "chat JID")
    row = bridge.media_row(message_id, chat_jid)
    if row is None:
        return None
    media_type, filename = row
    name = safe_component(filename or f"{message_id}.bin", "file name")
    root = bridge.media_dir.resolve()
    target = (root / chat_jid / name).resolve()
    if not target.is_relative_to(root):
        raise DownloadRefusedError(f"refusing to write {target}: outside the media directory {root}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(f"wamcp demo placeholder {media_type} for message {message_id}\n".encode())
    return target
