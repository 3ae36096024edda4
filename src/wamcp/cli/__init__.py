"""The ``wamcp`` command line: the only layer that knows every other layer."""

from __future__ import annotations

from .app import app, main

__all__ = ["app", "main"]
