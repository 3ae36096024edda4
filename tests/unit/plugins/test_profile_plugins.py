"""Profile plugins: entry points in the ``wamcp.profiles`` group, found, ordered, selected and skipped when broken.

Each test installs fake distributions the way pip would leave them: a module and a ``<name>-<version>.dist-info``
directory (``METADATA`` + ``entry_points.txt``) in a temporary directory put on ``sys.path``.
"""

from __future__ import annotations

import logging
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from wamcp.config import ServerConfig, WhatsAppConfig
from wamcp.errors import ConfigError
from wamcp.whatsapp import WhatsAppMCPClient
from wamcp.whatsapp.profiles import LharriesProfile, StructuredProfile, build_profile
from wamcp.whatsapp.profiles.plugins import ProfileSelectionError, load_plugins
from wamcp.whatsapp.timeparse import ServerClock

CLOCK = ServerClock("UTC")
EXAMPLE = Path(__file__).with_name("acme_wamcp.py")
ACME_TOOLS: list[dict[str, Any]] = [
    {"name": "acme_chats", "inputSchema": {"properties": {"limit": {}, "offset": {}}}},
    {"name": "acme_history", "inputSchema": {"properties": {"jid": {}, "limit": {}, "offset": {}}}},
    {"name": "acme_send", "inputSchema": {"properties": {"jid": {}, "text": {}}}},
]
LHARRIES_TOOLS: list[dict[str, Any]] = [
    {"name": "list_chats", "inputSchema": {"properties": {"limit": {}}}},
    {"name": "list_messages", "inputSchema": {"properties": {"include_context": {}, "chat_jid": {}}}},
]

Install = Callable[..., Path]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """``install(dist, entry_points={name: "module:attr"}, modules={module: source})``: a fake installed package."""
    added: list[str] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def _install(dist: str, *, entry_points: dict[str, str], modules: dict[str, str] | None = None) -> Path:
        for module, source in (modules or {}).items():
            (tmp_path / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
            added.append(module)
        info = tmp_path / f"{dist}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8")
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[wamcp.profiles]\n{lines}", encoding="utf-8")
        return info

    yield _install
    for module in added:
        sys.modules.pop(module, None)


@pytest.fixture
def acme(install: Install, tmp_path: Path) -> Iterator[type[Any]]:
    """The docs' worked example, installed as the distribution ``acme-wamcp``; returns its profile class."""
    shutil.copy(EXAMPLE, tmp_path / "acme_wamcp.py")
    install("acme_wamcp", entry_points={"acme": "acme_wamcp:AcmeProfile"}, modules={})
    sys.modules.pop("acme_wamcp", None)
    plugins = load_plugins()
    assert plugins.names() == ["acme"]
    cls: type[Any] = type(plugins.plugins[0].spec.factory(ACME_TOOLS, CLOCK, server_name="x"))
    yield cls
    sys.modules.pop("acme_wamcp", None)


def test_auto_detection_asks_an_installed_plugin_first(acme: type[Any]) -> None:
    profile = build_profile("auto", ACME_TOOLS, CLOCK, server_name="gateway")
    assert isinstance(profile, acme)
    assert profile.name == "acme"
    assert profile.server_name == "gateway"
    assert profile.is_idempotent("acme_history")
    assert not profile.is_idempotent("acme_send")


def test_a_plugin_that_does_not_claim_the_server_leaves_the_built_in_rules(acme: type[Any]) -> None:
    assert isinstance(build_profile("auto", LHARRIES_TOOLS, CLOCK), LharriesProfile)
    assert isinstance(build_profile("auto", [{"name": "get_chats"}], CLOCK), StructuredProfile)


def test_config_may_name_a_plugin_profile(acme: type[Any]) -> None:
    config = WhatsAppConfig(profile="acme")
    assert config.profile == "acme"
    # Named explicitly, the plugin is used even for a tool list its detect would not claim.
    assert isinstance(build_profile(config.profile, LHARRIES_TOOLS, CLOCK), acme)
    assert isinstance(build_profile("lharries", ACME_TOOLS, CLOCK), LharriesProfile)


def test_an_unknown_profile_is_refused_naming_the_installed_plugins(acme: type[Any]) -> None:
    with pytest.raises(ValidationError, match=r"unknown profile 'acmee'.*\(acme\)"):
        WhatsAppConfig(profile="acmee")
    with pytest.raises(ProfileSelectionError, match=r"unknown profile 'acmee'.*\(acme\)") as caught:
        build_profile("acmee", ACME_TOOLS, CLOCK)
    assert isinstance(caught.value, ConfigError)
    assert isinstance(caught.value, ValueError)


def test_without_plugins_the_built_ins_alone_are_accepted(install: Install) -> None:
    assert load_plugins().names() == []
    assert WhatsAppConfig(profile=" structured ").profile == "structured"
    with pytest.raises(ValidationError, match="none installed"):
        WhatsAppConfig(profile="acme")


