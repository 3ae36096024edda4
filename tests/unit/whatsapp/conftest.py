"""Fixtures of the WhatsApp layer's unit tests: the real lharries probe outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# A copy of /work/shared/fixtures/lharries/probe_output.json: the real server's answers (WHATSAPP_SERVERS.md).
PROBE = Path(__file__).parent / "data" / "lharries_probe_output.json"


@pytest.fixture(scope="session")
def probe_calls() -> dict[int, dict[str, Any]]:
    data = json.loads(PROBE.read_text(encoding="utf-8"))
    return {call["n"]: call for call in data["calls"]}
