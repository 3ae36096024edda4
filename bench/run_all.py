"""Run every benchmark in bench/ and collect their results into docs/BENCHMARKS.md.

Usage: ``.venv/bin/python bench/run_all.py [--quick] [--only NAME ...] [--collect-only]``. Each ``bench_<area>.py``
writes ``docs/benchmarks/<area>.md`` (with machine and date); this script runs them one after another (never in
parallel: they measure ratios on a shared 2-core machine) and then concatenates those files.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["core", "scale", "demo", "whatsapp", "store", "extract", "report"]

HEADER = """# Benchmarks

Speed and memory targets live here, never in unit tests. Each section is written by `bench/bench_<area>.py` with
the machine and date it ran on; `bench/run_all.py` runs them all and rebuilds this file. Figures are ratios against
a baseline measured in the same run where the target is a ratio, because these machines are shared and noisy.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--only", nargs="*", default=None, help="areas to run (default: all)")
    parser.add_argument("--collect-only", action="store_true", help="only rebuild docs/BENCHMARKS.md")
    args = parser.parse_args()
    areas = [a for a in ORDER if (ROOT / "bench" / f"bench_{a}.py").exists()]
    if args.only:
        areas = [a for a in areas if a in args.only]
    failed = []
    if not args.collect_only:
        for area in areas:
            cmd = [sys.executable, str(ROOT / "bench" / f"bench_{area}.py"), *(["--quick"] if args.quick else [])]
            print(f"== {area}: {' '.join(cmd[1:])}", flush=True)
            started = time.perf_counter()
            if subprocess.run(cmd, cwd=ROOT, check=False).returncode != 0:
                failed.append(area)
            print(f"== {area}: {time.perf_counter() - started:.0f} s", flush=True)
    parts = [HEADER]
    for area in ORDER:
        section = ROOT / "docs" / "benchmarks" / f"{area}.md"
        if section.exists():
            text = section.read_text(encoding="utf-8").strip()
            # Each file's headings move one level down under this file's title.
            parts.append("\n".join("#" + line if line.startswith("#") else line for line in text.splitlines()))
    (ROOT / "docs" / "BENCHMARKS.md").write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    print("wrote docs/BENCHMARKS.md")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
