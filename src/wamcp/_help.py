"""How options read in ``--help``: a flag shows no value placeholder (for ``wamcp``, ``whatsapp-mcp-extractor`` and
``python -m wamcp.demo``, hence here and not in the CLI layer).

Typer (0.2x, its own vendored Click) prints a type column for every option, flags included: ``--demo <bool>``,
``--help <bool>``, as if they took a value. Our value options name their value with a metavar (``--max-chats N``);
this module blanks the column for flags, including the ``--help`` option Typer adds to each command, which no
option declaration of ours can reach. Count options (``-v``) already show nothing. Typer offers no setting for it.
"""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["flags_without_placeholder"]


def _is_flag(param: Any) -> bool:
    return bool(getattr(param, "is_flag", False)) and not getattr(param, "count", False)


def flags_without_placeholder(command: Any) -> Any:
    """Blank the help placeholder of every flag of ``command`` and of its sub-commands; returns ``command``.

    ``command`` is the Click command Typer builds (``typer.main.get_command``); an explicit metavar is kept.
    """
    params = list(command.params)
    help_option = command.get_help_option(typer.Context(command))
    if help_option is not None:
        params.append(help_option)
    for param in params:
        if _is_flag(param) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        flags_without_placeholder(sub)
    return command
