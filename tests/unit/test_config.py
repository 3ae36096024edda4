"""Configuration: the seed's schema and defaults, precedence, sources and one-line errors."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from wamcp.config import (
    MCPConnectionType,
    load_config,
    sample_config,
    write_sample_config,
)
from wamcp.errors import ConfigError
from wamcp.redact import redact

SEED_SAMPLE = {
    "whatsapp": {
        "server": {
            "name": "github.com/lharries/whatsapp-mcp",
            "endpoint": "http://localhost:3000",
            "connection_type": "sse",
            "auth_token": None,
            "timeout": 60,
            "max_retries": 5,
            "retry_delay": 2.0,
            "health_check_interval": 30,
            "session_timeout": 7200,
            "custom_headers": {"User-Agent": "WhatsApp-MCP-Client/1.0", "Accept": "application/json"},
        },
        "rate_limits": {
            "messages_per_minute": 60,
            "chats_per_minute": 30,
            "requests_per_second": 2,
            "burst_limit": 10,
            "cooldown_period": 300,
        },
        "auto_authenticate": False,
        "phone_number": None,
        "session_persistence": True,
        "export_format": "json",
        "include_media": False,
    }
}


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_sample_config_is_the_seeds_schema_exactly() -> None:
    assert sample_config() == SEED_SAMPLE


def test_defaults_match_the_seed_as_floats() -> None:
    config = load_config(use_file=False, environ={}).config
    assert config.server.timeout == 60.0
    assert isinstance(config.server.timeout, float)
    assert config.server.connection_type is MCPConnectionType.SSE
    assert config.rate_limits.burst_limit == 10


def test_seed_file_loads_and_every_value_says_it_came_from_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "mcp_config.json", SEED_SAMPLE)
    loaded = load_config(path, environ={})
    assert loaded.path == path
    assert loaded.sources["server.endpoint"] == f"file {path}"
    assert loaded.sources["server.command"] == "default"


def test_precedence_arguments_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    data = json.loads(json.dumps(SEED_SAMPLE))
    data["whatsapp"]["server"]["endpoint"] = "http://file:1"
    data["whatsapp"]["server"]["timeout"] = 5
    path = write(tmp_path / "c.json", data)
    environ = {"MCP_WHATSAPP_ENDPOINT": "http://env:2", "MCP_WHATSAPP_CONNECTION_TYPE": "websocket"}
    loaded = load_config(path, environ=environ, overrides={"server": {"connection_type": "stdio"}})
    server = loaded.config.server
    assert server.endpoint == "http://env:2"
    assert server.connection_type is MCPConnectionType.STDIO
    assert server.timeout == 5.0
    assert server.max_retries == 5
    assert loaded.sources["server.endpoint"] == "env MCP_WHATSAPP_ENDPOINT"
    assert loaded.sources["server.connection_type"] == "argument"
    assert loaded.sources["server.timeout"] == f"file {path}"
    assert loaded.sources["server.max_retries"] == f"file {path}"


def test_all_seed_environment_variables_are_read() -> None:
    environ = {
        "MCP_WHATSAPP_ENDPOINT": "ws://127.0.0.1:9/ws",
        "MCP_WHATSAPP_CONNECTION_TYPE": "websocket",
        "MCP_WHATSAPP_AUTH_TOKEN": "tok-abcdef",
        "MCP_WHATSAPP_PHONE_NUMBER": "+14155550100",
        "MCP_WHATSAPP_AUTO_AUTH": "true",
    }
    config = load_config(use_file=False, environ=environ).config
    assert config.server.endpoint == "ws://127.0.0.1:9/ws"
    assert config.server.token() == "tok-abcdef"
    assert config.phone_number == "+14155550100"
    assert config.auto_authenticate is True


def test_none_overrides_are_ignored() -> None:
    config = load_config(use_file=False, environ={}, overrides={"server": {"endpoint": None}}).config
    assert config.server.endpoint == "http://localhost:3000"


def test_config_file_env_var_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = json.loads(json.dumps(SEED_SAMPLE))
    data["whatsapp"]["server"]["endpoint"] = "http://from-env-file:1"
    path = write(tmp_path / "x.json", data)
    monkeypatch.setenv("MCP_CONFIG_FILE", str(path))
    assert load_config().config.server.endpoint == "http://from-env-file:1"


def test_http_is_an_alias_of_streamable_http() -> None:
    assert MCPConnectionType("http") is MCPConnectionType.STREAMABLE_HTTP
    assert MCPConnectionType("Streamable-HTTP") is MCPConnectionType.STREAMABLE_HTTP


def test_bad_connection_type_lists_the_valid_types_and_names_the_file(tmp_path: Path) -> None:
    data = json.loads(json.dumps(SEED_SAMPLE))
    data["whatsapp"]["server"]["connection_type"] = "smoke-signals"
    path = write(tmp_path / "mcp_config.json", data)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert str(path) in message
    assert "whatsapp.server.connection_type" in message
    assert '"smoke-signals"' in message
    for valid in ("sse", "websocket", "stdio", "streamable_http"):
        assert valid in message
    assert "\n" not in message


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"env MCP_WHATSAPP_AUTO_AUTH: whatsapp\.auto_authenticate"):
        load_config(use_file=False, environ={"MCP_WHATSAPP_AUTO_AUTH": "maybe"})


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", {"whatsapp": {"server": {"endpont": "http://x"}}})
    with pytest.raises(ConfigError, match="did you mean 'endpoint'"):
        load_config(path, environ={})


def test_negative_number_says_what_is_allowed(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", {"whatsapp": {"rate_limits": {"burst_limit": 0}}})
    with pytest.raises(ConfigError, match=r"burst_limit = 0 is not valid: .*greater than or equal to 1"):
        load_config(path, environ={})


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"whatsapp": {\n  "server": {"endpoint": "x",}\n}}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 2 column \d+: invalid JSON"):
        load_config(path, environ={})


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(b'{"whatsapp": {"server": {"name": "caf\xe9"}}}')  # Latin-1, as an old editor saves it
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(bad byte at offset 37\)"):
        load_config(path, environ={})


def test_missing_whatsapp_section_is_explained(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", {"server": {}})
    with pytest.raises(ConfigError, match='no "whatsapp" section'):
        load_config(path, environ={})


def test_missing_file_given_explicitly_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.json", environ={})


def test_unknown_timezone_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown time zone"):
        load_config(use_file=False, environ={}, overrides={"server_timezone": "Mars/Olympus"})


def test_token_never_in_repr_or_redacted_view() -> None:
    loaded = load_config(use_file=False, environ={"MCP_WHATSAPP_AUTH_TOKEN": "s3cr3t-token-value"})
    assert "s3cr3t-token-value" not in repr(loaded.config)
    assert "s3cr3t-token-value" not in json.dumps(loaded.redacted())
    assert loaded.redacted()["whatsapp"]["server"]["auth_token"] == "***"


@pytest.mark.parametrize(
    ("endpoint", "says"),
    [
        ("http://[::1", "Invalid IPv6 URL"),
        ("ws://[::1/ws", "Invalid IPv6 URL"),
        ("http://127.0.0.1:99999", "Port out of range"),
        ("http://127.0.0.1:abc/mcp", "could not be cast"),
        ("http:///mcp", "no host"),
    ],
)
def test_an_unreadable_endpoint_url_is_a_config_error(endpoint: str, says: str) -> None:
    for environ in ({"MCP_WHATSAPP_ENDPOINT": endpoint}, {}):
        overrides = {} if environ else {"server": {"endpoints": [endpoint]}}
        with pytest.raises(ConfigError, match=says) as caught:
            load_config(use_file=False, environ=environ, overrides=overrides)
        assert "e.g. http://localhost:3000" in str(caught.value)
    assert load_config(use_file=False, environ={"MCP_WHATSAPP_ENDPOINT": "stdio"}).config.server.endpoint == "stdio"


def test_credentials_in_the_endpoint_url_are_masked_in_the_redacted_view_and_errors() -> None:
    url = "https://ann:pa55word@example.test:8443/mcp?token=t0k3nv4lue&mode=x"
    loaded = load_config(use_file=False, environ={"MCP_WHATSAPP_ENDPOINT": url})
    shown = loaded.redacted()["whatsapp"]["server"]["endpoint"]
    assert shown == "https://ann:***@example.test:8443/mcp?token=***&mode=x"
    with pytest.raises(ConfigError) as caught:
        load_config(use_file=False, environ={"MCP_WHATSAPP_ENDPOINT": url.replace("8443", "99999")})
    message = redact(str(caught.value))
    assert "pa55word" not in message
    assert "t0k3nv4lue" not in message


def test_a_config_file_named_by_the_environment_must_exist(tmp_path: Path) -> None:
    for named in (tmp_path / "missing.json", tmp_path):
        with pytest.raises(ConfigError, match=r"MCP_CONFIG_FILE=.* is not a file"):
            load_config(environ={"MCP_CONFIG_FILE": str(named)})


def test_world_readable_file_with_token_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = json.loads(json.dumps(SEED_SAMPLE))
    data["whatsapp"]["server"]["auth_token"] = "tok-world-readable"
    path = write(tmp_path / "c.json", data)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="wamcp"):
        load_config(path, environ={})
    assert "chmod 600" in caplog.text
    assert "tok-world-readable" not in caplog.text


def test_write_sample_config(tmp_path: Path) -> None:
    path = write_sample_config(tmp_path)
    assert path.name == "mcp_config_sample.json"
    assert json.loads(path.read_text()) == SEED_SAMPLE


def test_python_mcp_config_py_writes_the_sample(tmp_path: Path) -> None:
    shim = Path(__file__).resolve().parents[2] / "mcp_config.py"
    subprocess.run([sys.executable, str(shim)], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    assert json.loads((tmp_path / "mcp_config_sample.json").read_text()) == SEED_SAMPLE
