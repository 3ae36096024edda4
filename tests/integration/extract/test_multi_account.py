"""``wamcp extract --all`` against two real demo servers (different accounts, one shared customer) over streamable
HTTP on 127.0.0.1: each account's messages land in one store tagged by account, a rerun adds nothing, and an account
whose server is down fails alone (exit 1) or, when no account can connect, the run exits 3."""

from __future__ import annotations

import collections
import json
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.extract.support import (
    EXTRACTOR_SCRIPT,
    NO_LIMITS,
    WAMCP,
    MessageKey,
    add_message,
    free_port,
    only_json_object,
    run_cli,
    server_messages,
    store_integrity,
    user_env,
)
from wamcp.demo import DemoServerProcess, generate_database

pytestmark = pytest.mark.integration

SHARED_CUSTOMER = "447700900777@s.whatsapp.net"


@pytest.fixture(scope="module")
def bridges(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two demo accounts with different seeds; the same customer wrote to both."""
    paths = {}
    for name, seed, messages in (("sales", 21, 900), ("support", 22, 700)):
        path = tmp_path_factory.mktemp(name) / "messages.db"
        generate_database(path, messages=messages, seed=seed)
        add_message(path, SHARED_CUSTOMER, f"hello {name}", datetime(2026, 1, 5, 10, 0, tzinfo=UTC), name="Pat")
        paths[name] = path
    return paths


@pytest.fixture(scope="module")
def servers(bridges: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A streamable-HTTP demo server per account, over its own copy of the bridge database."""
    with (
        DemoServerProcess(transport="http", db=_copy(bridges["sales"], tmp_path_factory)) as sales,
        DemoServerProcess(transport="http", db=_copy(bridges["support"], tmp_path_factory)) as support,
    ):
        yield {"sales": sales.url, "support": support.url}


def _copy(bridge: Path, factory: pytest.TempPathFactory) -> Path:
    target = factory.mktemp("served") / "messages.db"
    shutil.copyfile(bridge, target)
    return target


def _config(path: Path, urls: dict[str, str]) -> Path:
    section = {
        "server": {"health_check_interval": 0, "max_retries": 1, "retry_delay": 0.1, "connect_timeout": 5},
        "rate_limits": NO_LIMITS,
        "server_timezone": "UTC",
        "profile": "lharries",
        "accounts": {
            name: {"server": {"endpoint": url, "connection_type": "streamable_http"}} for name, url in urls.items()
        },
    }
    path.write_text(json.dumps({"whatsapp": section}), encoding="utf-8")
    return path


def _store_by_account(store: Path) -> dict[str, collections.Counter[MessageKey]]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT account, chat_jid, ts_ms, content, is_from_me FROM messages").fetchall()
    result: dict[str, collections.Counter[MessageKey]] = collections.defaultdict(collections.Counter)
    for account, jid, ts_ms, content, mine in rows:
        result[account][(jid, ts_ms // 1000, content, bool(mine))] += 1
    return dict(result)


def _extract(tmp_path: Path, config: Path, store: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    done = run_cli(
        [WAMCP, "extract", "--config", str(config), "--db", str(store), "--json", *extra],
        cwd=tmp_path,
        env=user_env(home),
    )
    return done.returncode, only_json_object(done.stdout), done.stderr


def test_all_accounts_land_in_one_store_tagged_by_account_and_a_rerun_adds_nothing(
    tmp_path: Path, bridges: dict[str, Path], servers: dict[str, str]
) -> None:
    config = _config(tmp_path / "mcp_config.json", servers)
    store = tmp_path / "whatsapp.db"

    code, summary, stderr = _extract(tmp_path, config, store, "--all")

    assert code == 0, stderr
    assert summary["status"] == "complete"
    assert list(summary["accounts"]) == ["sales", "support"]
    stored = _store_by_account(store)
    assert stored == {name: server_messages(bridge) for name, bridge in bridges.items()}
    for name in ("sales", "support"):
        assert summary["accounts"][name]["messages_new"] == sum(stored[name].values())
    assert summary["total"]["messages_new"] == 900 + 700 + 2
    # the customer who wrote to both numbers is two chats, one per account, each with its own message
    assert stored["sales"][(SHARED_CUSTOMER, 1767607200, "hello sales", False)] == 1
    assert stored["support"][(SHARED_CUSTOMER, 1767607200, "hello support", False)] == 1
    assert store_integrity(store)[:2] == ("ok", 1602)
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        chats = conn.execute("SELECT account FROM chats WHERE jid = ? ORDER BY account", (SHARED_CUSTOMER,)).fetchall()
        runs = conn.execute("SELECT account, status FROM runs ORDER BY account").fetchall()
    assert chats == [("sales",), ("support",)]
    assert runs == [("sales", "complete"), ("support", "complete")]

    code, again, stderr = _extract(tmp_path, config, store, "--all")

    assert code == 0, stderr
    assert again["total"]["messages_new"] == 0
    assert again["total"]["messages_updated"] == 0
    assert again["total"]["chats_skipped"] == again["total"]["chats_total"]
    assert _store_by_account(store) == stored


def test_one_account_selected_by_name_syncs_only_that_account(
    tmp_path: Path, bridges: dict[str, Path], servers: dict[str, str]
) -> None:
    config = _config(tmp_path / "mcp_config.json", servers)
    store = tmp_path / "whatsapp.db"

    code, summary, stderr = _extract(tmp_path, config, store, "--account", "support")

    assert code == 0, stderr
    assert list(summary["accounts"]) == ["support"]
    assert _store_by_account(store) == {"support": server_messages(bridges["support"])}


def test_an_account_whose_server_is_down_fails_alone_with_exit_1(
    tmp_path: Path, bridges: dict[str, Path], servers: dict[str, str]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/mcp"
    config = _config(tmp_path / "mcp_config.json", {**servers, "closed": dead})
    store = tmp_path / "whatsapp.db"

    code, summary, stderr = _extract(tmp_path, config, store, "--all")

    assert code == 1, stderr
    assert summary["status"] == "partial"
    assert summary["accounts"]["closed"]["status"] == "failed"
    assert "cannot reach" in summary["accounts"]["closed"]["error"]
    assert summary["total"]["accounts_failed"] == 1
    assert _store_by_account(store) == {name: server_messages(bridge) for name, bridge in bridges.items()}


def test_no_account_reachable_exits_3(tmp_path: Path) -> None:
    urls = {name: f"http://127.0.0.1:{free_port()}/mcp" for name in ("sales", "support")}
    config = _config(tmp_path / "mcp_config.json", urls)
    store = tmp_path / "whatsapp.db"

    code, summary, stderr = _extract(tmp_path, config, store, "--all")

    assert code == 3, stderr
    assert summary["status"] == "failed"
    assert {r["status"] for r in summary["accounts"].values()} == {"failed"}


def test_without_all_the_account_named_default_is_extracted_as_before(
    tmp_path: Path, bridges: dict[str, Path], servers: dict[str, str]
) -> None:
    config = _config(tmp_path / "mcp_config.json", {"default": servers["sales"], "support": servers["support"]})
    store = tmp_path / "whatsapp.db"

    code, summary, stderr = _extract(tmp_path, config, store)

    assert code == 0, stderr
    assert "accounts" not in summary  # the single-account summary, as before
    assert summary["messages_new"] == 901
    assert _store_by_account(store) == {"": server_messages(bridges["sales"])}


def test_without_all_a_config_of_named_accounts_only_says_how_to_choose(tmp_path: Path) -> None:
    config = _config(tmp_path / "mcp_config.json", {"sales": "http://127.0.0.1:9/mcp"})
    done = run_cli(
        [WAMCP, "extract", "--config", str(config), "--db", str(tmp_path / "w.db")],
        cwd=tmp_path,
        env=user_env(tmp_path),
    )
    assert done.returncode == 2
    assert "names accounts (sales) and none is 'default'" in done.stderr
    assert "--all or --account NAME" in done.stderr
    assert not (tmp_path / "w.db").exists()
    done = run_cli(
        [WAMCP, "extract", "--config", str(config), "--db", str(tmp_path / "w.db"), "--all", "--demo"],
        cwd=tmp_path,
        env=user_env(tmp_path),
    )
    assert done.returncode == 2
    assert "--all/--account extract the config's accounts" in done.stderr


def test_the_seeds_extractor_script_takes_an_account_whose_endpoint_comes_from_its_own_variable(
    tmp_path: Path, bridges: dict[str, Path], servers: dict[str, str]
) -> None:
    # the file names a dead address; the account's own variable points at the live server
    config = _config(tmp_path / "mcp_config.json", {"sales": f"http://127.0.0.1:{free_port()}/mcp"})
    store = tmp_path / "whatsapp.db"
    home = tmp_path / "home"
    home.mkdir()
    env = user_env(home, MCP_WHATSAPP_SALES_ENDPOINT=servers["sales"])
    done = run_cli(
        [sys.executable, str(EXTRACTOR_SCRIPT), "--config", str(config), "--db", str(store), "--all", "--json"],
        cwd=tmp_path,
        env=env,
    )

    assert done.returncode == 0, done.stderr
    assert list(only_json_object(done.stdout)["accounts"]) == ["sales"]
    assert _store_by_account(store) == {"sales": server_messages(bridges["sales"])}
