"""A server that answers fewer rows than asked for, without declaring a maximum for ``limit`` (``limit = min(limit,
N)`` in its code): ``wamcp extract`` against the real demo server over stdio with ``--page-cap`` must still store
every chat and every message. A capped page looks like the last page; taken as one, the chat list ended early and the
older messages of every chat longer than the cap were left out, of a run that called itself complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.extract.support import (
    WAMCP,
    only_json_object,
    run_cli,
    server_chats,
    server_messages,
    stdio_server,
    store_chat_names,
    store_messages,
    user_env,
    write_config,
)
from wamcp.demo import generate_database

pytestmark = pytest.mark.integration

CAP = 12


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bridge") / "messages.db"
    generate_database(path, messages=1500, seed=5)
    return path


@pytest.mark.parametrize("output", ["text", "structured"])
@pytest.mark.parametrize("how", ["account walk", "chat by chat"])
def test_every_message_is_stored_from_a_server_that_caps_its_pages_undeclared(
    account: Path, tmp_path: Path, output: str, how: str
) -> None:
    expected = server_messages(account)
    # The cap must matter: some chats hold more messages than one capped page.
    per_chat: dict[str, int] = {}
    for (jid, *_rest), count in expected.items():
        per_chat[jid] = per_chat.get(jid, 0) + count
    assert max(per_chat.values()) > 2 * CAP

    home = tmp_path / "home"
    home.mkdir()
    config = write_config(
        tmp_path / "mcp_config.json", stdio_server(account, "--page-cap", str(CAP), "--output", output)
    )
    store = tmp_path / "store.db"
    # A fresh store reads the chats with a unique name in one walk across chats, the others one by one;
    # --max-chats (a selection) reads every chat one by one.
    selection = ["--max-chats", "100000"] if how == "chat by chat" else []
    result = run_cli(
        [WAMCP, "extract", "--config", str(config), "--db", str(store), "--json", *selection],
        cwd=tmp_path,
        env=user_env(home),
    )
    assert result.returncode == 0, result.stderr
    assert only_json_object(result.stdout)["status"] == "complete"
    assert store_messages(store) == expected
    assert set(store_chat_names(store)) == set(server_chats(account))
    # The cap is found and said once per tool, in words a user can act on.
    for tool in ("list_chats", "list_messages"):
        assert result.stderr.count(f"{tool} answered {CAP} rows where") == 1, result.stderr

    rerun = run_cli(
        [WAMCP, "extract", "--config", str(config), "--db", str(store), "--json"], cwd=tmp_path, env=user_env(home)
    )
    assert rerun.returncode == 0, rerun.stderr
    summary = only_json_object(rerun.stdout)
    assert (summary["messages_new"], summary["messages_updated"]) == (0, 0)
    assert store_messages(store) == expected
