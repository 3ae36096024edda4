"""The chaos driver: a full ``wamcp extract`` against a demo server that is SIGKILLed and restarted at random moments
while it also injects latency spikes, 429s, malformed lines and dropped connections; then the store is compared
with the demo database, message by message.

One :func:`run_round` is one transport's round: extraction runs (each a real ``wamcp extract`` subprocess, as a
nightly job runs it) while a chaos thread kills the server at random moments until ``kills`` is reached (only while
a run is past its start-up, i.e. connected and recorded in the store, so every kill lands mid-extraction). A run
that ends early (exit 1 or 3) is simply rerun; a run that completed is followed by a ``--full --max-chats 100000``
rerun (everything again, chat by chat), so the kills keep landing inside extractions. Then the chaos thread stops
(the other faults stay on) and the extraction is rerun until it exits 0. The figures (:class:`RoundFigures`) say
what was injected, what the client did about it and whether anything was lost. The pytest tests and
``python -m tests.chaos`` both call :func:`run_round` (through :func:`run_rounds`).

The server restarts on the same port within milliseconds: each server process is forked from a *zygote* that has
already imported the demo server (a cold start costs ~1.5 s of CPU here, which would make 20 kills per transport
too slow for CI).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.extract.support import (
    free_port,
    server_messages,
    store_integrity,
    store_messages,
    user_env,
    write_config,
)
from wamcp.demo import generate_database
from wamcp.demo.faults import FAULT_LOG_PREFIX
from wamcp.demo.server import READY_PREFIX

__all__ = ["ARTIFACTS", "TRANSPORTS", "ChaosSettings", "RoundFigures", "run_round", "run_rounds", "write_figures"]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts" / "chaos"
#: The demo server's name for each network transport, and the config's.
TRANSPORTS = {"sse": "sse", "streamable_http": "http", "websocket": "websocket"}

# The zygote imports everything the demo server needs, then forks one server per argv line read on stdin (printing
# the child's pid) until its stdin closes; SIGCHLD ignored, so the kernel reaps killed children at once.
_ZYGOTE = """
import json, os, signal, sys
import wamcp.demo.server, wamcp.demo.commands
from wamcp.demo.__main__ import app
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        code = 0
        try:
            app(json.loads(line), prog_name="wamcp-demo")
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
        finally:
            sys.stderr.flush()
            os._exit(code)
    print(pid, flush=True)
"""
# `wamcp extract` exactly as installed, plus one log handler for the INFO records of the core client (retries,
# reconnections: the figures) and of the lharries profile (an odd answer accepted because it came twice). --verbose
# would log them too, but also every page at DEBUG, which costs more CPU than the extraction on a 2-core machine.
_WAMCP_WITH_CLIENT_LOG = """
import logging, sys
from wamcp.cli import main
handler = logging.StreamHandler()
handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
for name in ("wamcp.core.client", "wamcp.whatsapp.profiles.lharries"):
    client_log = logging.getLogger(name)
    client_log.addHandler(handler)
    client_log.setLevel(logging.INFO)
    client_log.propagate = False
sys.argv[0] = "wamcp"
main()
"""
#: A rerun while the kills go on, after a run completed: everything again, chat by chat (the first run of a new
#: store reads the account in one walk instead), so the kills also land in per-chat paging and cursor updates.
_AGAIN = ("--full", "--max-chats", "100000")
#: Runs while the kills go on before the round gives up (each kill needs a run past its start-up).
_MAX_CHAOS_RUNS = 30
_GENERATION = re.compile(r"connected to .* generation (\d+)")


@dataclass(frozen=True)
class ChaosSettings:
    """One round's knobs. The defaults are the CI round: 1,200 messages, 20 kills, every fault on."""

    transport: str = "streamable_http"
    seed: int = 7
    messages: int = 1200
    kills: int = 20
    #: seconds between kills (uniform), and how long the server stays dead (uniform)
    kill_gap: tuple[float, float] = (0.1, 0.5)
    down_time: tuple[float, float] = (0.0, 0.2)
    latency_ms: float = 5.0
    spike_rate: float = 0.02
    spike_ms: float = 300.0
    rate_limit_after: int = 25
    retry_after: float = 0.5
    malformed_rate: float = 0.003
    drop_rate: float = 0.02
    concurrency: int = 4
    #: runs after the kills stop before we call the round failed (faults other than kills stay on)
    max_settle_runs: int = 6
    run_timeout: float = 90.0

    def fault_args(self, life: int) -> list[str]:
        """The demo server's fault flags for its ``life``-th start (each life draws its own faults)."""
        return [
            *("--seed", str(self.seed * 1000 + life)),
            *("--latency-ms", str(self.latency_ms)),
            *("--spike-rate", str(self.spike_rate), "--spike-ms", str(self.spike_ms)),
            *("--rate-limit-after", str(self.rate_limit_after), "--retry-after", str(self.retry_after)),
            *("--malformed-rate", str(self.malformed_rate)),
            *("--drop-rate", str(self.drop_rate)),
        ]


