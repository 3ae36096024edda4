"""The entry points' quick exit: what is alive when a command ends is left out of the exit-time collections."""

from __future__ import annotations

import subprocess
import sys


def test_skip_final_collection_freezes_what_is_alive_and_atexit_still_runs() -> None:
    code = (
        "import atexit, gc\n"
        "from wamcp._exiting import skip_final_collection\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "alive = [object() for _ in range(1000)]\n"
        "skip_final_collection()\n"
        "print(gc.get_freeze_count() >= 1000)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["True", "atexit", "ran"]
