"""A library prints nothing of its own: neither our records nor the MCP SDK's reach stderr unless the application
configures logging, and then they do."""

from __future__ import annotations

import subprocess
import sys

import pytest

_LOG_AN_SDK_ERROR = (
    "import logging\n"
    "{setup}"
    "import wamcp.core\n"
    "logging.getLogger('mcp.client.streamable_http').error('Error parsing SSE message')\n"
    "logging.getLogger('wamcp.core.client').error('our own error')\n"
)


@pytest.mark.parametrize("configured", [False, True])
def test_sdk_and_our_records_reach_stderr_only_when_the_application_configures_logging(configured: bool) -> None:
    setup = "logging.basicConfig(level=logging.WARNING)\n" if configured else ""
    result = subprocess.run(
        [sys.executable, "-c", _LOG_AN_SDK_ERROR.format(setup=setup)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    if configured:
        assert "Error parsing SSE message" in result.stderr
        assert "our own error" in result.stderr
    else:
        assert result.stderr == ""
