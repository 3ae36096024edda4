"""Bad inputs, fuzzed with hypothesis: config files, CLI arguments, JIDs and phone numbers, and server outputs. Each
either works or gives a clear error of our own (``ConfigError``, ``InvalidJIDError``, … one line; exit code 2 on the
CLI), never another exception, a traceback or a hang.

Derandomized (the same examples on every run) and small, so CI stays fast and stable. The parsers' own fuzz tests
(``tests/unit/whatsapp/test_lharries_parser.py``: garbage listings and JSON blocks) are not repeated here; this file
feeds garbage to whole profile calls instead (including the re-reads of damaged listings).
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from wamcp.cli import app
from wamcp.config import load_config
from wamcp.errors import ConfigError, MCPClientError
from wamcp.whatsapp.jid import (
    InvalidJIDError,
    InvalidPhoneNumberError,
    is_group_jid,
    jid_user,
    normalize_jid,
    validate_phone_number,
)
from wamcp.whatsapp.profiles.lharries import LharriesProfile
from wamcp.whatsapp.profiles.structured import StructuredProfile
from wamcp.whatsapp.timeparse import ServerClock

pytestmark = pytest.mark.timeout(120)  # the deadline: a hang fails the test
T = TypeVar("T")

FUZZ = settings(
    derandomize=True,
    max_examples=60,
    deadline=None,  # hangs are caught by pytest-timeout and the per-call deadlines below, not by timing each example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
runner = CliRunner()


def attempt(func: Callable[[], T]) -> tuple[T | None, MCPClientError | None]:
    """``(result, None)``, or ``(None, error)`` for one of our errors; any other exception fails the test."""
    try:
        return func(), None
    except MCPClientError as err:
        return None, err


def one_line(error: MCPClientError | None) -> bool:
    return error is None or (bool(str(error).strip()) and "\n" not in str(error))


# -- config files -------------------------------------------------------------------------------------------------
SERVER_KEYS = ["name", "endpoint", "endpoints", "connection_type", "auth_token", "timeout", "max_retries"]
SERVER_KEYS += ["retry_delay", "health_check_interval", "custom_headers", "verify_tls", "command", "args", "protocol"]
LIMIT_KEYS = ["messages_per_minute", "chats_per_minute", "requests_per_second", "burst_limit", "cooldown_period"]
TOP_KEYS = ["phone_number", "export_format", "include_media", "server_timezone", "profile", "auto_authenticate"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def section(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A config section: known keys (and some unknown ones) with values of any JSON type."""
    key = st.sampled_from(keys) | st.text(string.ascii_lowercase + "_", min_size=1, max_size=12)
    return st.dictionaries(key, json_values, max_size=4)


config_documents = st.one_of(
    st.fixed_dictionaries(
        {"whatsapp": st.fixed_dictionaries({"server": section(SERVER_KEYS), "rate_limits": section(LIMIT_KEYS)})}
    ).flatmap(lambda doc: section(TOP_KEYS).map(lambda top: {"whatsapp": {**doc["whatsapp"], **top}})),
    st.dictionaries(st.text(max_size=10), json_values, max_size=3),
    json_values,
).map(lambda doc: json.dumps(doc).encode())
config_files = st.one_of(
    config_documents,
    st.binary(max_size=120),  # not UTF-8, not JSON
    st.sampled_from(
        [
            b"whatsapp:\n  server:\n    endpoint: http://localhost:3000\n",  # YAML
            b"[whatsapp.server]\nendpoint = 'http://localhost:3000'\n",  # TOML
            b'{"whatsapp": {"server": {"endpoint": "http://localhost:3000",}}}',  # trailing comma
            b'\xef\xbb\xbf{"whatsapp": {}}',  # UTF-8 byte-order mark
            b'{"whatsapp": {"server": {"timeout": 1e999}}}',
            b'{"whatsapp": {"server": {"timeout": NaN}}}',
            b"",
        ]
    ),
)


@FUZZ
@given(content=config_files)
def test_any_config_file_loads_or_raises_one_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "mcp_config.json"
    path.write_bytes(content)
    path.chmod(0o600)
    loaded, error = attempt(lambda: load_config(path, environ={}))
    assert loaded is not None or isinstance(error, ConfigError), repr(error)
    assert one_line(error)


@FUZZ
@given(content=config_files)
def test_config_show_exits_0_or_2_with_one_line_and_no_traceback(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "mcp_config.json"
    path.write_bytes(content)
    path.chmod(0o600)
    result = runner.invoke(app, ["config", "show", "--json", "--config", str(path)])
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert result.stderr.startswith("error: ")
        assert "Traceback" not in result.stderr


# -- CLI arguments ------------------------------------------------------------------------------------------------
# Values that cannot reach out of this machine or wait: closed local ports, paths under the test's folder.
NO_SERVER = "http://127.0.0.1:9/"
values = st.one_of(
    st.sampled_from(["", "-1", "0", "1", "2.5", "nan", "inf", "1e999", "99999999999999999999", "abc", "--", "-"]),
    st.sampled_from([NO_SERVER, "ws://127.0.0.1:9/ws", "sse", "websocket", "stdio", "streamable_http", "telnet"]),
    st.sampled_from(["json", "jsonl", "csv", "parquet", "txt", "xml", "2025-01-01", "yesterday", "Mars/Olympus"]),
    st.sampled_from(["447700900123@s.whatsapp.net", "+44 7700 900123", "not a jid", "@", "a@"]),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12),
)
OPTIONS = {
    "extract": [
        *("--db", "--config", "--mcp-endpoint", "--mcp-connection", "--max-chats", "--max-history", "--chat"),
        *("--concurrency", "--export", "--full", "--json", "--quiet", "--verbose", "--bogus"),
    ],
    "export": ["--db", "--format", "--out", "--chat", "--since", "--until", "--timezone", "--bogus"],
    "report": ["--db", "--out", "--timezone", "--since", "--until", "--business-hours", "--bogus"],
    "config show": ["--config", "--json", "--bogus"],
    "config init": ["--dir", "--bogus"],
    "demo-data": ["--out", "--messages", "--seed", "--timezone", "--bogus"],
}
FLAGS = {"--full", "--json", "--quiet", "--verbose"}


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(OPTIONS)))
    argv = command.split()
    for option in draw(st.lists(st.sampled_from(OPTIONS[command]), max_size=4)):
        argv.append(option)
        if option not in FLAGS:
            argv.append(draw(values))
    if draw(st.booleans()):
        argv.append(draw(values))  # a stray positional argument
    return argv


