"""Server profiles from other distributions, found through the ``wamcp.profiles`` entry-point group.

A third party adds support for another WhatsApp MCP server by shipping a profile and declaring it in its
``pyproject.toml`` (docs/plugins.md has a worked example)::

    [project.entry-points."wamcp.profiles"]
    acme = "acme_wamcp:AcmeProfile"          # a profile class, or a ProfilePlugin

The entry point's name is the profile's name, so config ``profile: "acme"`` selects it. With ``profile: "auto"``
every plugin that has a ``detect`` function is asked first, highest ``priority`` first, and the built-in detection
only runs when none claims the server. The one thing to know: third-party code must never stop the client from
connecting, so a plugin that fails to import, declares something that is not a profile factory, or raises in its
``detect`` or its constructor during detection is logged at WARNING and skipped. Only a plugin the config names
explicitly turns its failure into an error (:class:`ProfileSelectionError`), because skipping it would silently read
the server with the wrong parser.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Protocol

from ...errors import ConfigError
from ...redact import get_logger
from ..timeparse import ServerClock
from .base import Profile

__all__ = [
    "BUILTIN_PROFILES",
    "ENTRY_POINT_GROUP",
    "LoadedPlugins",
    "ProfileFactory",
    "ProfilePlugin",
    "ProfileSelectionError",
    "ToolDetector",
    "build_plugin_profile",
    "detect_plugin_profile",
    "load_plugins",
]

logger = get_logger(__name__)

ENTRY_POINT_GROUP = "wamcp.profiles"
#: Names a plugin may not take: the config's ``auto`` and the built-in profiles always mean ours.
BUILTIN_PROFILES = ("auto", "lharries", "structured")

#: ``detect(tools) -> bool``: does this server's tool list (dicts with ``name``, ``inputSchema``, …) look like ours?
ToolDetector = Callable[[Sequence[Mapping[str, Any]]], bool]


class ProfileFactory(Protocol):
    """Builds a profile for one connection; a profile class whose ``__init__`` has this signature is one."""

    def __call__(self, tools: Sequence[Mapping[str, Any]], clock: ServerClock, *, server_name: str) -> Profile: ...


@dataclass(frozen=True, slots=True)
class ProfilePlugin:
    """What a ``wamcp.profiles`` entry point may point to when a bare profile class is not enough.

    ``factory`` builds the profile; ``detect`` (optional) claims a server from its tool list during ``auto``
    detection (a plugin without one is only used when the config names it); plugins with a higher ``priority`` are
    asked first. A profile *class* may serve as the entry point directly: its ``detect`` static/class method and its
    ``priority`` class attribute, when present, are read the same way.
    """

    factory: ProfileFactory
    detect: ToolDetector | None = None
    priority: int = 0


@dataclass(frozen=True, slots=True)
class _Plugin:
    name: str
    source: str
    spec: ProfilePlugin


class ProfileSelectionError(ConfigError, ValueError):
    """The config names a profile that is not built in and no working plugin provides.

    A :class:`~wamcp.errors.ConfigError`, so the WhatsApp client reports it like any configuration mistake, and a
    ``ValueError`` for callers that already caught the unknown-profile error as one.
    """


@dataclass(slots=True)
class LoadedPlugins:
    """The usable plugins, in the order detection asks them, and the broken ones with the reason."""

    plugins: list[_Plugin] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted(plugin.name for plugin in self.plugins)

    def get(self, name: str) -> _Plugin | None:
        return next((plugin for plugin in self.plugins if plugin.name == name), None)


def _describe(entry_point: metadata.EntryPoint) -> str:
    dist = entry_point.dist
    owner = f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"
    return f"{owner} ({entry_point.value})"


def _as_plugin(obj: object) -> ProfilePlugin:
    """The :class:`ProfilePlugin` an entry point declares, or ``TypeError`` saying what is wrong with it."""
    if isinstance(obj, ProfilePlugin):
        spec = obj
    elif callable(obj):
        detect = getattr(obj, "detect", None)
        priority = getattr(obj, "priority", 0)
        spec = ProfilePlugin(factory=obj, detect=detect, priority=priority)
    else:
        raise TypeError(f"expected a profile class or a ProfilePlugin, got {type(obj).__name__}")
    if not callable(spec.factory):
        raise TypeError("its factory is not callable")
    if spec.detect is not None and not callable(spec.detect):
        raise TypeError("its detect attribute is not callable")
    if isinstance(spec.priority, bool) or not isinstance(spec.priority, int):
        raise TypeError(f"its priority must be an int, got {spec.priority!r}")
    return spec


def load_plugins() -> LoadedPlugins:
    """Import every ``wamcp.profiles`` entry point; broken ones are logged at WARNING and listed in ``broken``.

    Entry points are read on every call (not cached), so a plugin installed while a long-running process waits
    is picked up at its next connection; importing is cached by Python itself.
    """
    loaded = LoadedPlugins()
    try:
        entry_points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception as err:  # a corrupt installed distribution must not stop detection
        logger.warning(
            "cannot list %s entry points (%s: %s); using the built-in profiles",
            ENTRY_POINT_GROUP,
            type(err).__name__,
            err,
        )
        return loaded
    for entry_point in entry_points:
        name, source = entry_point.name, _describe(entry_point)
        if name in BUILTIN_PROFILES:
            logger.warning("profile plugin %r from %s skipped: that name belongs to a built-in", name, source)
            continue
        if loaded.get(name) is not None:
            logger.warning("profile plugin %r from %s skipped: another distribution already provides it", name, source)
            continue
        try:
            spec = _as_plugin(entry_point.load())
        except Exception as err:  # third-party import-time code can raise anything
            reason = f"{type(err).__name__}: {err}"
            loaded.broken[name] = f"{source}: {reason}"
            logger.warning("profile plugin %r from %s skipped: it failed to load (%s)", name, source, reason)
            continue
        loaded.plugins.append(_Plugin(name, source, spec))
    loaded.plugins.sort(key=lambda plugin: (-plugin.spec.priority, plugin.name))
    return loaded


def _build(plugin: _Plugin, tools: Sequence[Mapping[str, Any]], clock: ServerClock, server_name: str) -> Profile:
    profile = plugin.spec.factory(tools, clock, server_name=server_name)
    if not isinstance(profile, Profile):
        raise TypeError(f"its factory returned a {type(profile).__name__}, which lacks the Profile methods")
    return profile


def detect_plugin_profile(
    tools: Sequence[Mapping[str, Any]],
    clock: ServerClock,
    *,
    server_name: str,
    plugins: LoadedPlugins | None = None,
) -> Profile | None:
    """The profile of the first plugin (by priority, then name) whose ``detect`` claims the server, else ``None``."""
    registry = plugins if plugins is not None else load_plugins()
    for plugin in registry.plugins:
        detect = plugin.spec.detect
        if detect is None:
            continue
        try:
            if not detect(tools):
                continue
            profile = _build(plugin, tools, clock, server_name)
        except Exception as err:  # a plugin's bug costs its own profile, never the connection
            logger.warning(
                "profile plugin %r from %s skipped for server %s: %s: %s",
                plugin.name,
                plugin.source,
                server_name,
                type(err).__name__,
                err,
            )
            continue
        logger.info("server %s claimed by the %s profile plugin (%s)", server_name, plugin.name, plugin.source)
        return profile
    return None


def build_plugin_profile(
    name: str,
    tools: Sequence[Mapping[str, Any]],
    clock: ServerClock,
    *,
    server_name: str,
    plugins: LoadedPlugins | None = None,
) -> Profile:
    """The profile of the plugin the config names; :class:`ProfileSelectionError` when it is missing or broken."""
    registry = plugins if plugins is not None else load_plugins()
    plugin = registry.get(name)
    if plugin is None:
        if name in registry.broken:
            raise ProfileSelectionError(
                f"profile {name!r} comes from a plugin that failed to load: {registry.broken[name]}",
                server=server_name,
                hint="fix or reinstall that package, or set profile to auto",
            )
        installed = ", ".join(registry.names()) or "none installed"
        raise ProfileSelectionError(
            f"unknown profile {name!r}: expected auto, lharries, structured or a {ENTRY_POINT_GROUP} plugin "
            f"({installed})",
            server=server_name,
            hint="install the package that provides it, or set profile to auto",
        )
    try:
        return _build(plugin, tools, clock, server_name)
    except Exception as err:
        raise ProfileSelectionError(
            f"profile plugin {name!r} from {plugin.source} could not be set up for server {server_name}: "
            f"{type(err).__name__}: {err}",
            server=server_name,
            hint="report it to the plugin's authors, or set profile to auto",
        ) from err