@dataclass
class RoundFigures:
    """What one round injected, what the client did, and what the store holds in the end."""

    transport: str
    seed: int
    messages_in_source: int = 0
    kills: int = 0
    kills_during_extraction: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    runs: int = 0
    exit_codes: list[int] = field(default_factory=list)
    retries: int = 0
    reconnections: int = 0
    messages_in_store: int = 0
    messages_lost: int = 0
    messages_extra: int = 0
    duplicates: int = 0
    integrity: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.messages_lost == 0
            and self.messages_extra == 0
            and self.duplicates == 0
            and self.integrity == "ok"
            and bool(self.exit_codes)
            and self.exit_codes[-1] == 0
        )


class _Zygote:
    """A process that has imported the demo server once and forks one demo server process per life on request.

    Each life is a real process of its own (killed with SIGKILL, its sockets closed by the kernel); forking it from
    a warm parent makes a restart take milliseconds instead of a cold start's ~1.5 s of imports. The lives share
    the zygote's stderr, which a thread reads for readiness lines and injected faults.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            bufsize=1,
        )
        self.faults: collections.Counter[str] = collections.Counter()
        self.tail: collections.deque[str] = collections.deque(maxlen=30)
        self._ready = threading.Condition()
        self._ready_count = 0
        self._reader = threading.Thread(target=self._read, name="chaos-server-stderr", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if line.startswith(FAULT_LOG_PREFIX):
                self.faults[line[len(FAULT_LOG_PREFIX) :].strip()] += 1
                continue
            if line.startswith(READY_PREFIX):
                with self._ready:
                    self._ready_count += 1
                    self._ready.notify_all()
            self.tail.append(line.rstrip("\n"))

    def fork(self, argv: list[str], timeout: float = 30.0) -> int:
        """Start one demo server with ``argv``; return its pid once it accepts connections."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        with self._ready:
            seen = self._ready_count
        self.process.stdin.write(json.dumps(argv) + "\n")
        self.process.stdin.flush()
        pid = int(self.process.stdout.readline())
        with self._ready:
            if not self._ready.wait_for(lambda: self._ready_count > seen or not _alive(pid), timeout):
                raise RuntimeError(f"the demo server did not start in {timeout} s:\n" + "\n".join(self.tail))
        if not _alive(pid):
            raise RuntimeError("the demo server exited at start:\n" + "\n".join(self.tail))
        return pid

    def close(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # the zygote exits at end of input
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(10)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _sigkill(pid: int, timeout: float = 10.0) -> None:
    """SIGKILL ``pid`` and wait until it is gone (the zygote reaps it), so its port is free again."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"demo server {pid} survived SIGKILL")
        time.sleep(0.005)


class _ChaosServer:
    """The demo server on one fixed port, killed and restarted by a chaos thread at random moments."""

    def __init__(self, settings: ChaosSettings, account: Path, env: dict[str, str]) -> None:
        self.settings = settings
        self.account = account
        self.port = free_port()
        self.kills = 0
        self.kills_during_extraction = 0
        self.extracting = threading.Event()
        self._rng = random.Random(settings.seed)
        self._lives = 0
        self._zygote = _Zygote(env)
        self._pid: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    @property
    def faults(self) -> dict[str, int]:
        return dict(sorted(self._zygote.faults.items()))

    @property
    def url(self) -> str:
        kind = TRANSPORTS[self.settings.transport]
        scheme, path = ("ws", "/ws") if kind == "websocket" else ("http", "/sse" if kind == "sse" else "/mcp")
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self._lives += 1
        argv = [
            "demo-server",
            *("--transport", TRANSPORTS[self.settings.transport]),
            *("--port", str(self.port), "--db", str(self.account)),
            *self.settings.fault_args(self._lives),
        ]
        self._pid = self._zygote.fork(argv)

    def kill(self) -> None:
        pid, self._pid = self._pid, None
        if pid is not None:
            _sigkill(pid)

    def _monkey(self) -> None:
        try:
            while self.kills < self.settings.kills:
                # Aim at extraction runs past their start-up: a kill during a CLI's imports tests nothing.
                while not self.extracting.wait(0.05):
                    if self._stop.is_set():
                        return
                if self._stop.wait(self._rng.uniform(*self.settings.kill_gap)):
                    return
                during = self.extracting.is_set()
                if not during:
                    continue  # the run ended meanwhile: wait for the next one
                self.kill()
                self.kills += 1
                self.kills_during_extraction += int(during)
                time.sleep(self._rng.uniform(*self.settings.down_time))  # the server is down: a random outage
                self.start()
        except BaseException as err:  # pragma: no cover - surfaced by run_round
            self.error = err

    def unleash(self) -> None:
        self._thread = threading.Thread(target=self._monkey, name="chaos-monkey", daemon=True)
        self._thread.start()

    @property
    def raging(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
        self.kill()
        self._zygote.close()


def _account(workdir: Path, settings: ChaosSettings) -> Path:
    path = workdir / f"account-{settings.messages}-{settings.seed}.db"
    if not path.exists():
        generate_database(path, messages=settings.messages, seed=settings.seed)
    return path


@contextlib.contextmanager
def _chaos_server(settings: ChaosSettings, account: Path, env: dict[str, str]) -> Iterator[_ChaosServer]:
    server = _ChaosServer(settings, account, env)
    try:
        server.start()
        yield server
    finally:
        server.close()


def _runs_recorded(store: Path) -> int:
    """Runs in the store's ``runs`` table (0 while the file or its schema does not exist yet)."""
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as conn:
            (count,) = conn.execute("SELECT count(*) FROM runs").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(count)


def _extract(
    config: Path,
    store: Path,
    log: Path,
    env: dict[str, str],
    settings: ChaosSettings,
    live: threading.Event,
    *extra: str,
) -> int:
    """One ``wamcp extract`` run, its stderr appended to ``log``; returns the exit code. ``live`` is set while the run
    is past its start-up (connected, its run recorded in the store): the kills are aimed at that part."""
    argv = [sys.executable, "-c", _WAMCP_WITH_CLIENT_LOG, "extract", "--config", str(config), "--db", str(store)]
    argv += ["--json", "--concurrency", str(settings.concurrency), *extra]
    recorded = _runs_recorded(store)
    with log.open("a", encoding="utf-8") as err:
        err.write(f"=== {time.strftime('%H:%M:%S')} wamcp {' '.join(argv[3:])}\n")
        err.flush()
        proc = subprocess.Popen(
            argv, cwd=store.parent, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True
        )
        deadline = time.monotonic() + settings.run_timeout
        try:
            while proc.poll() is None:
                if not live.is_set() and _runs_recorded(store) > recorded:
                    live.set()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"wamcp extract did not end within {settings.run_timeout} s (see {log})")
                time.sleep(0.05)
        finally:
            live.clear()
            if proc.poll() is None:
                proc.kill()
            out, _ = proc.communicate(timeout=30)
        err.write(f"=== {time.strftime('%H:%M:%S')} exit {proc.returncode}: {out.strip()}\n")
    return proc.returncode