@FUZZ
@given(argv=command_lines())
def test_any_command_line_ends_with_a_known_exit_code_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
    monkeypatch.setenv("MCP_WHATSAPP_ENDPOINT", NO_SERVER)  # the default server, when a line names none
    monkeypatch.delenv("MCP_CONFIG_FILE", raising=False)
    if argv[0] == "demo-data":
        argv = [*argv, "--messages", "50"] if "--messages" not in argv else argv
    result = runner.invoke(app, argv)
    assert result.exit_code in (0, 1, 2, 3), (argv, result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (argv, repr(result.exception))
    if "--verbose" not in argv:  # --verbose adds the chain on purpose
        assert "Traceback" not in result.output, argv


# -- JIDs and phone numbers ---------------------------------------------------------------------------------------
identifiers = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"[+0-9 ()\-.]{0,22}(@(s\.whatsapp\.net|c\.us|g\.us|lid|x)?)?", fullmatch=True),
    st.from_regex(r"[0-9]{1,20}(:[0-9]{1,3})?@[a-zA-Z.]{0,15}", fullmatch=True),
)


@FUZZ
@given(text=identifiers)
def test_any_text_is_a_jid_or_an_invalid_jid_error(text: str) -> None:
    jid, error = attempt(lambda: normalize_jid(text))
    assert one_line(error)
    if error is not None:
        assert isinstance(error, InvalidJIDError)
        assert isinstance(error, ValueError)
    else:
        assert jid is not None
        assert "@" in jid
        assert normalize_jid(jid) == jid  # canonical: normalizing again changes nothing
        assert jid_user(jid)
    assert isinstance(is_group_jid(text), bool)
    assert isinstance(jid_user(text), str)


@FUZZ
@given(text=identifiers, strict=st.booleans())
def test_any_text_is_an_e164_number_or_an_invalid_phone_number_error(text: str, strict: bool) -> None:
    number, error = attempt(lambda: validate_phone_number(text, strict=strict))
    assert one_line(error)
    if error is not None:
        assert isinstance(error, InvalidPhoneNumberError)
        assert isinstance(error, ValueError)
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) >= 7:
            assert digits not in str(error)  # a number the user typed is masked in the message
    else:
        assert number is not None
        assert number.startswith("+")
        assert number[1:].isdigit()
        assert 7 <= len(number) - 1 <= 15 or strict


# -- server outputs, through whole profile calls ------------------------------------------------------------------
text_blocks = st.one_of(
    st.text(max_size=300),
    st.lists(
        st.sampled_from(
            [
                "[2025-03-28 10:00:00] Chat: Ana From: Ana: hi",
                "[2025-03-28 09:00:00] Chat: Ana From: Me: [image - Message ID: X - Chat JID: 1@s.whatsapp.net] ",
                "[2025-03-28 08:00:00] Chat: Ana",
                "2025-03-28 07:00:00 Chat Ana From: Ana: no brackets",
                "\ufffd\x00junk",
                "No messages to display.",
                '{"jid": "1@s.whatsapp.net", "name": "Ana", "last_message_time": "2025-03-28T10:00:00"}',
                '{"jid": null}',
                "[2025-02-30 25:61:61] Chat: Ana From: Ana: impossible time",
                "",
            ]
        ),
        max_size=8,
    ).map("\n".join),
)
tool_results = st.fixed_dictionaries(
    {
        "text": text_blocks,
        "content": st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": text_blocks}), max_size=3),
        "structured_content": st.none() | json_values,
    }
)


async def profile_calls(profile: Any, results: list[dict[str, Any]]) -> None:
    answers = iter(results)

    async def call(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return next(answers, {"text": "", "content": [], "structured_content": None})

    await profile.list_chats(call)
    await profile.list_messages(call, chat_jid="1@s.whatsapp.net", limit=5)
    async for _ in profile.iter_messages(call, "1@s.whatsapp.net", page_size=5):
        pass
    await profile.get_chat(call, "1@s.whatsapp.net")


@FUZZ
@given(results=st.lists(tool_results, min_size=1, max_size=8), structured=st.booleans())
def test_any_server_output_gives_models_or_a_client_error(results: list[dict[str, Any]], structured: bool) -> None:
    clock = ServerClock("UTC")
    profile = StructuredProfile(clock=clock) if structured else LharriesProfile(clock)

    async def run() -> None:
        with anyio.fail_after(30):
            await profile_calls(profile, results)

    _, error = attempt(lambda: anyio.run(run))
    assert one_line(error)