def test_a_plugin_that_fails_to_import_is_skipped_with_a_warning(
    install: Install, caplog: pytest.LogCaptureFixture
) -> None:
    install("broken_dist", entry_points={"broken": "broken_mod:Profile"}, modules={"broken_mod": "import nowhere\n"})
    with caplog.at_level(logging.WARNING, logger="wamcp"):
        profile = build_profile("auto", LHARRIES_TOOLS, CLOCK)
    assert isinstance(profile, LharriesProfile)
    assert "profile plugin 'broken' from broken_dist 1.0 (broken_mod:Profile) skipped" in caplog.text
    assert "ModuleNotFoundError" in caplog.text
    # Named explicitly it cannot be skipped: the server would be read with the wrong parser.
    with pytest.raises(ProfileSelectionError, match=r"failed to load.*ModuleNotFoundError"):
        build_profile("broken", LHARRIES_TOOLS, CLOCK)


BAD_PLUGINS = """
    from wamcp.whatsapp.profiles import StructuredProfile
    from wamcp.whatsapp.profiles.plugins import ProfilePlugin

    NOT_A_PROFILE = "structured"

    class DetectRaises(StructuredProfile):
        priority = 50
        @staticmethod
        def detect(tools):
            raise RuntimeError("detect bug")

    class ConstructorRaises(StructuredProfile):
        priority = 40
        @staticmethod
        def detect(tools):
            return True
        def __init__(self, tools, clock, *, server_name):
            raise KeyError("constructor bug")

    def _not_a_profile(tools, clock, *, server_name):
        return object()

    RETURNS_JUNK = ProfilePlugin(factory=_not_a_profile, detect=lambda tools: True, priority=30)
    BAD_PRIORITY = ProfilePlugin(factory=StructuredProfile, priority="high")

    class Working(StructuredProfile):
        name = "working"
        @staticmethod
        def detect(tools):
            return True
"""


def test_broken_plugins_never_stop_detection(install: Install, caplog: pytest.LogCaptureFixture) -> None:
    install(
        "bad_plugins",
        modules={"bad_plugins": BAD_PLUGINS},
        entry_points={
            "not-a-profile": "bad_plugins:NOT_A_PROFILE",
            "detect-raises": "bad_plugins:DetectRaises",
            "constructor-raises": "bad_plugins:ConstructorRaises",
            "returns-junk": "bad_plugins:RETURNS_JUNK",
            "bad-priority": "bad_plugins:BAD_PRIORITY",
            "working": "bad_plugins:Working",
        },
    )
    with caplog.at_level(logging.WARNING, logger="wamcp"):
        plugins = load_plugins()
        assert plugins.names() == ["constructor-raises", "detect-raises", "returns-junk", "working"]
        assert set(plugins.broken) == {"not-a-profile", "bad-priority"}
        profile = build_profile("auto", ACME_TOOLS, CLOCK, server_name="srv")
    assert type(profile).__name__ == "Working"
    for expected in (
        "'not-a-profile' from bad_plugins 1.0 (bad_plugins:NOT_A_PROFILE) skipped: it failed to load "
        "(TypeError: expected a profile class or a ProfilePlugin, got str)",
        "'bad-priority' from bad_plugins 1.0 (bad_plugins:BAD_PRIORITY) skipped: it failed to load "
        "(TypeError: its priority must be an int, got 'high')",
        "'detect-raises' from bad_plugins 1.0 (bad_plugins:DetectRaises) skipped for server srv: RuntimeError: detect",
        "'constructor-raises' from bad_plugins 1.0 (bad_plugins:ConstructorRaises) skipped for server srv: KeyError",
        "'returns-junk' from bad_plugins 1.0 (bad_plugins:RETURNS_JUNK) skipped for server srv: TypeError: its "
        "factory returned a object, which lacks the Profile methods",
    ):
        assert expected in caplog.text
    with pytest.raises(ProfileSelectionError, match="could not be set up for server srv: KeyError") as caught:
        build_profile("constructor-raises", ACME_TOOLS, CLOCK, server_name="srv")
    assert isinstance(caught.value.__cause__, KeyError)


def test_higher_priority_plugins_are_asked_first_then_by_name(install: Install) -> None:
    source = """
        from wamcp.whatsapp.profiles import StructuredProfile
        from wamcp.whatsapp.profiles.plugins import ProfilePlugin

        def claim(tools):
            return True

        def _make(label):
            def factory(tools, clock, *, server_name):
                profile = StructuredProfile(tools, clock, server_name=server_name)
                profile.name = label
                return profile
            return factory

        LOW = ProfilePlugin(factory=_make("low"), detect=claim, priority=-1)
        ZULU = ProfilePlugin(factory=_make("zulu"), detect=claim, priority=5)
        ALPHA = ProfilePlugin(factory=_make("alpha"), detect=claim, priority=5)
        SILENT = ProfilePlugin(factory=_make("silent"), priority=100)
    """
    install(
        "ranked",
        modules={"ranked": source},
        entry_points={"low": "ranked:LOW", "zulu": "ranked:ZULU", "alpha": "ranked:ALPHA", "silent": "ranked:SILENT"},
    )
    assert [plugin.name for plugin in load_plugins().plugins] == ["silent", "alpha", "zulu", "low"]
    # silent has no detect: only an explicit profile setting selects it.
    assert build_profile("auto", [], CLOCK).name == "alpha"
    assert build_profile("silent", [], CLOCK).name == "silent"


