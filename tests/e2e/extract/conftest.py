"""Fixtures for the extractor's end-to-end tests: small generated demo accounts (a fresh copy per test, since some
tests write new messages into them) and a user's clean environment."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from wamcp.demo import DemoServerProcess, generate_database

from .support import user_env

ACCOUNT_MESSAGES = 1500


@pytest.fixture(scope="session")
def account_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 1,500-message demo account (~170 chats), made once per session."""
    path = tmp_path_factory.mktemp("account") / "messages.db"
    generate_database(path, messages=ACCOUNT_MESSAGES, seed=7)
    return path


@pytest.fixture
def account(account_template: Path, tmp_path: Path) -> Path:
    """This test's own copy of the demo account (the bridge's ``messages.db``)."""
    path = tmp_path / "bridge" / "messages.db"
    path.parent.mkdir()
    shutil.copyfile(account_template, path)
    return path


@pytest.fixture(scope="module")
def served_account(tmp_path_factory: pytest.TempPathFactory, account_template: Path) -> Iterator[tuple[Path, str]]:
    """One streamable-HTTP demo server over a read-only copy of the account, shared by a module's tests."""
    path = tmp_path_factory.mktemp("served") / "messages.db"
    shutil.copyfile(account_template, path)
    with DemoServerProcess(transport="http", db=path) as server:
        yield path, server.url


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    return user_env(home)
