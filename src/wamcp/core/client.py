"""MCPClient: MCP servers by name, one supervisor task per connection, and ``execute_tool`` with limits and retries.

The one thing a reader must know: each server's connection is owned by its supervisor task (the SDK's anyio cancel
scopes must be entered and left by the same task). The supervisor opens the session, watches it (end of stream, the
health monitor, ``session_timeout``) and reconnects with exponential backoff and full jitter; callers only borrow the
live :class:`~wamcp.core.session.Session` and call it from their own tasks, so calls are pipelined on one session
(bounded by ``max_concurrency``), never serialized behind a lock, and never see a half-dead session: when it dies,
pending calls fail with ``MCPConnectionError`` and new calls wait for the next generation. With ``max_connections`` > 1
a server is a pool of such connections, each with its own supervisor; each call goes to the least loaded live one.
With several endpoints (``endpoint`` + ``endpoints``), connection *i* prefers endpoint *i* mod *N*, fails over to the
others when it loses it, and probes it back in: once it answers, the connection takes no new calls, lets its calls in
flight finish and reconnects to it.

Supervisor tasks are asyncio tasks (the client runs on asyncio, as the sync facade does), so ``connect`` can return
while the connection lives on without the caller holding a task group open. They, the sessions and the events they
wait on belong to one event loop: a call from another loop (the sync facade's, then ``asyncio.run``) first moves the
client there (see :meth:`MCPClient._use_this_loop`).
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Literal

import anyio
import anyio.lowlevel
import mcp_types as types

from ..config import RateLimits, ServerConfig
from ..errors import (
    ConfigError,
    MCPAuthenticationError,
    MCPClientError,
    MCPConnectionError,
    MCPRateLimitError,
    MCPTimeoutError,
    MCPToolError,
)
from ..redact import get_logger, install_log_redaction, one_line, redact
from .cache import ResponseCache
from .clock import Clock, SystemClock
from .loops import run_on_loop
from .metrics import Metrics
from .ratelimit import RateLimiter
from .retry import RetryPolicy, is_transient
from .session import Session, open_session
from .transports.base import Transport, create_endpoint_transports

__all__ = ["MCPClient", "State"]

logger = get_logger(__name__)

State = Literal["disconnected", "connecting", "connected", "reconnecting", "failed"]

#: Tool error texts that mean "slow down" (lharries-style servers answer with text, not HTTP 429).
_RATE_LIMIT_TEXT = re.compile(r"rate[\s_-]*limit|too many requests|\b429\b", re.IGNORECASE)
#: Backoff between reconnect attempts never exceeds this (seconds), however many attempts failed.
_MAX_RECONNECT_DELAY = 30.0
#: Bound on a connection's teardown after it was lost (a dead HTTP peer must not hold a DELETE open for minutes).
_TEARDOWN_GRACE = 2.0
#: The same bound for a lost network connection: its peer is dead or hung, so waiting for it to acknowledge the goodbye
#: (HTTP DELETE, WebSocket close) only delays the failover. stdio keeps the longer grace to stop its process cleanly.
_LOST_TEARDOWN_GRACE = 0.1
#: How long a health ping may take before the connection counts as dead, at most (see _ping_timeout).
_HEALTH_TIMEOUT = 5.0
#: ... and at least, however short the health-check interval: a busy server may well take a second to answer.
_MIN_PING_TIMEOUT = 1.0
#: How often a connection away from its preferred endpoint probes it when the health monitor is off (interval 0).
_PROBE_INTERVAL_WITHOUT_MONITOR = 30.0
#: A call still pending this long after its timeout means the connection is stuck (e.g. a write that never ends).
_BACKSTOP_SLACK = 1.0
#: A session that lived at least this long (seconds) resets the reconnect backoff; a shorter one counts as a failure.
_STABLE_AFTER = 1.0
#: How often the supervisor looks for stuck calls.
_WATCHDOG_INTERVAL = 0.5
#: The connections of a pool renew their sessions up to this share of ``session_timeout`` apart.
_SESSION_STAGGER = 0.1
#: A pooled connection whose supervisor gave up is restarted by the next call at most this often (seconds).
_HEAL_INTERVAL = 5.0
#: On a move to another event loop: how long the old loop, if it runs in another thread, may take to start closing its
#: connections (it may be blocked, e.g. on a sync facade call made from it), and then to finish (a slot's teardown is
#: bounded by _disconnect_slot's 6 s).
_MOVE_START_WITHIN = 0.5
_MOVE_FINISH_WITHIN = 8.0
#: Aggregate state of a pool: the best state any of its connections is in.
_STATE_RANK: dict[State, int] = {"connected": 0, "reconnecting": 1, "connecting": 2, "failed": 3, "disconnected": 4}

EndpointState = Literal["up", "down", "unknown"]


@dataclass
class _EndpointHealth:
    """What the pool last saw of one configured endpoint; shared by its connections, the latest observation wins."""

    endpoint: str  # redacted, for status() and logs
    state: EndpointState = "unknown"
    last_error: str | None = None
    last_checked: float | None = None  # epoch seconds


def _ping_timeout(config: ServerConfig) -> float:
    """How long a health ping may take: ``min(5 s, timeout, max(1 s, health_check_interval))``.

    Tied to the interval so that a hung server is found within about two intervals (the wait for the next ping plus
    the ping itself), floored at 1 s so a short interval does not make a busy server look dead, and 5 s when the
    monitor is off (``health_check()`` called by hand).
    """
    interval = config.health_check_interval
    scaled = max(_MIN_PING_TIMEOUT, interval) if interval > 0 else _HEALTH_TIMEOUT
    return min(_HEALTH_TIMEOUT, config.timeout, scaled)


class _Server:
    """Everything the client knows about one connection to a server; written only by its supervisor and the client.

    A server with ``max_connections`` > 1 is a pool: the registered object is slot 0 and owns the others
    (``members``); each slot has its own supervisor, transports, session and ``max_concurrency`` gate, while the
    rate limiter, retry decision, cache and endpoint health are the server's and shared. ``transports`` are the
    slot's connect candidates in the order it tries them: its preferred endpoint's first (two for ``auto``), then
    the following endpoints' in turn; ``endpoint_of`` gives each candidate's endpoint number.
    """

    def __init__(
        self,
        config: ServerConfig,
        groups: list[list[Transport]],
        home: int,
        limiter: RateLimiter,
        idempotent: Callable[[str], bool],
    ) -> None:
        self.config = config
        # Set when the client moved to another event loop: this slot's connection is being closed on the old one and
        # a call still holding it must not reconnect it (the server's new slots took its place).
        self.retired = False
        self.resume = False  # (on the owner) the server was connected before a move: health_check reconnects first
        self.name = config.name
        order = [(home + step) % len(groups) for step in range(len(groups))]
        self.transports = [transport for index in order for transport in groups[index]]
        self.endpoint_of = [index for index in order for _ in groups[index]]
        self.endpoint_count = len(groups)
        self.home = home  # the endpoint this slot prefers: slot number mod endpoint count
        self.transport_index = 0
        # No new calls, the running ones finish: before moving back to the preferred endpoint or renewing the session.
        self.draining = False
        self.return_to: int | None = None  # the preferred endpoint's transport that answered the probe
        self.health = [_EndpointHealth(group[0].endpoint) for group in groups]  # the owner's list is the pool's
        self.limiter = limiter
        self.idempotent = idempotent
        self.retry = RetryPolicy.from_config(config)
        self.state: State = "disconnected"
        self.generation = 0
        self.connected_since: float | None = None
        self.last_error: MCPClientError | None = None
        self.latency: float | None = None
        self.session: Session | None = None
        self.in_flight = 0
        self.call_seq = 0
        self.deadlines: dict[int, float] = {}  # call token -> loop time after which the call counts as stuck
        self.outcomes = 0  # bumped on every connect success or failure, so waiters see "an attempt finished"
        self.run_id = 0
        self.task: asyncio.Task[None] | None = None
        self.stop: anyio.Event | None = None
        self.concurrency: anyio.Semaphore | None = None
        self.attempt_scope: anyio.CancelScope | None = None  # the connect attempt in progress, if any
        self.cache: ResponseCache | None = None  # config.cache_ttl > 0: results of idempotent tools are reused
        self.new_groups: Callable[[], list[list[Transport]]] = lambda: groups  # (owner) fresh transports per slot
        self.owner: _Server = self  # slot 0 of the pool; the other slots wake its waiters when they change
        self.members: list[_Server] = [self]  # every slot of the pool (on the owner only)
        self.slot = 0
        self.assigned = 0  # calls routed to this slot and not finished: waiting for its gate or running
        self.next_pick = 0  # where the owner starts looking, so slots with equal load take turns
        self.next_heal = 0.0  # clock time before which the pool does not restart this slot again
        self._changed: anyio.Event | None = None

    @property
    def transport(self) -> Transport:
        return self.transports[self.transport_index]

    @property
    def endpoint_index(self) -> int:
        """The number of the endpoint in use or being tried (0 = ``endpoint``, 1 = ``endpoints[0]``, ...)."""
        return self.endpoint_of[self.transport_index]

    def changed(self) -> anyio.Event:
        if self.owner is not self:
            return self.owner.changed()  # one event per pool: a caller waiting for any slot wakes on every change
        # anyio events need a running loop, and add_server is synchronous: create lazily.
        if self._changed is None:
            self._changed = anyio.Event()
        return self._changed

    def notify(self) -> None:
        if self.owner is not self:
            self.owner.notify()
            return
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def live_session(self) -> Session | None:
        session = self.session
        if self.state == "connected" and session is not None and not session.closed.is_set():
            return session
        return None


def _new_pool(
    config: ServerConfig,
    groups: Callable[[], list[list[Transport]]],
    limiter: RateLimiter,
    idempotent: Callable[[str], bool],
    cache: ResponseCache | None,
) -> _Server:
    """Slot 0 of a new pool of ``config.max_connections`` disconnected slots, each with transports from ``groups()``."""
    srv = _Server(config, groups(), 0, limiter, idempotent)
    srv.new_groups, srv.cache = groups, cache
    for slot in range(1, config.max_connections):
        # Slot i prefers endpoint i mod N: with max_connections >= N every endpoint carries calls.
        extra = _Server(config, groups(), slot % srv.endpoint_count, limiter, idempotent)
        extra.owner, extra.slot, extra.health = srv, slot, srv.health
        srv.members.append(extra)
    return srv


def _moved_pool(old: _Server) -> _Server:
    """A disconnected copy of ``old``'s pool for another event loop: new transports, sessions and events; the same
    limiter, cache and retry rules; the endpoints' health, the last error and the generation count carried over."""
    srv = _new_pool(old.config, old.new_groups, old.limiter, old.idempotent, old.cache)
    srv.health[:] = [replace(health) for health in old.health]
    for new, previous in zip(srv.members, old.members, strict=True):
        new.generation, new.last_error = previous.generation, previous.last_error
    return srv


