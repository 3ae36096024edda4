"""Every export of 200k messages runs in a real process whose peak RSS grows by a bounded amount (streaming)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.unit.store._helpers import build_big_store

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")]

MESSAGES = 200_000

_EXPORTER = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    from wamcp.store import Store
    from wamcp.store.export import FORMATS, export

    db, out = Path(sys.argv[1]), Path(sys.argv[2])
    peaks = {}
    with Store.open(db, readonly=True) as store:
        store.count_messages()
        export(store, "parquet", out / "warm.parquet", chat_jids=["none"])  # imports and first allocations
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for fmt in FORMATS:
            result = export(store, fmt, out / f"out.{fmt}", business_name="Acme")
            assert result.messages == int(sys.argv[3]), result
            peaks[fmt] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline
    print(json.dumps(peaks))
    """
)


def test_every_export_streams_in_bounded_memory(tmp_path: Path) -> None:
    db = build_big_store(tmp_path / "big.db", messages=MESSAGES)
    result = subprocess.run(
        [sys.executable, "-c", _EXPORTER, str(db), str(tmp_path), str(MESSAGES)],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    growth_kib = json.loads(result.stdout)
    # Holding the 200k rows (~200 bytes of text each) would grow the process by well over 100 MB.
    assert all(kib < 60 * 1024 for kib in growth_kib.values()), growth_kib