def _client_figures(log: Path) -> tuple[int, int]:
    """``(retries, reconnections)`` counted in the extractor's logs."""
    retries = reconnections = 0
    with log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if "retrying " in line and " after: " in line:
                retries += 1
            elif (found := _GENERATION.search(line)) is not None and int(found.group(1)) > 1:
                reconnections += 1
    return retries, reconnections


def run_round(settings: ChaosSettings, workdir: Path) -> RoundFigures:
    """One chaos round over ``settings.transport`` in ``workdir``; see the module docstring."""
    if settings.transport not in TRANSPORTS:
        raise ValueError(f"unknown transport {settings.transport!r}: use one of {', '.join(TRANSPORTS)}")
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    figures = RoundFigures(settings.transport, settings.seed)
    account = _account(workdir, settings)
    home = workdir / f"home-{settings.transport}"
    home.mkdir(exist_ok=True)
    env = user_env(home)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH")) if p)
    store = workdir / f"store-{settings.transport}.db"
    log = workdir / f"extract-{settings.transport}.log"
    for stale in (store, Path(f"{store}-wal"), Path(f"{store}-shm"), log):
        stale.unlink(missing_ok=True)

    with _chaos_server(settings, account, env) as server:
        server_config = {
            "endpoint": server.url,
            "connection_type": settings.transport,
            # Outlast a restart (well under a second) a few times over; a run that still gives up is rerun.
            "max_retries": 8,
            "retry_delay": 0.05,
            "timeout": 5.0,
            "connect_timeout": 5.0,
        }
        # Over stdio and WebSocket a 429 is a tool error without Retry-After: keep the client's pause short.
        limits = {"messages_per_minute": 0, "chats_per_minute": 0, "requests_per_second": 0, "cooldown_period": 1.0}
        config = write_config(workdir / f"config-{settings.transport}.json", server_config, rate_limits=limits)
        server.unleash()
        while server.raging:
            if len(figures.exit_codes) >= _MAX_CHAOS_RUNS:
                raise RuntimeError(f"{_MAX_CHAOS_RUNS} runs did not see {settings.kills} kills (see {log})")
            previous_complete = bool(figures.exit_codes) and figures.exit_codes[-1] == 0
            again = _AGAIN if previous_complete else ()
            figures.exit_codes.append(_extract(config, store, log, env, settings, server.extracting, *again))
        if server.error is not None:
            raise server.error
        for _ in range(settings.max_settle_runs):
            code = _extract(config, store, log, env, settings, threading.Event())
            figures.exit_codes.append(code)
            if code == 0:
                break
        figures.kills = server.kills
        figures.kills_during_extraction = server.kills_during_extraction
    figures.faults = server.faults

    figures.runs = len(figures.exit_codes)
    figures.retries, figures.reconnections = _client_figures(log)
    expected = server_messages(account)
    stored = store_messages(store) if store.exists() else collections.Counter()
    figures.messages_in_source = sum(expected.values())
    figures.messages_in_store = sum(stored.values())
    figures.messages_lost = sum((expected - stored).values())
    figures.messages_extra = sum((stored - expected).values())
    verdict, count, keys = store_integrity(store) if store.exists() else ("missing", 0, 0)
    figures.integrity = verdict
    figures.duplicates = count - keys
    figures.seconds = round(time.monotonic() - started, 1)
    return figures