def _moved_error(srv: _Server) -> MCPClientError:
    return MCPClientError(
        f"MCP server {srv.name!r}: this call's connection was closed because the client is now used from another "
        "event loop",
        server=srv.name,
        hint="use one client from one event loop at a time (e.g. finish the sync facade's calls before asyncio.run)",
    )


def _default_idempotent(config: ServerConfig) -> Callable[[str], bool]:
    if config.idempotent_tools is not None:
        allowed = frozenset(config.idempotent_tools)
        return allowed.__contains__
    return lambda _tool: False


class MCPClient:
    """Connects to MCP servers by name and calls their tools, surviving restarts, slowness and rate limits.

    Use ``async with MCPClient() as client`` (or call :meth:`close`); ``execute_tool`` connects on first use.
    ``clock`` drives rate-limit waits and retry/reconnect backoff (inject a ``FakeClock`` in tests); ``metrics``
    collects per-server and per-tool counters.
    """

    def __init__(self, *, clock: Clock | None = None, metrics: Metrics | None = None) -> None:
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._metrics = metrics if metrics is not None else Metrics()
        self._servers: dict[str, _Server] = {}
        self._rng = random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the connections run on (see _use_this_loop)
        self._loop_lock = threading.Lock()
        # The SDK logs whole messages at DEBUG (tokens, phone numbers): its loggers get our redaction too.
        install_log_redaction()

    # ---------------------------------------------------------------- configuration

    def add_server(
        self,
        config: ServerConfig,
        *,
        rate_limits: RateLimits | None = None,
        idempotent: Callable[[str], bool] | None = None,
        transport: Transport | Sequence[Transport] | None = None,
    ) -> None:
        """Register ``config`` under ``config.name`` (replacing a disconnected one of that name).

        ``rate_limits=None`` means no client-side limits (a 429 from the server still starts a cooldown).
        ``idempotent(tool)`` says whether a tool may be retried after a transient fault; by default only the tools in
        ``config.idempotent_tools`` are. ``transport`` overrides the ones built from the config (tests use the
        in-memory transport): one transport, or a sequence of them standing for as many endpoints (in place of
        ``endpoint`` + ``endpoints``); every connection of a pool (``max_connections``) then opens those same ones.
        """
        existing = self._servers.get(config.name)
        if existing is not None and _pool_state(existing) not in ("disconnected", "failed"):
            raise ConfigError(
                f"server {config.name!r} is already registered and {_pool_state(existing)}",
                hint="disconnect it first, or use another name",
            )
        if transport is None:
            given = None
        elif isinstance(transport, Sequence):
            given = [[one] for one in transport]
        else:
            given = [[transport]]
        if given is not None and not given:
            raise ConfigError(f"server {config.name!r}: no transport given")

        def groups() -> list[list[Transport]]:
            # Own transports per slot: an open stdio transport is one process, an HTTP/WebSocket one a connection.
            return given if given is not None else create_endpoint_transports(config)

        limiter = RateLimiter(rate_limits if rate_limits is not None else RateLimits.disabled(), self._clock)
        chosen = idempotent if idempotent is not None else _default_idempotent(config)
        cache = None
        if config.cache_ttl > 0:
            cache = ResponseCache(config.cache_ttl, config.cache_max_entries, self._clock)
        srv = self._servers[config.name] = _new_pool(config, groups, limiter, chosen, cache)
        first = srv.transport
        logger.debug("added server %s at %s (%s)", config.name, first.endpoint, first.kind)

    def _server(self, name: str) -> _Server:
        try:
            return self._servers[name]
        except KeyError:
            known = ", ".join(sorted(self._servers)) or "none"
            raise ConfigError(
                f"unknown MCP server {name!r} (registered: {known})", hint="call add_server() with its config first"
            ) from None

    # ---------------------------------------------------------------- connection lifecycle

    async def _use_this_loop(self) -> None:
        """Move the client to the running event loop when its connections live on another one (every public
        coroutine calls this first; the common case, the same loop, is one comparison).

        Why: the seed promises a gradual migration from the sync facade (its own loop, in a thread) to async code
        (``asyncio.run``), and the process-wide WhatsApp client is shared by both, so one client must work from
        whichever loop calls it, one loop at a time. A connection's supervisor task, session, events and locks belong to
        the loop that opened it: awaited from another loop they hang or raise. So the move swaps in fresh, disconnected
        slots for every server (same limiter, cache, retry rules and counters), has the old loop close the old
        connections there, thread-safely and bounded (:func:`~wamcp.core.loops.run_on_loop`; nothing to do for a closed
        loop: ``asyncio.run`` cancelled its tasks, which stopped their stdio servers), and reconnects here on demand.
        Calls still running on the old loop fail with a clear error rather than reconnect there (which would move it
        back). Not chosen: one private loop for every connection, with async callers hopping to it, which would cost a
        thread switch per call and make cancellation cross threads.
        """
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        with self._loop_lock:  # two loops moving at once must not both take over the same slots
            previous, self._loop = self._loop, loop
            if previous is None or previous is loop:
                return
            retired = list(self._servers.values())
            for old in retired:
                for slot in old.members:
                    slot.retired = True
                fresh = self._servers[old.name] = _moved_pool(old)
                fresh.resume = _pool_state(old) in ("connected", "connecting", "reconnecting")
        running = [slot for old in retired for slot in old.members if slot.task is not None and not slot.task.done()]
        logger.debug(
            "MCP client called from another event loop: closing %d connection(s) on the old loop, reconnecting here",
            len(running),
        )
        if not running:
            return

        async def close_old_connections() -> None:
            try:
                async with anyio.create_task_group() as tg:
                    for slot in running:
                        tg.start_soon(self._disconnect_slot, slot)
            except Exception as err:  # pragma: no cover - _disconnect_slot bounds and swallows its own failures
                logger.debug("closing connections of the old event loop failed: %r", err)

        if not await run_on_loop(
            previous, close_old_connections, start_within=_MOVE_START_WITHIN, finish_within=_MOVE_FINISH_WITHIN
        ):
            logger.debug("the old event loop is not closing its connections now; it will when it runs again")

    async def connect(self, server_name: str) -> bool:
        """Connect now (or wait for the connection in progress); ``True`` once connected.

        Raises ``MCPConnectionError``, ``MCPAuthenticationError``, ``MCPTimeoutError`` (or ``MCPRateLimitError`` on an
        HTTP 429) with the cause chained, within ``connect_timeout`` plus a little. A pool (``max_connections`` > 1)
        opens its connections in parallel and counts as connected when at least one is up; it raises only when
        none is (the lowest slot's error), and logs the slots that failed.
        """
        await self._use_this_loop()
        return await self._connect(server_name)

    async def _connect(self, server_name: str) -> bool:
        srv = self._server(server_name)
        if len(srv.members) == 1:
            return await self._connect_slot(srv)
        errors: list[tuple[int, MCPClientError]] = []

        async def open_slot(slot: _Server) -> None:
            try:
                await self._connect_slot(slot)
            except MCPClientError as err:
                errors.append((slot.slot, err))

        async with anyio.create_task_group() as tg:
            for slot in srv.members:
                tg.start_soon(open_slot, slot)
        up = sum(1 for slot in srv.members if slot.live_session() is not None)
        errors.sort(key=lambda pair: pair[0])
        if up == 0:
            if errors:
                raise errors[0][1]
            raise MCPConnectionError(f"no connection to MCP server {srv.name!r} is up", server=srv.name)
        retry_at = self._clock.monotonic() + _HEAL_INTERVAL
        for index, err in errors:
            srv.members[index].next_heal = retry_at
            logger.warning("%s: connection %d of %d failed (%d up): %s", srv.name, index + 1, len(srv.members), up, err)
        return True

    async def _connect_slot(self, srv: _Server) -> bool:
        """Connect one slot (or wait for its connection in progress)."""
        if srv.live_session() is not None:
            return True
        if srv.task is None or srv.state in ("disconnected", "failed"):
            self._start(srv)
        seen = srv.outcomes
        budget = srv.config.connect_timeout * (len(srv.transports) - srv.transport_index) + 1.5
        with anyio.move_on_after(budget):
            while True:
                if srv.retired:
                    raise _moved_error(srv)
                if srv.live_session() is not None:
                    return True
                if srv.outcomes != seen and srv.state in ("disconnected", "failed") and srv.last_error is not None:
                    raise srv.last_error
                await srv.changed().wait()
        raise MCPTimeoutError(
            f"MCP server {srv.name!r} at {srv.transport.endpoint} ({srv.transport.kind}) did not connect within "
            f"{srv.config.connect_timeout:g} s",
            server=srv.name,
            hint="is the server running and answering on that endpoint?",
        )

    def _start(self, srv: _Server) -> None:
        srv.run_id += 1
        srv.transport_index = 0  # a fresh run prefers the slot's own endpoint (and streamable HTTP for auto) again
        srv.draining, srv.return_to = False, None
        srv.state = "connecting"
        srv.stop = anyio.Event()
        if srv.concurrency is None:
            # A semaphore, not a CapacityLimiter: the gate only counts calls, and the limiter's per-task borrower
            # bookkeeping cost ~0.7 µs more per call (a 1M-message chat-by-chat run makes ~91k calls).
            srv.concurrency = anyio.Semaphore(srv.config.max_concurrency)
        srv.notify()
        srv.task = asyncio.get_running_loop().create_task(
            self._supervise(srv, srv.run_id, srv.stop), name=f"wamcp-supervisor-{srv.name}"
        )

    async def _supervise(self, srv: _Server, run_id: int, stop: anyio.Event) -> None:
        """Own the connection: open, serve until lost/stale/stopped, reconnect with backoff, give up after retries."""
        ever_connected = False
        failures = 0
        # With several endpoints, reconnect attempts go in rounds: each endpoint once, then one backoff. This is the
        # endpoint the current round began with (None: no round in progress, back off before the next attempt).
        round_start: int | None = None
        while not stop.is_set():
            if srv.run_id != run_id:
                return  # a newer run took over (connect() after we failed); leave the state to it
            attempt_error: MCPClientError | None = None
            session_seen: Session | None = None

            end_reason = "failed"

            def on_ready(session: Session) -> None:
                nonlocal ever_connected, session_seen
                ever_connected = True
                session_seen = session
                srv.attempt_scope = None  # serving now: a stop closes it gracefully instead of cancelling
                if srv.run_id != run_id:
                    return
                srv.session = session
                srv.generation += 1
                srv.state = "connected"
                srv.connected_since = time.time()
                srv.outcomes += 1
                if srv.generation > 1:
                    self._metrics.record_reconnect(srv.name)
                self._endpoint_seen(srv, srv.endpoint_index, None)
                logger.info(
                    "connected to %s at %s (%s), generation %d",
                    srv.name,
                    srv.transport.endpoint,
                    srv.transport.kind,
                    srv.generation,
                )
                srv.notify()

            def on_failure(error: MCPClientError) -> None:
                nonlocal attempt_error
                if attempt_error is not None:
                    return
                attempt_error = error
                if srv.run_id != run_id:
                    return
                srv.last_error = error
                if isinstance(error, MCPRateLimitError):
                    srv.limiter.enter_cooldown(error.retry_after)
                more_candidates = srv.transport_index + 1 < len(srv.transports)
                # A failed connect attempt takes the endpoint out, unless another transport of it comes next (auto:
                # streamable HTTP refused, SSE not tried yet).
                another_kind = (
                    more_candidates
                    and srv.endpoint_of[srv.transport_index + 1] == srv.endpoint_index
                    and not isinstance(error, MCPAuthenticationError)
                )
                # (session_seen is this attempt's: the callback runs within the iteration that defined it.)
                if session_seen is None and not another_kind:  # noqa: B023
                    self._endpoint_seen(srv, srv.endpoint_index, error)
                if not ever_connected and not (more_candidates and not isinstance(error, MCPAuthenticationError)):
                    # The first connect of a run is answered at once (no background retries): connect() raises.
                    srv.state = "failed"
                    srv.session = None
                srv.outcomes += 1
                srv.notify()

            scope = srv.attempt_scope = anyio.CancelScope()
            try:
                with scope:
                    async with open_session(
                        srv.transport,
                        server=srv.name,
                        protocol=srv.config.protocol,
                        connect_timeout=srv.config.connect_timeout,
                        on_ready=on_ready,
                        on_failure=on_failure,
                    ) as session:
                        reason = end_reason = await self._serve(srv, session, stop)
                        logger.debug("leaving session of %s: %s", srv.name, reason)
                        # Bound the teardown: a dead peer must not hold the close (DELETE, flush) open for long.
                        lost_peer = reason == "lost" and srv.transport.kind != "stdio"
                        grace = _LOST_TEARDOWN_GRACE if lost_peer else _TEARDOWN_GRACE
                        scope.deadline = anyio.current_time() + grace
                        if srv.run_id == run_id and srv.session is session:
                            srv.session = None
                            srv.draining = False
                            if not stop.is_set():
                                srv.state = "reconnecting"
                                if session.close_cause is not None and reason == "lost":
                                    srv.last_error = _as_client_error(session.close_cause)
                                srv.notify()
            except MCPClientError as err:
                on_failure(err)
            except Exception as err:  # pragma: no cover - open_session translates everything; keep the task alive
                on_failure(MCPConnectionError(f"unexpected error in connection to {srv.name}: {err!r}"))
            # A cancel delivered by throw() desyncs coverage's tracer on CPython 3.11 (gh-106749); one shielded
            # checkpoint resyncs it (the SDK does the same). Costs one loop turn per connection, not per call.
            await anyio.lowlevel.cancel_shielded_checkpoint()
            if session_seen is not None and srv.run_id == run_id and srv.session is session_seen:
                srv.session = None
            if stop.is_set() or srv.run_id != run_id:
                break
            if session_seen is not None and end_reason == "failed":
                # The session ended by an error while serving (an HTTP stream cut off mid-read): a loss like any other.
                end_reason = "lost"
            if session_seen is not None and end_reason == "lost":
                hung_up = MCPConnectionError(f"the server at {srv.transport.endpoint} hung up")
                self._endpoint_seen(srv, srv.endpoint_index, session_seen.close_cause or hung_up)
            home, srv.return_to = srv.return_to, None
            if home is not None and session_seen is not None:
                # The preferred endpoint answered a probe and this connection's calls have finished (or the session
                # was lost while they did): reconnect to it now, without a backoff.
                failures, round_start = 0, None
                srv.transport_index = home
                srv.state = "reconnecting"
                srv.notify()
                continue
            if not ever_connected:
                if (
                    attempt_error is not None
                    and srv.transport_index + 1 < len(srv.transports)
                    and not isinstance(attempt_error, MCPAuthenticationError)
                ):
                    srv.transport_index += 1  # auto: streamable HTTP refused, try SSE
                    continue
                srv.state = "failed"
                srv.notify()
                return
            if session_seen is not None and (
                end_reason != "lost" or time.monotonic() - session_seen.opened_at >= _STABLE_AFTER
            ):
                failures = 0
                round_start = None
                if end_reason == "lost" and srv.endpoint_count > 1:
                    # Failover: the endpoint that just failed counts as tried; the next one is tried at once.
                    round_start = srv.transport_index
                    srv.transport_index = _next_endpoint(srv)
                    # Info, not a warning: failover is the configured, expected answer to a lost endpoint.
                    logger.info(
                        "%s: lost the connection to %s; switching to %s",
                        srv.name,
                        srv.transports[round_start].endpoint,
                        srv.transport.endpoint,
                    )
            else:
                # A failed attempt, or a session that died at once (a crash-looping server): back off harder, and
                # fail over to the next endpoint when there are several.
                failures += 1
                if len(srv.transports) > 1:
                    if round_start is None:
                        round_start = srv.transport_index
                    srv.transport_index = (srv.transport_index + 1) % len(srv.transports)
                if isinstance(attempt_error, MCPAuthenticationError) or failures >= max(1, srv.config.max_retries):
                    srv.state = "failed"
                    srv.session = None
                    logger.warning(
                        "giving up on %s after %d failed reconnect attempts: %s", srv.name, failures, srv.last_error
                    )
                    srv.notify()
                    return
            if srv.state != "reconnecting":
                srv.state = "reconnecting"
                srv.notify()
            if round_start is not None and srv.transport_index != round_start:
                continue  # an endpoint not yet tried in this round may be up: no backoff before it
            await self._sleep_unless_stopped(self._backoff(srv, failures), stop)
            round_start = srv.transport_index
        if srv.run_id == run_id:
            srv.state = "disconnected"
            srv.session = None
            srv.notify()

    async def _sleep_unless_stopped(self, delay: float, stop: anyio.Event) -> None:
        # Sleep through the injected clock (instant with FakeClock), but wake at once when told to stop.
        async with anyio.create_task_group() as tg:

            async def wake_on_stop() -> None:
                await stop.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(wake_on_stop)
            await self._clock.sleep(delay)
            tg.cancel_scope.cancel()

    def _backoff(self, srv: _Server, failures: int) -> float:
        """Full jitter: uniform in [0, min(cap, retry_delay * 2**failures)]; the first retry after a loss is quick."""
        ceiling = min(_MAX_RECONNECT_DELAY, srv.config.retry_delay * 2.0 ** min(failures, 32))
        return ceiling * self._rng.random()

    async def _serve(self, srv: _Server, session: Session, stop: anyio.Event) -> str:
        """Wait until the session is lost, stale (``session_timeout``), the slot is ready to go back to its preferred
        endpoint (``home``) or we are told to stop; say which."""
        reason = "stopped"
        async with anyio.create_task_group() as tg:

            async def until(event: anyio.Event, why: str) -> None:
                nonlocal reason
                await event.wait()
                reason = why
                tg.cancel_scope.cancel()

            tg.start_soon(until, session.closed, "lost")
            tg.start_soon(until, stop, "stopped")
            tg.start_soon(self._watchdog, srv, session)
            if srv.config.health_check_interval > 0:
                tg.start_soon(self._monitor, srv, session)
            if srv.endpoint_index != srv.home:

                async def go_home() -> None:
                    nonlocal reason
                    await self._return_home(srv)
                    reason = "home"
                    tg.cancel_scope.cancel()

                tg.start_soon(go_home)
            if srv.config.session_timeout > 0:

                async def expire() -> None:
                    nonlocal reason
                    age = _session_age_limit(srv)
                    await anyio.sleep(age)
                    logger.info("session with %s is older than %g s: renewing", srv.name, age)
                    # The calls in flight finish on this session and new ones wait for the next (renewed under
                    # them, they failed with "connection closed", and a call that is not safe to repeat is lost).
                    srv.draining = True
                    await self._drain(srv)
                    reason = "session_timeout"
                    tg.cancel_scope.cancel()

                tg.start_soon(expire)
        return reason

    async def _watchdog(self, srv: _Server, session: Session) -> None:
        """Drop the connection when a call outlives its timeout by ``_BACKSTOP_SLACK``: nothing may hang."""
        while not session.closed.is_set():
            await anyio.sleep(_WATCHDOG_INTERVAL)
            now = _loop_time()
            if any(deadline < now for deadline in srv.deadlines.values()):
                logger.warning("a call to %s is stuck past its timeout; dropping the connection", srv.name)
                session.mark_closed(
                    MCPTimeoutError(
                        f"MCP server {srv.name!r} at {srv.transport.endpoint} ({srv.transport.kind}) stopped "
                        "answering: a call outlived its timeout",
                        server=srv.name,
                        hint="the connection looked stuck; the client reconnects",
                    )
                )
                return

    async def _monitor(self, srv: _Server, session: Session) -> None:
        interval = srv.config.health_check_interval
        seconds = _ping_timeout(srv.config)
        while not session.closed.is_set():
            await anyio.sleep(interval)
            heard = session.received
            try:
                srv.latency = await session.ping(seconds)
            except MCPClientError as err:
                if isinstance(err, MCPTimeoutError) and session.received != heard and not session.closed.is_set():
                    # Answers to other requests kept arriving while the ping waited: a busy server, not a hung one.
                    logger.debug("health ping of %s was slow (%s) but the server is answering", srv.name, err)
                    continue
                logger.warning("health check of %s failed: %s; reconnecting", srv.name, err)
                session.mark_closed(err)
                return
            self._endpoint_seen(srv, srv.endpoint_index, None)

    async def _return_home(self, srv: _Server) -> None:
        """Return when ``srv`` (away from its preferred endpoint) may reconnect to it: a probe of that endpoint
        succeeded and the calls already routed to ``srv`` have finished."""
        interval = srv.config.health_check_interval or _PROBE_INTERVAL_WITHOUT_MONITOR
        while True:
            await anyio.sleep(interval)
            home = await self._probe_home(srv)
            if home is not None:
                break
        srv.return_to, srv.draining = home, True
        srv.notify()  # waiting callers pick again, and avoid this slot
        logger.info(
            "%s: connection %d of %d goes back to %s once its %d calls in flight finish",
            srv.name,
            srv.slot + 1,
            len(srv.owner.members),
            srv.transports[home].endpoint,
            srv.assigned,
        )
        await self._drain(srv)

    async def _probe_home(self, srv: _Server) -> int | None:
        """Open a short session to ``srv``'s preferred endpoint and ping it: the transport that answered, if any.

        Bounded by ``connect_timeout`` + the ping timeout + the teardown grace per transport (two with ``auto``).
        """
        ping = _ping_timeout(srv.config)
        error: MCPClientError | None = None
        for index, transport in enumerate(srv.transports):
            if srv.endpoint_of[index] != srv.home:
                break  # the preferred endpoint's transports come first
            answered = False
            try:
                with anyio.move_on_after(srv.config.connect_timeout + ping + _TEARDOWN_GRACE) as bound:
                    async with open_session(
                        transport,
                        server=srv.name,
                        protocol=srv.config.protocol,
                        connect_timeout=srv.config.connect_timeout,
                    ) as probe:
                        await probe.ping(ping)
                        answered = True
                        bound.deadline = anyio.current_time() + _TEARDOWN_GRACE
            except MCPClientError as err:
                error = error if answered else err
            if answered:
                self._endpoint_seen(srv, srv.home, None)
                return index
            if bound.cancelled_caught and error is None:
                error = MCPTimeoutError(f"{transport.endpoint} did not answer a probe", server=srv.name)
            logger.debug("%s: probe of %s failed: %s", srv.name, transport.endpoint, error)
            if isinstance(error, MCPAuthenticationError):
                break
        self._endpoint_seen(srv, srv.home, error)
        return None

    async def _drain(self, srv: _Server) -> None:
        """Wait until the calls routed to ``srv`` have finished (new ones avoid it), no longer than their deadlines."""
        floor = _loop_time() + srv.config.timeout + _BACKSTOP_SLACK  # calls still queued at the gate
        while srv.assigned > 0:
            remaining = max([floor, *srv.deadlines.values()]) - _loop_time()
            if remaining <= 0:
                return  # a call outlived its deadline: the watchdog would drop the session anyway
            with anyio.move_on_after(remaining):
                await srv.changed().wait()

    def _endpoint_seen(self, srv: _Server, index: int, error: BaseException | None) -> None:
        """Record what ``srv`` just found out about endpoint ``index`` (``error`` None: it answered); log when it goes
        out of rotation and when it comes back."""
        health = srv.health[index]
        before = health.state
        health.last_checked = time.time()
        if error is None:
            health.state = "up"
        else:
            health.state = "down"
            health.last_error = str(_as_client_error(error))
        if srv.endpoint_count == 1 or before == health.state:
            return
        if health.state == "down":
            logger.info("%s: endpoint %s is out of rotation: %s", srv.name, health.endpoint, health.last_error)
        elif before == "down":
            logger.info("%s: endpoint %s is back in rotation", srv.name, health.endpoint)

    async def disconnect(self, server_name: str) -> None:
        """Close the connection(s) to ``server_name`` (pending calls fail with ``MCPConnectionError``)."""
        await self._use_this_loop()
        srv = self._server(server_name)
        srv.resume = False
        if len(srv.members) == 1:
            await self._disconnect_slot(srv)
            return
        async with anyio.create_task_group() as tg:
            for slot in srv.members:
                tg.start_soon(self._disconnect_slot, slot)

    async def _disconnect_slot(self, srv: _Server) -> None:
        task, stop = srv.task, srv.stop
        if srv.session is not None:
            srv.session.closed_by_client = True  # calls cut short by this name us, not the server, as the cause
        srv.run_id += 1  # the old run must not touch the state any more
        if stop is not None:
            stop.set()
        if srv.attempt_scope is not None:
            # Still connecting (a handshake can take connect_timeout): abandon the attempt instead of waiting for it.
            srv.attempt_scope.cancel()
            srv.attempt_scope = None
        srv.state = "disconnected"
        srv.session = None
        srv.connected_since = None
        srv.draining, srv.return_to = False, None
        srv.notify()
        if task is not None and not task.done():
            # stdio shutdown may wait out the SDK's grace (~2 s + 2 s) for a server that ignores end of input.
            with anyio.move_on_after(6.0):
                await asyncio.shield(task)
            if not task.done():  # pragma: no cover - a transport that ignores cancellation
                task.cancel()
                with suppress(asyncio.CancelledError, Exception):
                    await task
        srv.task = None

    async def close(self) -> None:
        """Disconnect every server."""
        await self._use_this_loop()
        async with anyio.create_task_group() as tg:
            for name in list(self._servers):
                tg.start_soon(self.disconnect, name)

    async def __aenter__(self) -> MCPClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ---------------------------------------------------------------- calls

    def _pick(self, srv: _Server) -> tuple[_Server, Session | None]:
        """The slot for the next call and its live session: the live slot with the fewest calls assigned.

        Slots with equal load take turns; a slot draining (before it moves back to its preferred endpoint or renews
        its session) takes none.
        A pooled slot whose supervisor gave up is restarted in the background (at most every ``_HEAL_INTERVAL`` s)
        so the pool heals while the other slots carry the calls.
        """
        members = srv.members
        if len(members) == 1:
            return srv, None if srv.draining else srv.live_session()
        best: _Server | None = None
        best_session: Session | None = None
        count = len(members)
        start = srv.next_pick
        srv.next_pick = (start + 1) % count
        for offset in range(count):
            slot = members[(start + offset) % count]
            session = None if slot.draining else slot.live_session()
            if session is None:
                if slot.state in ("failed", "disconnected") and (slot.task is None or slot.task.done()):
                    now = self._clock.monotonic()
                    if now >= slot.next_heal and any(m.live_session() is not None for m in members):
                        slot.next_heal = now + _HEAL_INTERVAL
                        logger.info("%s: restarting connection %d of %d", srv.name, slot.slot + 1, count)
                        self._start(slot)
                continue
            if best is None or slot.assigned < best.assigned:
                best, best_session = slot, session
        return (best, best_session) if best is not None else (srv, None)

    async def _session(self, srv: _Server, seconds: float) -> tuple[_Server, Session]:
        """A slot with a live session, connecting or waiting out a reconnect (bounded by ``seconds``)."""
        slot, session = self._pick(srv)
        if session is not None:
            return slot, session
        # A call that finds the server idle or given up on makes one fresh connect attempt; a call that queued behind
        # the supervisor's own reconnecting fails at once, with the last cause, when the supervisor gives up.
        may_connect = True
        with anyio.move_on_after(seconds):
            while True:
                if srv.retired:
                    raise _moved_error(srv)
                slot, session = self._pick(srv)
                if session is not None:
                    return slot, session
                if all(m.state in ("disconnected", "failed") or m.task is None for m in srv.members):
                    if not may_connect:
                        break
                    may_connect = False
                    await self._connect(srv.name)
                    continue
                may_connect = False
                await srv.changed().wait()
        cause = next((m.last_error for m in srv.members if m.last_error is not None), None)
        state = _pool_state(srv)
        # Connected but draining: every live connection lets its calls finish before it renews its session or moves
        # back to its preferred endpoint.
        draining = state == "connected" and all(m.draining for m in srv.members if m.live_session() is not None)
        if state == "failed":
            why = "gave up reconnecting"
        elif draining:
            why = f"is reconnecting once its calls in flight finish; no connection within {seconds:g} s"
        else:
            why = f"is {state}; no connection within {seconds:g} s"
        # Still handshaking with a server that does not answer is a timeout; a server that is down, a connection error.
        silent = state == "connecting" or isinstance(cause, MCPTimeoutError)
        error = (MCPTimeoutError if silent else MCPConnectionError)(
            f"MCP server {srv.name!r} at {srv.transport.endpoint} ({srv.transport.kind}) {why}"
            + (f" (last error: {cause.message})" if cause else ""),
            server=srv.name,
            hint="give the call a longer timeout"
            if draining
            else "is the server running? the client keeps reconnecting in the background",
        )
        raise error from cause

    async def execute_tool(
        self,
        server_name: str,
        tool_name: str,
        arguments: dict[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the seed's API; enforced inside with the SDK's deadline
        *,
        idempotent: bool | None = None,
        use_cache: bool = True,
    ) -> dict[str, Any]:
        """Call ``tool_name`` on ``server_name`` and return its result as a plain dict.

        Returns ``{"server": str, "tool": str, "content": [MCP content blocks as JSON dicts, e.g. {"type": "text",
        "text": ...}], "structured_content": Any | None, "text": "\\n".join(text of the text blocks),
        "is_error": False, "duration": float seconds}``.

        Raises ``MCPToolError`` (``.text`` = the server's text) when the tool reports an error; ``MCPRateLimitError``
        when the server says to slow down (HTTP 429 or a "rate limit"/"too many requests" tool error), which also
        starts the server's cooldown; ``MCPTimeoutError`` after ``timeout`` seconds (default: the server's
        ``timeout``); ``MCPConnectionError`` when the server cannot be reached. Connects on first use.
        Transient faults (connection, timeout, rate limit) are retried with backoff only when the tool is idempotent:
        ``idempotent`` overrides, ``None`` asks the server's ``idempotent`` callable. Tool errors are never retried.
        With ``cache_ttl`` set, an idempotent call may be answered from the server's cache (``use_cache=False``
        asks the server afresh) and any other call clears that cache (see :mod:`wamcp.core.cache`).
        """
        await self._use_this_loop()
        srv = self._server(server_name)
        limit = float(timeout) if timeout is not None else srv.config.timeout
        if limit <= 0:
            raise ConfigError(f"timeout must be > 0 seconds, got {timeout!r}")
        retry = idempotent if idempotent is not None else srv.idempotent(tool_name)
        if srv.cache is not None:
            return await srv.cache.call(
                tool_name,
                arguments,
                lambda: self._execute(srv, tool_name, arguments, limit, retry),
                read_only=retry,
                use_cache=use_cache,
            )
        return await self._execute(srv, tool_name, arguments, limit, retry)

    async def _execute(
        self, srv: _Server, tool_name: str, arguments: dict[str, Any] | None, limit: float, retry: bool
    ) -> dict[str, Any]:
        """One logical call: a single attempt, or attempts with backoff when ``retry`` allows."""
        if not retry or srv.retry.max_attempts <= 1:
            return await self._call_once(srv, tool_name, arguments, limit)

        def on_retry(attempt: int, error: BaseException, delay: float) -> None:
            self._metrics.record_retry(srv.name, tool_name)
            logger.info("retrying %s on %s in %.2f s after: %s", tool_name, srv.name, delay, error)

        def fails_over(error: BaseException) -> bool:
            # A lost connection moves the retry to another connection of the pool or the next endpoint, and the
            # retried call waits for a live session anyway: a backoff first would only add to what the failover costs.
            return isinstance(error, MCPConnectionError) and (len(srv.members) > 1 or srv.endpoint_count > 1)

        return await srv.retry.call(
            lambda: self._call_once(srv, tool_name, arguments, limit),
            retryable=is_transient,
            clock=self._clock,
            on_retry=on_retry,
            retry_at_once=fails_over,
        )

    async def _call_once(
        self, srv: _Server, tool: str, arguments: dict[str, Any] | None, seconds: float
    ) -> dict[str, Any]:
        timeout = seconds
        started = time.perf_counter()
        error: BaseException | None = None
        cooling: MCPRateLimitError | None = None  # refused here, during a cooldown: not the server saying so again
        try:
            remaining = srv.limiter.cooldown_remaining()
            if remaining > timeout:
                cooling = MCPRateLimitError(
                    f"MCP server {srv.name!r} asked us to slow down; cooling down for {remaining:.0f} s more",
                    server=srv.name,
                    tool=tool,
                    hint="wait for the cooldown or lower rate_limits",
                    retry_after=remaining,
                )
                raise cooling
            waited = await srv.limiter.acquire(tool)
            if waited > 0:
                self._metrics.record_rate_limited(srv.name, waited, tool)
            # Fast path without an extra await: the live session (of the least loaded slot), when there is one.
            slot, live = self._pick(srv)
            slot, session = (slot, live) if live is not None else await self._session(srv, timeout)
            gate = slot.concurrency
            assert gate is not None  # set by _start, which a live session implies
            slot.assigned += 1  # before any await, so concurrent callers see this slot's load
            try:
                # acquire_nowait first: the async acquire always yields to the loop, a measurable cost per call.
                try:
                    gate.acquire_nowait()
                except anyio.WouldBlock:
                    await gate.acquire()
                try:
                    slot.in_flight += 1
                    # The SDK enforces ``timeout`` once the request is written; the slot's watchdog is the backstop
                    # for a write that never completes (one timer per connection instead of a cancel scope per call).
                    slot.call_seq += 1
                    token = slot.call_seq
                    slot.deadlines[token] = _loop_time() + timeout + _BACKSTOP_SLACK
                    try:
                        result = await session.call_tool(tool, arguments, timeout)
                    finally:
                        slot.in_flight -= 1
                        del slot.deadlines[token]
                finally:
                    gate.release()
            finally:
                slot.assigned -= 1
                if slot.draining and not slot.assigned:
                    slot.notify()  # the slot's last call finished: it may move back to its preferred endpoint
            return self._shape(srv, tool, result, time.perf_counter() - started)
        except MCPClientError as err:
            error = err
            if isinstance(err, MCPRateLimitError) and err is not cooling:
                srv.limiter.enter_cooldown(err.retry_after)
            if not isinstance(err, MCPToolError):
                srv.last_error = err
            raise
        finally:
            self._metrics.record_call(
                srv.name, tool, time.perf_counter() - started, type(error).__name__ if error is not None else None
            )

    def _shape(self, srv: _Server, tool: str, result: types.CallToolResult, duration: float) -> dict[str, Any]:
        content = [_block_dict(block) for block in result.content]
        text = "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))
        if result.is_error:
            shown = one_line(text) or "(no text)"  # the whole text stays in the error's .text
            if _RATE_LIMIT_TEXT.search(text):
                raise MCPRateLimitError(
                    f"MCP server {srv.name!r}: tool {tool!r} was rate limited: {shown}",
                    server=srv.name,
                    tool=tool,
                    hint="the client pauses calls to this server for rate_limits.cooldown_period",
                )
            raise MCPToolError(
                f"MCP server {srv.name!r}: tool {tool!r} reported an error: {shown}",
                server=srv.name,
                tool=tool,
                text=text,
            )
        return {
            "server": srv.name,
            "tool": tool,
            "content": content,
            "structured_content": result.structured_content,
            "text": text,
            "is_error": False,
            "duration": duration,
        }

    async def list_tools(self, server_name: str) -> list[dict[str, Any]]:
        """The server's tools: ``[{"name", "description", "inputSchema", "outputSchema"}]`` (connects on first use)."""
        await self._use_this_loop()
        srv = self._server(server_name)
        slot, session = await self._session(srv, srv.config.timeout)
        slot.assigned += 1  # counted like a call, so a slot moving back to its preferred endpoint waits for it
        try:
            tools = await session.list_tools(srv.config.timeout)
        except MCPClientError as err:
            srv.last_error = err
            raise
        finally:
            slot.assigned -= 1
            if slot.draining and not slot.assigned:
                slot.notify()
        return [
            {
                "name": tool.name,
                "description": tool.description,
                "inputSchema": tool.input_schema,
                "outputSchema": tool.output_schema,
            }
            for tool in tools
        ]

    async def health_check(self, server_name: str) -> bool:
        """``True`` when the server answers a ping (or a tool listing) quickly; a failure triggers a reconnect.

        A pool pings each live connection; it is healthy when at least one answered (calls avoid the others).
        A server that was connected on another event loop before this call is reconnected here first.
        """
        await self._use_this_loop()
        srv = self._server(server_name)
        if srv.resume:
            srv.resume = False
            try:
                await self._connect(server_name)
            except MCPClientError as err:
                logger.debug("%s: reconnecting on this event loop failed: %s", srv.name, err)
                return False
        healthy = False
        for slot in srv.members:
            session = slot.live_session()
            if session is None:
                continue
            try:
                slot.latency = await session.ping(_ping_timeout(slot.config))
            except MCPClientError as err:
                slot.last_error = err
                session.mark_closed(err)
                continue
            self._endpoint_seen(slot, slot.endpoint_index, None)
            healthy = True
        return healthy

    # ---------------------------------------------------------------- observation

    def status(self, server_name: str) -> dict[str, Any]:
        """A snapshot for humans and health endpoints (no secrets: the endpoint is redacted).

        For a pool the top level sums up (best state, total calls in flight, generations added up, the first live
        connection's transport, endpoint and server info) and ``sessions`` lists each connection (with the endpoint
        it is on, the one it prefers, and ``draining`` while it lets its calls finish before moving back to that one
        or renewing its session). ``endpoints`` lists
        each configured endpoint: ``{"endpoint", "state": "up" | "down" | "unknown" (not tried yet), "connections":
        live connections on it, "last_error", "last_checked": epoch seconds}``, the state being the latest observation
        (connect, loss, health ping or probe) by any connection.
        """
        srv = self._server(server_name)
        sessions = [_slot_status(slot) for slot in srv.members]
        live = [slot for slot in srv.members if slot.live_session() is not None]
        shown = live[0] if live else srv
        session = shown.live_session()
        limiter = srv.limiter.snapshot()
        remaining = srv.limiter.cooldown_remaining()
        last_error = next((m.last_error for m in srv.members if m.last_error is not None), None)
        return {
            "server": srv.name,
            "state": _pool_state(srv),
            "transport": shown.transport.kind,
            "endpoint": shown.transport.endpoint,
            "connected_since": min((s.connected_since for s in live if s.connected_since is not None), default=None),
            "generation": sum(slot.generation for slot in srv.members),
            "last_error": str(last_error) if last_error is not None else None,
            "latency": shown.latency,
            "protocol_version": session.protocol_version if session is not None else None,
            "server_info": session.server_info if session is not None else None,
            "rate_limit": limiter,
            "cooldown_until": time.time() + remaining if remaining > 0 else None,
            "in_flight": sum(slot.in_flight for slot in srv.members),
            "cache": srv.cache.stats() if srv.cache is not None else None,
            "max_connections": len(srv.members),
            "sessions": sessions,
            "endpoints": [
                {
                    "endpoint": health.endpoint,
                    "state": health.state,
                    "connections": sum(
                        1 for slot in live if slot.endpoint_index == index and slot.live_session() is not None
                    ),
                    "last_error": health.last_error,
                    "last_checked": health.last_checked,
                }
                for index, health in enumerate(srv.health)
            ],
        }

    def metrics(self) -> dict[str, Any]:
        """Counters and latency percentiles per server and tool (see :class:`~wamcp.core.metrics.Metrics`).

        Servers with a response cache also get ``"cache"``: hits, misses, evictions, … (cache hits are not ``calls``:
        they never reach the server).
        """
        snapshot = self._metrics.snapshot()
        for name, srv in self._servers.items():
            if srv.cache is not None and name in snapshot:
                snapshot[name]["cache"] = srv.cache.stats()
        return snapshot

    @property
    def servers(self) -> list[str]:
        """Registered server names."""
        return list(self._servers)

    def __repr__(self) -> str:
        states = ", ".join(f"{name}={_pool_state(srv)}" for name, srv in self._servers.items())
        return f"MCPClient({states})"


def _session_age_limit(srv: _Server) -> float:
    """``session_timeout``, staggered across a pool's connections (by up to 10 %): opened together, they would
    otherwise renew together, and a call would find none of them taking calls."""
    return srv.config.session_timeout * (1.0 + _SESSION_STAGGER * srv.slot / len(srv.owner.members))


def _pool_state(srv: _Server) -> State:
    """The best state any connection of ``srv`` is in (a lone connection's own state)."""
    if len(srv.members) == 1:
        return srv.state
    return min((slot.state for slot in srv.members), key=_STATE_RANK.__getitem__)


def _slot_status(slot: _Server) -> dict[str, Any]:
    session = slot.live_session()
    return {
        "slot": slot.slot,
        "state": slot.state,
        "transport": slot.transport.kind,
        "endpoint": slot.transport.endpoint,
        "preferred_endpoint": slot.health[slot.home].endpoint,
        "draining": slot.draining,  # takes no new calls: moving home or renewing its session once they finish
        "connected_since": slot.connected_since if session is not None else None,
        "generation": slot.generation,
        "in_flight": slot.in_flight,
        "waiting": slot.assigned - slot.in_flight,
        "max_concurrency": slot.config.max_concurrency,
        "latency": slot.latency,
        "last_error": str(slot.last_error) if slot.last_error is not None else None,
    }


def _next_endpoint(srv: _Server) -> int:
    """The first transport of the endpoint after the one ``srv`` is on (its other transports are skipped: lost)."""
    count = len(srv.transports)
    for step in range(1, count):
        index = (srv.transport_index + step) % count
        if srv.endpoint_of[index] != srv.endpoint_index:
            return index
    return (srv.transport_index + 1) % count


def _loop_time() -> float:
    """The running loop's clock, which the call deadlines use (``anyio.current_time()`` on asyncio, without its
    ~1 µs lookup of the running async library on every call)."""
    return asyncio.get_running_loop().time()


def _block_dict(block: types.ContentBlock) -> dict[str, Any]:
    # Plain text blocks are nearly every block; building their dict directly saves a pydantic dump per call.
    if type(block) is types.TextContent and block.annotations is None and block.meta is None:
        return {"type": "text", "text": block.text}
    return block.model_dump(mode="json", by_alias=True, exclude_none=True)


def _as_client_error(error: BaseException) -> MCPClientError:
    if isinstance(error, MCPClientError):
        return error
    return MCPConnectionError(f"connection lost: {redact(str(error)) or type(error).__name__}")
