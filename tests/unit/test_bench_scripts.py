"""The README's benchmark commands: ``bench/run_all.py [--quick]`` runs every ``bench/bench_<area>.py`` it lists,
passing ``--quick`` on, so each script must accept it (one that did not failed the whole quick run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