def run_rounds(rounds: list[ChaosSettings], workdir: Path) -> list[RoundFigures]:
    """Several rounds side by side (each on its own port, store and folder): most of a round is waiting for
    restarts, pauses and timeouts, so three transports take little longer than one."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(rounds)) as pool:
        futures = [pool.submit(run_round, s, workdir / f"{s.transport}-{s.seed}") for s in rounds]
        return [future.result() for future in futures]


def write_figures(rounds: list[RoundFigures], out: Path = ARTIFACTS, name: str = "last") -> Path:
    """Write ``<name>.json`` and ``<name>.md`` (one table row per round) under ``out``; return the markdown's path."""
    out.mkdir(parents=True, exist_ok=True)
    data: list[dict[str, Any]] = [asdict(r) | {"ok": r.ok} for r in rounds]
    (out / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    kinds = sorted({kind for r in rounds for kind in r.faults})
    head = ["transport", "seed", "kills", *kinds, "runs", "exit codes", "retries", "reconnections", "source"]
    head += ["store", "lost", "extra", "duplicates", "seconds"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rounds:
        cells = [r.transport, r.seed, f"{r.kills} ({r.kills_during_extraction} mid-run)"]
        cells += [r.faults.get(kind, 0) for kind in kinds]
        cells += [r.runs, " ".join(map(str, r.exit_codes)), r.retries, r.reconnections, r.messages_in_source]
        cells += [r.messages_in_store, r.messages_lost, r.messages_extra, r.duplicates, r.seconds]
        rows.append("| " + " | ".join(str(c) for c in cells) + " |")
    path = out / f"{name}.md"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
