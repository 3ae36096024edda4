"""``python -m tests.chaos [--seed S] [--duration SECONDS] [--transport T ...]``: chaos rounds, alone.

Runs chaos cycles until the duration is spent (a cycle that has started always finishes): each cycle is one round
per transport, side by side (:func:`tests.chaos.driver.run_rounds`), seeded S, S+1, … . Prints each round's figures
and writes them all to ``tests/artifacts/chaos/standalone.{json,md}``. Exit code 1 if any round lost, added or
duplicated a message or did not end with a complete run.
Environment defaults: ``WAMCP_CHAOS_SEED``, ``WAMCP_CHAOS_DURATION``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from .driver import ARTIFACTS, TRANSPORTS, ChaosSettings, RoundFigures, run_rounds, write_figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=int(os.environ.get("WAMCP_CHAOS_SEED", "7")))
    parser.add_argument(
        "--duration", type=float, default=float(os.environ.get("WAMCP_CHAOS_DURATION", "120")), help="seconds"
    )
    parser.add_argument("--transport", action="append", choices=sorted(TRANSPORTS), help="default: all three")
    parser.add_argument("--messages", type=int, default=ChaosSettings.messages)
    parser.add_argument("--kills", type=int, default=ChaosSettings.kills, help="kills per round")
    parser.add_argument("--workdir", type=Path, help="keep stores and logs here (default: a temporary folder)")
    args = parser.parse_args(argv)
    transports = args.transport or list(TRANSPORTS)
    deadline = time.monotonic() + args.duration
    rounds: list[RoundFigures] = []
    with tempfile.TemporaryDirectory(prefix="wamcp-chaos-") as scratch:
        workdir = args.workdir or Path(scratch)
        for cycle in itertools.count():
            if rounds and time.monotonic() >= deadline:
                break
            settings = [
                ChaosSettings(transport=t, seed=args.seed + cycle, messages=args.messages, kills=args.kills)
                for t in transports
            ]
            for figures in run_rounds(settings, workdir / f"cycle-{cycle}"):
                rounds.append(figures)
                print(json.dumps(dataclasses.asdict(figures) | {"ok": figures.ok}), flush=True)
    table = write_figures(rounds, ARTIFACTS, "standalone")
    print(table.read_text(encoding="utf-8"))
    lost = sum(r.messages_lost for r in rounds)
    print(f"{len(rounds)} rounds, {sum(r.kills for r in rounds)} kills, messages lost: {lost}; figures in {table}")
    return 0 if all(r.ok for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