def test_a_plugin_may_not_take_a_built_in_name_or_one_already_taken(
    install: Install, caplog: pytest.LogCaptureFixture
) -> None:
    source = """
        from wamcp.whatsapp.profiles import StructuredProfile

        class Impostor(StructuredProfile):
            @staticmethod
            def detect(tools):
                return False
    """
    install("impostor", modules={"impostor": source}, entry_points={"lharries": "impostor:Impostor"})
    install("first", entry_points={"dup": "impostor:Impostor"})
    install("second", entry_points={"dup": "impostor:Impostor"})
    with caplog.at_level(logging.WARNING, logger="wamcp"):
        plugins = load_plugins()
    assert plugins.names() == ["dup"]
    assert "profile plugin 'lharries' from impostor 1.0 (impostor:Impostor) skipped: that name belongs" in caplog.text
    assert "another distribution already provides it" in caplog.text
    assert isinstance(build_profile("lharries", [], CLOCK), LharriesProfile)


def test_an_unreadable_entry_point_table_falls_back_to_the_built_ins(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def corrupt(**_: Any) -> Any:
        raise OSError("bad METADATA")

    monkeypatch.setattr(metadata, "entry_points", corrupt)
    with caplog.at_level(logging.WARNING, logger="wamcp"):
        assert isinstance(build_profile("auto", LHARRIES_TOOLS, CLOCK), LharriesProfile)
    assert "cannot list wamcp.profiles entry points (OSError: bad METADATA)" in caplog.text


class FakeGateway:
    """The part of the core MCPClient that WhatsAppMCPClient uses, answering like the Acme gateway."""

    def __init__(self) -> None:
        self.registered: dict[str, ServerConfig] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.idempotent: Any = None

    @property
    def servers(self) -> list[str]:
        return list(self.registered)

    def add_server(self, config: ServerConfig, *, rate_limits: Any = None, idempotent: Any = None) -> None:
        self.registered[config.name] = config
        self.idempotent = idempotent

    async def connect(self, server_name: str) -> bool:
        return True

    async def disconnect(self, server_name: str) -> None:
        self.registered.pop(server_name, None)

    async def list_tools(self, server_name: str) -> list[dict[str, Any]]:
        return ACME_TOOLS

    def status(self, server_name: str) -> dict[str, Any]:
        return {"state": "connected"}

    async def execute_tool(self, server_name: str, tool_name: str, arguments: dict[str, Any], **_: Any) -> Any:
        self.calls.append((tool_name, arguments))
        if tool_name == "acme_chats":
            items = [{"jid": "447700900101@s.whatsapp.net", "title": "Ana", "last_ts": 1_700_000_000}]
        else:
            items = [{"id": "m1", "ts": 1_700_000_000, "from": "Ana", "text": "hello"}, {"id": "junk"}]
        return {"structured_content": {"items": items}, "content": [], "is_error": False}


async def _run_whatsapp_client() -> tuple[WhatsAppMCPClient, FakeGateway]:
    gateway = FakeGateway()
    client = WhatsAppMCPClient(WhatsAppConfig(), mcp_client=gateway)  # type: ignore[arg-type]
    assert await client.initialize()
    return client, gateway


@pytest.mark.anyio
async def test_the_whatsapp_client_runs_on_a_detected_plugin_profile(acme: type[Any]) -> None:
    client, gateway = await _run_whatsapp_client()
    assert isinstance(client.profile, acme)
    status = await client.get_connection_status()
    assert status["profile"] == "acme"
    chats = await client.list_chats()
    assert [chat["name"] for chat in chats] == ["Ana"]
    messages = await client.get_chat_messages("447700900101@s.whatsapp.net", limit=5)
    assert [message["content"] for message in messages] == ["hello"]
    assert client.stats.bad_rows == 1
    assert gateway.idempotent("acme_history")
    assert not gateway.idempotent("acme_send")


@pytest.mark.anyio
async def test_a_broken_plugin_named_in_the_config_fails_initialize_with_a_clear_error(install: Install) -> None:
    install("broken_dist", entry_points={"broken": "broken_mod:Profile"}, modules={"broken_mod": "import nowhere\n"})
    client = WhatsAppMCPClient(WhatsAppConfig(profile="broken"), mcp_client=FakeGateway())  # type: ignore[arg-type]
    assert await client.initialize() is False
    assert isinstance(client.last_error, ProfileSelectionError)
    assert "profile 'broken' comes from a plugin that failed to load" in str(client.last_error)
    assert "set profile to auto" in str(client.last_error)
