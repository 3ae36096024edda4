"""Open report.html in headless Chromium with the network off: no console errors, every chart drawn.

Talks to Chromium over the DevTools protocol (``--remote-debugging-port=0``; the port is read from the
``DevToolsActivePort`` file the browser writes) so console messages, exceptions and network requests are observed
directly instead of guessed from a DOM dump. A full-page screenshot is kept in ``tests/artifacts/`` for people to
look at. Needs ``/usr/bin/chromium`` (``.ci/install-browser``).
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.unit.analytics.builder import sample_store
from wamcp.analytics import ReportOptions, build_report

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DEADLINE_S = 30.0

# Counts, per chart container, the SVG and the drawn marks inside it.
_CHART_PROBE = """
JSON.stringify(Array.from(document.querySelectorAll('figure.chart')).map(f => {
  const svg = f.querySelector('svg');
  const marks = svg ? svg.querySelectorAll('g.mark-rect path, g.mark-rect rect, g.mark-line path, '
                                          + 'g.mark-symbol path, path.background, g.role-mark *').length : 0;
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {name: f.dataset.chart, svg: !!svg, marks: marks, width: box.width, height: box.height};
}))
"""


class DevTools:
    """A minimal DevTools-protocol client: send commands, collect every event seen meanwhile."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv(timeout=deadline - time.monotonic()))
            if message.get("id") == call_id:
                assert "error" not in message, message
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)
        raise TimeoutError(method)

    def wait_for(self, event: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not any(e.get("method") == event for e in self.events):
            self.events.append(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[DevTools]:
    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium: run .ci/install-browser")
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            # network off: nothing resolves, and any attempt goes to a closed proxy port
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=http://127.0.0.1:9",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + DEADLINE_S
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, "chromium exited early"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.loads(response.read())
        page = next(t for t in targets if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
            yield DevTools(ws)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_report_renders_offline_without_console_errors(tmp_path: Path, chromium: DevTools) -> None:
    result = build_report(
        sample_store(tmp_path / "store.db"), tmp_path / "report", ReportOptions.from_text(timezone="Europe/Berlin")
    )
    for domain in ("Runtime", "Log", "Network", "Page"):
        chromium.call(f"{domain}.enable")
    chromium.call(
        "Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1, uploadThroughput=-1
    )
    chromium.call("Emulation.setDeviceMetricsOverride", width=1100, height=900, deviceScaleFactor=1, mobile=False)
    chromium.call("Page.navigate", url=result.html_path.as_uri())
    chromium.wait_for("Page.loadEventFired")

    probe = chromium.call("Runtime.evaluate", expression=_CHART_PROBE, returnByValue=True)
    charts = json.loads(probe["result"]["value"])
    height = chromium.call("Runtime.evaluate", expression="document.documentElement.scrollHeight", returnByValue=True)
    chromium.call(
        "Emulation.setDeviceMetricsOverride",
        width=1100,
        height=int(height["result"]["value"]),
        deviceScaleFactor=1,
        mobile=False,
    )
    shot = chromium.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report.png").write_bytes(base64.b64decode(shot["data"]))

    errors = [
        e
        for e in chromium.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in {"error", "assert"})
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert errors == []
    requests = [
        e["params"]["request"]["url"] for e in chromium.events if e.get("method") == "Network.requestWillBeSent"
    ]
    assert all(url.startswith("file://") for url in requests), requests
    assert [c["name"] for c in charts] == [
        "frt-distribution",
        "frt-weekly",
        "heatmap",
        "daily-volume",
        "busiest-customers",
        "media-share",
    ]
    for chart in charts:
        assert chart["svg"], chart
        assert chart["marks"] > 0, chart
        assert chart["width"] > 100, chart
        assert chart["height"] > 40, chart
