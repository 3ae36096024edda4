"""The README's benchmark commands: ``bench/run_all.py [--quick]`` runs every ``bench/bench_<area>.py`` it lists,
passing ``--quick`` on, so each script must accept it (one that did not failed the whole quick run)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))


def test_run_all_knows_every_benchmark() -> None:
    order = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(BENCH)!r}); import run_all; print(*run_all.ORDER)",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert sorted(order) == sorted(path.stem.removeprefix("bench_") for path in SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_every_benchmark_takes_quick(script: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout


def _bench_extract() -> Any:
    """bench/bench_extract.py as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_extract_under_test", BENCH / "bench_extract.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(messages: int, transport: str, output: str, wall: float, date: str) -> dict[str, Any]:
    return {
        "messages": messages,
        "transport": transport,
        "output": output,
        "chats": messages // 9,
        "full_wall": wall,
        "full_extract": wall - 1,
        "full_rss_mb": 100.0,
        "rerun_extract": 0.05,
        "rerun_wall": 1.0,
        "measured": {"date": date, "commit": "abc1234"},
    }


def test_a_partial_rerun_merged_replaces_its_own_cells_and_keeps_the_others() -> None:
    bench = _bench_extract()
    old = {
        "rows": [
            _row(100_000, "stdio", "text", 4.6, "2026-12-01 10:00 UTC"),
            _row(100_000, "http", "text", 38.0, "2026-12-01 10:05 UTC"),
            _row(1_000_000, "stdio", "text", 35.0, "2026-12-01 10:10 UTC"),
        ],
        "baselines": [{"messages": 100_000, "output": "text", "wall": 20.0, "measured": {"date": "d", "commit": "c"}}],
        "server_extra": [],
    }
    new = {
        "rows": [
            _row(100_000, "stdio", "structured", 4.0, "2026-12-04 11:55 UTC"),
            _row(100_000, "http-json", "text", 22.0, "2026-12-04 12:00 UTC"),
            _row(100_000, "http", "text", 37.0, "2026-12-04 12:05 UTC"),
        ],
        "baselines": [],
        "server_extra": [],
    }
    merged = bench.merge_raw(old, new)
    cells = [(r["messages"], r["transport"], r["full_wall"]) for r in merged["rows"]]
    assert cells == [
        (100_000, "stdio", 4.6),
        (100_000, "http", 37.0),  # measured again: the new figure
        (100_000, "http-json", 22.0),
        (100_000, "stdio", 4.0),  # structured after text, as a full run lists them
        (1_000_000, "stdio", 35.0),
    ]
    assert merged["baselines"] == old["baselines"]
    page = bench.render(merged["rows"], [], [], {"date": "2026-12-04 12:05 UTC", "load": [1, 1, 1]})
    assert "- 2026-12-01 10:00 UTC, `abc1234`: 100,000 stdio text" in page
    assert "- 2026-12-04 12:05 UTC, `abc1234`: 100,000 http text" in page
    assert "2026-12-01 10:05 UTC" not in page  # the replaced row's run is gone from the page


def test_merging_figures_of_a_differently_served_run_is_refused() -> None:
    bench = _bench_extract()
    with pytest.raises(SystemExit, match="server arguments"):
        bench.merge_raw(
            {"rows": [], "baselines": [], "server_extra": ["--sdk-stdio"]}, {"rows": [], "server_extra": []}
        )
