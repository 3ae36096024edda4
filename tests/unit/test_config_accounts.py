"""Several WhatsApp accounts in one config: naming, inheritance from the top-level block, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wamcp.config import DEFAULT_ACCOUNT, MCPConnectionType, load_config
from wamcp.errors import ConfigError

TOKEN = "top-level-token-7f3a9c"


def write(tmp_path: Path, section: dict[str, Any]) -> Path:
    path = tmp_path / "mcp_config.json"
    path.write_text(json.dumps({"whatsapp": section}), encoding="utf-8")
    path.chmod(0o600)
    return path


def two_accounts() -> dict[str, Any]:
    return {
        "server": {"endpoint": "http://top:3000", "timeout": 12, "auth_token": TOKEN, "connection_type": "websocket"},
        "rate_limits": {"burst_limit": 3, "requests_per_second": 0},
        "phone_number": "+447700900123",
        "server_timezone": "Europe/London",
        "accounts": {
            "sales": {"server": {"endpoint": "http://sales:3000"}, "phone_number": "+447700900001"},
            "support": {
                "server": {"endpoint": "http://support:3000", "timeout": 30, "auth_token": "support-token-123456"},
                "rate_limits": {"burst_limit": 7},
                "server_timezone": "UTC",
                "profile": "lharries",
            },
        },
    }


def test_the_seeds_single_block_is_one_account_named_default(tmp_path: Path) -> None:
    path = write(tmp_path, {"server": {"endpoint": "http://only:3000"}})
    config = load_config(path, environ={}).config
    accounts = config.account_configs()
    assert list(accounts) == [DEFAULT_ACCOUNT]
    assert accounts[DEFAULT_ACCOUNT].server.endpoint == "http://only:3000"
    assert "accounts" not in load_config(path, environ={}).redacted()["whatsapp"]


def test_accounts_inherit_unset_keys_and_override_their_own(tmp_path: Path) -> None:
    accounts = load_config(write(tmp_path, two_accounts()), environ={}).config.account_configs()
    assert list(accounts) == ["sales", "support"]
    sales, support = accounts["sales"], accounts["support"]
    assert sales.server.endpoint == "http://sales:3000"
    assert sales.server.timeout == 12.0  # inherited
    assert sales.server.connection_type is MCPConnectionType.WEBSOCKET  # inherited
    assert sales.rate_limits.burst_limit == 3
    assert sales.rate_limits.requests_per_second == 0
    assert sales.server_timezone == "Europe/London"
    assert sales.phone_number == "+447700900001"
    assert support.server.timeout == 30.0  # its own
    assert support.rate_limits.burst_limit == 7
    assert support.rate_limits.requests_per_second == 0
    assert support.server_timezone == "UTC"
    assert support.profile == "lharries"


def test_a_token_and_a_phone_number_are_never_inherited(tmp_path: Path) -> None:
    section = two_accounts()
    del section["accounts"]["sales"]["phone_number"]
    accounts = load_config(write(tmp_path, section), environ={}).config.account_configs()
    assert accounts["sales"].server.auth_token is None
    assert accounts["sales"].phone_number is None
    assert accounts["support"].server.token() == "support-token-123456"


def test_sources_say_which_values_are_inherited(tmp_path: Path) -> None:
    path = write(tmp_path, two_accounts())
    sources = load_config(path, environ={}).sources
    assert sources["accounts.sales.server.endpoint"] == f"file {path}"
    assert sources["accounts.sales.server.timeout"] == f"inherited (file {path})"
    assert sources["accounts.sales.server.auth_token"] == "default"
    assert sources["accounts.sales.server.max_retries"] == "default"


def test_redacted_config_masks_every_accounts_token_and_number(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, two_accounts()), environ={})
    shown = json.dumps(loaded.redacted())
    for secret in (TOKEN, "support-token-123456", "447700900001", "447700900123"):
        assert secret not in shown
    assert set(loaded.redacted()["whatsapp"]["accounts"]) == {"sales", "support"}


def test_environment_reaches_accounts_through_the_top_level_block(tmp_path: Path) -> None:
    section = two_accounts()
    config = load_config(write(tmp_path, section), environ={"MCP_WHATSAPP_SERVER_TIMEZONE": "Asia/Tokyo"}).config
    assert config.account_configs()["sales"].server_timezone == "Asia/Tokyo"
    assert config.account_configs()["support"].server_timezone == "UTC"  # the account's own key wins


@pytest.mark.parametrize(
    ("accounts", "expected"),
    [
        ({"sales": {"server": {"timeout": 3}}}, "account 'sales' names no server: set whatsapp.accounts.sales.server"),
        ({"sa les": {"server": {"endpoint": "http://a"}}}, "account name 'sa les' is not valid"),
        (
            {"sales": {"server": {"endpoint": "http://a", "timout": 3}}},
            "unknown key whatsapp.accounts.sales.server.timout",
        ),
        (
            {"sales": {"server": {"endpoint": "http://a", "timeout": -1}}},
            "whatsapp.accounts.sales.server.timeout = -1 is not valid",
        ),
        (
            {"sales": {"server": {"endpoint": "http://a", "connection_type": "pigeon"}}},
            "expected one of: sse, websocket",
        ),
        ({"sales": {"server": {"endpoint": "http://a"}, "profil": "x"}}, "did you mean 'profile'?"),
        (
            {"sales": {"server": {"endpoint": "http://a"}, "accounts": {"x": {"server": {"endpoint": "http://b"}}}}},
            "accounts cannot be nested",
        ),
    ],
)
def test_account_errors_are_one_line_naming_the_key(tmp_path: Path, accounts: dict[str, Any], expected: str) -> None:
    path = write(tmp_path, {"server": {"auth_token": TOKEN}, "accounts": accounts})
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert TOKEN not in message
    assert message.startswith(f"file {path}:")


def test_each_account_reads_its_own_environment_variables(tmp_path: Path) -> None:
    section = two_accounts()
    section["accounts"]["sales-eu"] = {"server": {"endpoint": "http://eu:3000"}}
    environ = {
        "MCP_WHATSAPP_SALES_AUTH_TOKEN": "sales-env-token-4242",
        "MCP_WHATSAPP_SALES_EU_ENDPOINT": "http://eu-from-env:3000",
        "MCP_WHATSAPP_SUPPORT_PHONE_NUMBER": "+447700900999",
        "MCP_WHATSAPP_SUPPORT_PROFILE": "",  # empty: unset, the file's value stays
        "MCP_WHATSAPP_AUTH_TOKEN": "global-env-token-1111",  # the top-level block's: never an account's
    }
    loaded = load_config(write(tmp_path, section), environ=environ)
    accounts = loaded.config.account_configs()
    sales, support, eu = accounts["sales"], accounts["support"], accounts["sales-eu"]
    assert sales.server.auth_token is not None
    assert sales.server.auth_token.get_secret_value() == "sales-env-token-4242"
    assert sales.server.endpoint == "http://sales:3000"  # untouched keys keep the file's values
    assert eu.server.endpoint == "http://eu-from-env:3000"
    assert eu.server.auth_token is None  # not inherited from the top-level variable
    assert support.phone_number == "+447700900999"
    assert support.profile == "lharries"
    assert support.server.auth_token is not None
    assert support.server.auth_token.get_secret_value() == "support-token-123456"
    assert loaded.sources["accounts.sales.server.auth_token"] == "env MCP_WHATSAPP_SALES_AUTH_TOKEN"
    assert loaded.sources["accounts.sales-eu.server.endpoint"] == "env MCP_WHATSAPP_SALES_EU_ENDPOINT"
    assert "sales-env-token-4242" not in json.dumps(loaded.redacted())


def test_an_account_variable_is_validated_and_named_in_the_error(tmp_path: Path) -> None:
    environ = {"MCP_WHATSAPP_SALES_CONNECTION_TYPE": "carrier-pigeon"}
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, two_accounts()), environ=environ)
    assert "MCP_WHATSAPP_SALES_CONNECTION_TYPE" in str(caught.value)


def test_two_accounts_whose_variables_would_collide_are_refused_when_one_is_set(tmp_path: Path) -> None:
    section = two_accounts()
    section["accounts"]["Sales"] = {"server": {"endpoint": "http://other:3000"}}
    load_config(write(tmp_path, section), environ={})  # fine while no such variable is set
    with pytest.raises(ConfigError, match="could belong to account"):
        load_config(write(tmp_path, section), environ={"MCP_WHATSAPP_SALES_ENDPOINT": "http://x:3000"})
