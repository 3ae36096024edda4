"""Exports of 200k messages stream: bounded traced memory in-process, bounded peak-RSS growth in a real process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from tests.unit.store._helpers import build_big_store
from wamcp.store import Store
from wamcp.store.export import export

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


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_big_store(tmp_path_factory.mktemp("big") / "big.db", messages=MESSAGES)


def test_parquet_export_of_200k_messages_stays_in_bounded_traced_memory(big_db: Path, tmp_path: Path) -> None:
    # Parquet is the exporter that buffers (a row group at a time), so it is the one worth tracing in-process; the
    # next test checks every format in a real process.
    with Store.open(big_db, readonly=True) as store:
        # Imports and first allocations first (one small chat's export: pyarrow builds its first table lazily, ~25
        # MB at once): whether an earlier test in this process already paid for them must not decide the outcome.
        export(store, "parquet", tmp_path / "warm.parquet", chat_jids=[store.chats()[0].jid])
        tracemalloc.start()
        try:
            result = export(store, "parquet", tmp_path / "out.parquet")
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.messages == MESSAGES
    # A bound on memory, not on speed: 200k messages held at once would need well over 100 MB of Python objects.
    assert peak < 50 * 1024 * 1024, f"parquet export peaked at {peak / 1e6:.1f} MB"


def test_every_export_streams_in_bounded_memory(big_db: Path, tmp_path: Path) -> None:
    db = big_db
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
