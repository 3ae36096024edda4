"""WhatsAppMCPClient against an in-memory lharries look-alike: the seed API, linear iteration, identity, export."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wamcp.chat_export import read_chat_export
from wamcp.config import RateLimits, WhatsAppConfig
from wamcp.errors import MCPConnectionError, MCPToolError
from wamcp.whatsapp import (
    InvalidPhoneNumberError,
    WhatsAppMCPClient,
    get_whatsapp_mcp_client,
    reset_whatsapp_mcp_client,
)

from .fake_mcp import FakeLharriesMCP
from .lharries_format import PrintedMessage

pytestmark = pytest.mark.anyio

SHOP = "447700900123@s.whatsapp.net"
GROUP = "120363712009030789@g.us"


def history(count: int, *, seed: int = 7) -> list[PrintedMessage]:
    """A chat with bursts: many messages share a second, some are exact duplicates, some span lines or are media."""
    rng = random.Random(seed)
    moment = datetime(2025, 3, 28, 18, 0, 0)
    out: list[PrintedMessage] = []
    while len(out) < count:
        moment -= timedelta(seconds=rng.choice([0, 0, 1, 1, 2, 30, 600]))
        text = rng.choice(["ok", "ok", "Thanks!", "Is it in stock?\nThe blue one", "No messages to display.", ""])
        media = "image" if rng.random() < 0.1 else None
        out.append(
            PrintedMessage(
                server_time=moment.strftime("%Y-%m-%d %H:%M:%S"),
                chat_jid=SHOP,
                chat_name="Isla Silva",
                sender="Isla Silva",
                content=text,
                is_from_me=rng.random() < 0.4,
                media_type=media,
                message_id=f"M{len(out):08d}" if media else "",
            )
        )
    return out


@pytest.fixture
def tools(probe_calls: dict[int, Any]) -> list[dict[str, Any]]:
    from .conftest import PROBE

    return list(json.loads(PROBE.read_text(encoding="utf-8"))["tools"])


def make_client(
    messages: list[PrintedMessage], tools: list[dict[str, Any]], **kw: Any
) -> tuple[WhatsAppMCPClient, FakeLharriesMCP]:
    chat_names = kw.pop("chat_names", None)
    fake = FakeLharriesMCP(messages, tools=tools, chat_names=chat_names, seed=kw.pop("seed", 0))
    config = WhatsAppConfig(server_timezone=kw.pop("server_timezone", "UTC"), **kw)
    return WhatsAppMCPClient(config, mcp_client=fake), fake  # type: ignore[arg-type]


def printed_key(m: PrintedMessage) -> tuple[str, str, str, bool]:
    return (m.server_time, m.content, m.media_type or "", m.is_from_me)


async def test_iter_messages_reads_every_message_once_with_keyset_pages(tools: list[dict[str, Any]]) -> None:
    messages = history(1234)
    client, fake = make_client(messages, tools)
    got = [m async for m in client.iter_messages(SHOP, page_size=50)]
    assert Counter((m.server_time, m.content, m.media_type or "", m.is_from_me) for m in got) == Counter(
        printed_key(m) for m in messages
    )
    assert len({m.id for m in got}) == len(messages)
    pages = [args for tool, args in fake.calls if tool == "list_messages"]
    assert all(args["page"] == 0 and args["include_context"] is False for args in pages)
    assert len(pages) <= len(messages) // 45 + 3  # linear: about one call per page
    assert [m.timestamp for m in got] == sorted((m.timestamp for m in got), reverse=True)
    assert client.stats.bad_lines == 0


async def test_ids_do_not_depend_on_the_servers_order_within_a_second(tools: list[dict[str, Any]]) -> None:
    messages = history(400)
    first, _ = make_client(messages, tools, seed=1)
    second, _ = make_client(messages, tools, seed=2)
    ids_a = {m.id async for m in first.iter_messages(SHOP, page_size=25)}
    ids_b = {m.id async for m in second.iter_messages(SHOP, page_size=25)}
    assert ids_a == ids_b
    assert len(ids_a) == 400


async def test_a_second_larger_than_the_page_grows_the_limit(tools: list[dict[str, Any]]) -> None:
    burst = [PrintedMessage("2025-03-28 10:00:00", SHOP, "Isla Silva", "Isla Silva", "ok") for _ in range(37)] + [
        PrintedMessage("2025-03-28 09:59:59", SHOP, "Isla Silva", "Isla Silva", "before")
    ]
    client, fake = make_client(burst, tools)
    got = [m async for m in client.iter_messages(SHOP, page_size=10)]
    assert len(got) == 38
    assert len({m.id for m in got}) == 38
    assert max(args["limit"] for _, args in fake.calls if _ == "list_messages") >= 40


async def test_since_is_inclusive_to_the_second(tools: list[dict[str, Any]]) -> None:
    messages = history(300)
    client, _ = make_client(messages, tools)
    cut = datetime.fromisoformat(messages[120].server_time).replace(tzinfo=UTC)
    got = [m async for m in client.iter_messages(SHOP, since=cut, page_size=40)]
    expected = [m for m in messages if m.server_time >= messages[120].server_time]
    assert len(got) == len(expected)
    with pytest.raises(ValueError, match="timezone-aware"):
        [m async for m in client.iter_messages(SHOP, since=datetime(2025, 1, 1))]


async def test_server_timezone_converts_to_utc_across_dst(tools: list[dict[str, Any]]) -> None:
    messages = [
        PrintedMessage("2025-03-30 03:30:00", SHOP, "Isla Silva", "Isla Silva", "after the change"),
        PrintedMessage("2025-03-30 00:30:00", SHOP, "Isla Silva", "Isla Silva", "before the change"),
    ]
    client, _ = make_client(messages, tools, server_timezone="Europe/London")
    got = [m async for m in client.iter_messages(SHOP)]
    assert [m.timestamp for m in got] == [
        datetime(2025, 3, 30, 2, 30, tzinfo=UTC),
        datetime(2025, 3, 30, 0, 30, tzinfo=UTC),
    ]


async def test_seed_api_returns_plain_dicts(tools: list[dict[str, Any]]) -> None:
    messages = history(60)
    group = PrintedMessage("2025-03-29 10:00:00", GROUP, "Market stall rota", "447700900100", "stall at 9")
    client, fake = make_client([group, *messages], tools)
    assert await client.initialize() is True
    assert client.profile.name == "lharries"
    chats = await client.list_chats(limit=10)
    assert [c["jid"] for c in chats] == [GROUP, SHOP]
    assert chats[0]["is_group"] is True
    assert chats[0]["last_message_time"] == "2025-03-29T10:00:00+00:00"
    assert set(chats[1]) >= {"jid", "name", "last_message_time", "last_message"}
    bare = await client.list_chats(include_last_message=False)
    assert bare[0]["last_message"] is None
    page = await client.get_chat_messages(SHOP.replace("@s.whatsapp.net", "@c.us"), limit=5)
    assert len(page) == 5
    assert page[0]["chat_jid"] == SHOP
    assert set(page[0]) >= {"id", "timestamp", "sender", "content", "is_from_me"}
    found = await client.search_messages("stall")
    assert [m["content"] for m in found] == ["stall at 9"]
    assert found[0]["chat_jid"] == GROUP  # mapped from the chat name learned by list_chats
    contacts = await client.search_contacts("isla")
    assert contacts == [{"jid": SHOP, "phone_number": "447700900123", "name": "Isla Silva"}]
    typed = await client.get_contacts("isla")
    assert typed[0].jid == SHOP
    chats_typed = [c async for c in client.iter_chats(page_size=1)]
    assert {c.jid for c in chats_typed} == {GROUP, SHOP}
    assert fake.idempotent("list_messages") is True
    assert fake.idempotent("send_message") is False


async def test_authenticate_reports_external_pairing_for_lharries(tools: list[dict[str, Any]]) -> None:
    client, _ = make_client(history(3), tools)
    result = await client.authenticate("+44 7700 900123")
    assert result["status"] == "paired_externally"
    assert result["qr_code"] is None
    assert "terminal" in result["message"]
    assert result["phone_number"] == "+447700900123"
    with pytest.raises(InvalidPhoneNumberError, match=r"E\.164"):
        await client.authenticate("12")


async def test_export_chat_in_json_csv_and_whatsapp_txt(tools: list[dict[str, Any]]) -> None:
    messages = history(80)
    client, _ = make_client(messages, tools)
    as_json = await client.export_chat(SHOP)
    payload = json.loads(as_json["content"])
    assert as_json["message_count"] == 80
    assert payload["chat"]["name"] == "Isla Silva"
    assert payload["messages"][0]["timestamp"] <= payload["messages"][-1]["timestamp"]  # oldest first
    as_csv = await client.export_chat(SHOP, format="csv", include_media=True)
    rows = list(csv.DictReader(io.StringIO(as_csv["content"])))
    assert len(rows) == 80
    media_rows = [r for r in rows if r["media_type"]]
    assert media_rows
    assert all(r["media_path"].startswith("/media/") for r in media_rows)
    as_txt = await client.export_chat(SHOP, format="txt", business_name="Acme: Store")
    read = read_chat_export(as_txt["content"])
    assert len(read) == 80
    assert {r.author for r in read} == {"Acme∶ Store", "Isla Silva"}
    with pytest.raises(ValueError, match="unknown export format"):
        await client.export_chat(SHOP, format="xml")  # type: ignore[arg-type]


async def test_health_status_and_disconnect(tools: list[dict[str, Any]]) -> None:
    client, fake = make_client(history(5), tools)
    # A fresh client connects first, as the seed's health snippet expects.
    health = await client.health_check()
    assert client.is_initialized is True
    assert health["mcp_connection"] is True
    assert health["whatsapp_connection"] == "unknown"
    status = await client.get_connection_status()
    assert status["connected"] is True
    assert status["profile"] == "lharries"
    assert status["parse_stats"]["bad_lines"] == 0
    await client.disconnect()
    assert client.is_initialized is False
    assert fake.closed is False  # not ours to close
    assert (await client.get_connection_status())["connected"] is False


async def test_initialize_failure_returns_false_with_the_reason(tools: list[dict[str, Any]]) -> None:
    client, fake = make_client([], tools)

    async def refuse(server_name: str) -> bool:
        raise MCPConnectionError("cannot reach WhatsApp MCP server at memory://fake: refused")

    fake.connect = refuse  # type: ignore[method-assign]
    assert await client.initialize(endpoint="http://localhost:3999", connection_type="http") is False
    assert isinstance(client.last_error, MCPConnectionError)
    assert client.config.server.endpoint == "http://localhost:3999"
    assert client.config.server.connection_type.value == "streamable_http"
    with pytest.raises(MCPConnectionError):
        await client.list_chats()
    with pytest.raises(MCPConnectionError, match="not initialized"):
        _ = client.profile
    health = await client.health_check()
    assert health["mcp_connection"] is False
    assert "refused" in health["error"]


async def test_singleton_is_shared_until_reset() -> None:
    reset_whatsapp_mcp_client()
    config = WhatsAppConfig()
    first = get_whatsapp_mcp_client(config)
    assert get_whatsapp_mcp_client() is first
    reset_whatsapp_mcp_client()
    assert get_whatsapp_mcp_client(config) is not first
    reset_whatsapp_mcp_client()


async def test_client_builds_its_own_core_client_and_auto_authenticates(
    tools: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeLharriesMCP(history(4), tools=tools)
    monkeypatch.setattr("wamcp.whatsapp.client.MCPClient", lambda: fake)
    config = WhatsAppConfig(server_timezone="UTC", auto_authenticate=True, phone_number="+447700900123")
    async with WhatsAppMCPClient(config) as client:
        assert client.is_initialized
        assert [m async for m in client.iter_messages(SHOP)]
        assert await client.initialize(auth_token="secret-token-1") is True
        assert client.config.server.token() == "secret-token-1"
        assert await client.initialize(auth_token="secret-token-2") is True
        assert client.config.server.token() == "secret-token-2"
        assert fake.registered[client.server_name].token() == "secret-token-2"  # re-registered, not reused
    assert fake.closed is True


async def test_client_loads_the_configuration_when_none_is_given(
    tools: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MCP_CONFIG_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))  # no user config file either
    monkeypatch.setenv("MCP_WHATSAPP_SERVER_TIMEZONE", "UTC")
    fake = FakeLharriesMCP(history(2), tools=tools)
    client = WhatsAppMCPClient(mcp_client=fake)  # type: ignore[arg-type]
    assert client.config.server_timezone == "UTC"
    other = WhatsAppMCPClient(mcp_client=fake)  # type: ignore[arg-type]
    assert await other.initialize(endpoint="http://127.0.0.1:3000") is True
    assert other.config.server.endpoint == "http://127.0.0.1:3000"
    assert fake.idempotent is not None


async def test_media_export_without_a_download_tool_and_with_failures(tools: list[dict[str, Any]]) -> None:
    messages = [m for m in history(200) if m.media_type][:3]
    without = [t for t in tools if t["name"] != "download_media"]
    client, _ = make_client(messages, without)
    result = await client.export_chat(SHOP, format="csv", include_media=True)
    assert result["message_count"] == 3
    assert "/media/" not in result["content"]
    client, fake = make_client(messages, tools)

    def broken(message_id: str, chat_jid: str) -> list[str]:
        if message_id.endswith("0"):
            raise MCPToolError("gone", text="gone")
        return ["not json"]

    fake._download_media = broken  # type: ignore[method-assign]
    result = await client.export_chat(SHOP, format="json", include_media=True)
    assert all(m["media_path"] is None for m in json.loads(result["content"])["messages"])


async def test_health_when_the_status_read_fails(tools: list[dict[str, Any]]) -> None:
    client, fake = make_client(history(2), tools)
    await client.initialize()

    def failing(**_: Any) -> list[str]:
        raise MCPToolError("database locked", text="database locked")

    fake._list_chats = failing  # type: ignore[method-assign]
    health = await client.health_check()
    assert health["mcp_connection"] is True
    assert health["whatsapp_connection"] is False
    assert "database locked" in health["error"]
    fake.healthy = False
    assert (await client.health_check())["mcp_connection"] is False


@pytest.mark.parametrize("parallel", [1, 2, 5])
async def test_iter_all_messages_equals_per_chat_walks(tools: list[dict[str, Any]], parallel: int) -> None:
    rng = random.Random(5)
    names = {
        SHOP: "Isla Silva",
        "447700900124@s.whatsapp.net": "Twin",
        "447700900125@s.whatsapp.net": "Twin",
        "447700900126@s.whatsapp.net": "Lead From: FB ad",
        GROUP: "Market stall rota",
    }
    messages = []
    moment = datetime(2025, 3, 28, 18, 0, 0)
    for i in range(900):
        moment -= timedelta(seconds=rng.choice([0, 1, 7, 300]))
        jid = rng.choice(list(names))
        fake = "\n[2025-03-28 10:00:00] Chat: Nobody From: Me: forwarded" if i % 97 == 0 else ""
        messages.append(
            PrintedMessage(
                moment.strftime("%Y-%m-%d %H:%M:%S"),
                jid,
                names[jid],
                rng.choice(["Ana", "447700900999"]),
                rng.choice(["ok", "hello", "No messages to display."]) + fake,
                is_from_me=rng.random() < 0.3,
                media_type="image" if i % 13 == 0 else None,
                message_id=f"IMG{i}",
            )
        )
    messages.sort(key=lambda m: m.server_time, reverse=True)
    client, fake_mcp = make_client(messages, tools, chat_names=names)
    per_chat = {(m.chat_jid, m.id) for jid in names async for m in client.iter_messages(jid, page_size=60)}
    everything = [(m.chat_jid, m.id) async for m in client.iter_all_messages(page_size=60, parallel=parallel)]
    assert len(everything) == len(set(everything)) == len(messages)
    assert set(everything) == per_chat
    cross = [args for tool, args in fake_mcp.calls if tool == "list_messages" and "chat_jid" not in args]
    assert cross
    newest = datetime.fromisoformat(messages[0].server_time) + timedelta(seconds=1)
    assert cross[0]["before"] == newest.strftime("%Y-%m-%d %H:%M:%S")
    # Split walks ask for spans with a lower bound; a single walk never does.
    assert any("after" in args for args in cross) == (parallel > 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        [m async for m in client.iter_all_messages(since=datetime(2025, 1, 1))]
    recent = datetime.fromisoformat(messages[100].server_time).replace(tzinfo=UTC)
    newer = [m async for m in client.iter_all_messages(since=recent, parallel=parallel)]
    assert len(newer) == sum(1 for m in messages if m.server_time >= messages[100].server_time)


@pytest.mark.parametrize(
    ("twins", "limited", "walks"), [(2, False, True), (3, False, False), (4, False, False), (4, True, True)]
)
async def test_the_walk_across_chats_is_left_out_when_most_chats_share_a_name(
    tools: list[dict[str, Any]], twins: int, limited: bool, walks: bool
) -> None:
    """Two chats with a unique name, and ``twins`` chats printed with one shared name: the walk across chats, which
    re-reads every twin's lines only to drop them, is made only while at least half the chats have a unique name,
    or whenever it saves a call when the client limits the rate of calls (the default ``rate_limits``); without it
    every chat is read on its own, and either way every message comes back exactly once."""
    names = {SHOP: "Isla Silva", GROUP: "Market stall rota"}
    names |= {f"44770090013{i}@s.whatsapp.net": "Twin" for i in range(twins)}
    rng = random.Random(twins)
    moment = datetime(2025, 3, 28, 18, 0, 0)
    messages = []
    for i in range(300):
        moment -= timedelta(seconds=rng.choice([1, 7, 300]))
        jid = rng.choice(list(names))
        messages.append(
            PrintedMessage(moment.strftime("%Y-%m-%d %H:%M:%S"), jid, names[jid], "Ana", f"m{i}", is_from_me=i % 3 == 0)
        )
    messages.sort(key=lambda m: m.server_time, reverse=True)
    limits = RateLimits() if limited else RateLimits.disabled()
    client, fake_mcp = make_client(messages, tools, chat_names=names, rate_limits=limits)
    chats = [chat async for chat in client.iter_chats()]
    walked = client.profile.cross_chat_jids(chats)
    assert walked == ({SHOP, GROUP} if walks else set())
    got = [(m.chat_jid, m.content) async for m in client.iter_all_messages(page_size=60, chats=chats)]
    assert sorted(got) == sorted((m.chat_jid, m.content) for m in messages)
    reads = [args for tool, args in fake_mcp.calls if tool == "list_messages"]
    across = [args for args in reads if "chat_jid" not in args]
    assert bool(across) == walks
    assert {args["chat_jid"] for args in reads if "chat_jid" in args} == set(names) - walked


async def test_call_tool_and_use_config_for_the_sync_facade(tools: list[dict[str, Any]]) -> None:
    client, fake = make_client(history(3), tools)
    raw = await client.call_tool("search_contacts", {"query": "isla"})
    assert json.loads(raw["text"])["jid"] == SHOP
    assert client.profile.name == "lharries"
    await client.disconnect()
    client.use_config(WhatsAppConfig(server_timezone="Europe/Paris", server={"endpoint": "http://127.0.0.1:9"}))
    assert await client.initialize() is True
    assert fake.registered[client.server_name].endpoint == "http://127.0.0.1:9"
    assert str(client.profile.clock.zone) == "Europe/Paris"  # type: ignore[attr-defined]


async def test_iter_message_pages_honours_exclusive_bounds(tools: list[dict[str, Any]]) -> None:
    messages = history(500)
    client, _ = make_client(messages, tools)
    low = datetime.fromisoformat(messages[400].server_time).replace(tzinfo=UTC)
    high = datetime.fromisoformat(messages[50].server_time).replace(tzinfo=UTC)
    pages = [page async for page in client.iter_message_pages(SHOP, after=low, before=high, page_size=30)]
    got = [m for page in pages for m in page]
    expected = [m for m in messages if low < datetime.fromisoformat(m.server_time).replace(tzinfo=UTC) < high]
    assert len(got) == len(expected)
    assert len({m.id for m in got}) == len(got)
    assert len(pages) > 3
    assert all(page for page in pages)
    fraction = high + timedelta(milliseconds=500)
    with_second = [m async for page in client.iter_message_pages(SHOP, before=fraction) for m in page]
    assert with_second[0].timestamp == high  # the whole second before a fractional bound
    with pytest.raises(ValueError, match="timezone-aware"):
        [p async for p in client.iter_message_pages(SHOP, after=datetime(2025, 1, 1))]


def test_loaded_config_is_accepted(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from wamcp.config import load_config

    monkeypatch.chdir(tmp_path)
    loaded = load_config(use_file=False, environ={"MCP_WHATSAPP_SERVER_TIMEZONE": "Asia/Tokyo"})
    client = WhatsAppMCPClient(loaded)
    assert client.config.server_timezone == "Asia/Tokyo"
    client.use_config(loaded)
    assert client.config is loaded.config


async def test_bad_initialize_arguments_return_false(tools: list[dict[str, Any]]) -> None:
    client, _ = make_client(history(2), tools)
    assert await client.initialize(connection_type="carrier-pigeon") is False
    assert "connection_type" in str(client.last_error)
    assert await client.initialize(endpoint="   ") is False
    assert "invalid server settings" in str(client.last_error)
    config = WhatsAppConfig(server_timezone="UTC", auto_authenticate=True, phone_number="+1")
    odd = WhatsAppMCPClient(config, mcp_client=FakeLharriesMCP([], tools=tools))  # type: ignore[arg-type]
    assert await odd.initialize() is True  # a bad number only fails the pairing, not the connection


def test_the_clients_repr_names_its_server_and_hides_credentials() -> None:
    from wamcp.config import ServerConfig, WhatsAppConfig

    server = ServerConfig(endpoint="http://user:pw@127.0.0.1:3000/sse?token=abc", auth_token="s3cret")
    shown = repr(WhatsAppMCPClient(WhatsAppConfig(server=server, phone_number="+447700900123")))

    assert "github.com/lharries/whatsapp-mcp" in shown
    assert "127.0.0.1:3000" in shown
    assert "initialized=False" in shown
    for secret in ("pw", "abc", "s3cret", "447700900123"):
        assert secret not in shown.replace("whatsapp", "")
