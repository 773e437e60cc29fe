"""The agent hub: the connections this process holds, and the batching around them.

Everything per-agent that would cost a database round trip per message is batched here:
job status updates and results are written in one transaction per flush (every few ms), and
heartbeats only touch memory, with ``last_seen`` flushed every few seconds. That is what lets
one process fan a command out to ten thousand agents and store every result in about a second.
A connection holds no task and no buffer of its own beyond its socket.

The hub also carries requests to its agents (``bus.gateway``): a call for this node becomes a
``Request`` frame, the agent's ``Reply`` goes back on the call's reply topic. Periodic duties
(job expiry, deployment ticks) are not here: ``core.housekeeping`` runs them, in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from fleetdeck.api.agent.terminals import RelayedSessions, TermChannel, connection_lost
from fleetdeck.api.agent.tunnels import TunnelHost
from fleetdeck.bus.base import Bus, Subscription
from fleetdeck.bus.gateway import CALL, AgentAnswer, AgentCall, encode
from fleetdeck.bus.terminals import KINDS as TERMINAL_CALLS
from fleetdeck.bus.topics import (
    AGENTS_REKEYED,
    COMPUTERS_DELETED,
    JOBS_CANCEL,
    JOBS_QUEUED,
    agent_request_topic,
    job_output_topic,
    job_status_topic,
)
from fleetdeck.bus.tunnels import KINDS as TUNNEL_CALLS
from fleetdeck.core.computers.entities import Presence
from fleetdeck.core.services import Services
from fleetdeck.protocol import binary
from fleetdeck.protocol import messages as m

log = logging.getLogger("fleetdeck.agents")

# Sends one frame. It must not act before its first suspension (uvicorn's ASGI send first waits
# for the socket to be writable): see send_all.
SendFn = Callable[[bytes], Coroutine[Any, Any, None]]
CloseFn = Callable[[int, str], Awaitable[None]]


async def gather(
    pending: Callable[[], int],
    longest: float,
    quiet: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Let a batch of results gather before it is written: until none has come for ``quiet``
    seconds, or ``longest`` after the first. A fan-out's results come densely while its agents
    answer (batches stay big, one transaction for many), then stop: the last few are written
    ``quiet`` after the last, not a whole ``longest`` later (a command's last result, the one
    its user waits for, used to wait up to 20 ms here)."""
    end = clock() + longest
    seen = pending()
    while (left := end - clock()) > 0:
        await sleep(min(quiet, left))
        now = pending()
        if now == seen:
            return
        seen = now


@dataclass(slots=True, eq=False)
class AgentConn:
    computer_id: int
    hostname: str
    remote: str
    send: SendFn
    close: CloseFn
    last_rx: float = field(default_factory=time.monotonic)
    features: frozenset[str] = frozenset()  # from the agent's hello (protocol FEATURE_*)
    # tunnel data and acks go as binary frames (the agent listed FEATURE_BINARY_STREAMS)
    binary: bool = False
    agent_version: str = ""
    enrolled_at: float | None = None  # unix time the key it authenticated with was issued
    # Jobs known to be this computer's (sent on this connection, or checked once): frames naming
    # them pass without a database read. A frame naming any other job is checked (endpoint).
    jobs: set[int] = field(default_factory=set)
    # Requests sent on this connection and not answered yet: id -> (reply topic, expiry timer).
    requests: dict[int, tuple[str, asyncio.TimerHandle]] = field(default_factory=dict)
    # Terminal sessions open on this connection (api.agent.terminals), by session id.
    terminals: dict[str, TermChannel] = field(default_factory=dict)

    async def send_message(self, message: m.Message) -> bool:
        try:
            await self.send(binary.encode_frame(message, self.binary)[0])
        except Exception as exc:  # the socket is gone; the receive loop will clean up
            log.debug("send to computer %s failed: %s", self.computer_id, exc)
            return False
        return True


def _send_now(conn: AgentConn, frame: bytes) -> Coroutine[Any, Any, None] | None:
    """Send ``frame`` right here, without a task, if the socket takes it without waiting (the
    rule). Otherwise return a coroutine that sends it and may wait."""
    attempt = conn.send(frame)
    try:
        attempt.send(None)
    except StopIteration:
        return None
    except Exception as exc:  # the socket is gone; the receive loop will clean up
        log.debug("send to computer %s failed: %s", conn.computer_id, exc)
        return None
    # The send waits for the socket to drain. It has written nothing yet (SendFn), so drop this
    # attempt and let the caller send again where waiting holds up nobody else.
    attempt.close()
    return _send_quietly(conn, frame)


async def _send_quietly(conn: AgentConn, frame: bytes) -> None:
    with contextlib.suppress(Exception):  # the socket is gone; the receive loop will clean up
        await conn.send(frame)


async def send_all(frames: Iterable[tuple[AgentConn, bytes]]) -> None:
    """Send one frame each to many agents (a fan-out's JobRuns, a flush's ResultAcks).

    An ASGI send is a coroutine, and the usual way to run thousands at once, ``gather``, makes
    a task of each: a few microseconds apiece, and the allocations feed the garbage collector.
    Nearly every send completes without waiting, so each is first run to its first suspension
    right here; only the sends that would wait (an agent that does not read) become tasks."""
    slow = [coro for coro in (_send_now(conn, frame) for conn, frame in frames) if coro is not None]
    if slow:
        await asyncio.gather(*slow)


# Measurements waiting to be stored (a few KB each): beyond this, new ones are dropped.
MAX_PENDING_MEASUREMENTS = 10_000


@dataclass(frozen=True)
class HubConfig:
    node_id: str = "local"
    heartbeat_sec: float = 30.0
    offline_after_sec: float = 75.0
    server_version: str = "0"
    reconnect_window_sec: float = 30.0
    hello_timeout_sec: float = 15.0  # a connection's first frame must come within this
    flush_interval: float = 0.02
    # Results and job updates stop gathering early once none came for this long (see gather).
    flush_quiet: float = 0.002
    touch_interval: float = 5.0
    max_batch: int = 5000


class AgentHub:
    def __init__(self, services: Services, bus: Bus, config: HubConfig) -> None:
        self.services = services
        self.bus = bus
        self.config = config
        # The name computers' rows record for connections held here. The composition root
        # sets the one this process claimed (core.nodes) before start().
        self.node_id = config.node_id
        self.conns: dict[int, AgentConn] = {}
        self._dispatch_wanted: set[int] = set()
        self._dispatch_event = asyncio.Event()
        self._updates: list[tuple[int, m.JobUpdate]] = []
        self._results: list[tuple[int, m.JobResult]] = []
        self._measurements: list[tuple[int, m.Measurement]] = []  # stored in batches
        self._measurement_event = asyncio.Event()
        self._flush_event = asyncio.Event()
        self._seen: dict[int, datetime] = {}
        # Connects (a Presence) and disconnects (None) not yet stored; the latest per computer.
        self._presence: dict[int, Presence | None] = {}
        self._presence_event = asyncio.Event()
        self._presence_lock = asyncio.Lock()  # one store at a time keeps them in order
        self._tasks: list[asyncio.Task[None]] = []
        self._subs: list[Subscription] = []  # the agent-request subscription last
        self._calls: asyncio.Task[None] | None = None  # the task serving agent requests (in _tasks)
        self._request_ids = itertools.count(1)
        self._sends: set[asyncio.Task[None]] = set()  # request frames to agents that read slowly
        self.stopping = False
        self._leaving: set[int] = set()  # told to go (Bye): offline once stop() is done
        self.tunnels = TunnelHost(services, self.conns.get)  # tunnels' ports of the agents held here
        self.relayed = RelayedSessions(self)  # terminals here for browsers on other processes

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start serving. What the database says about this node's computers from before is
        not cleaned up here: claiming the node name does that (core.nodes), and only for a
        name no live process holds."""
        queued = await self.bus.subscribe(JOBS_QUEUED)
        cancel = await self.bus.subscribe(JOBS_CANCEL)
        deleted = await self.bus.subscribe(COMPUTERS_DELETED)
        rekeyed = await self.bus.subscribe(AGENTS_REKEYED)
        calls = await self.bus.subscribe(agent_request_topic(self.node_id))
        self._subs = [queued, cancel, deleted, rekeyed, calls]
        self._calls = asyncio.create_task(self._on_call(calls))
        self._tasks.append(self._calls)
        for coro in (
            self._on_queued(queued),
            self._on_cancel(cancel),
            self._on_deleted(deleted),
            self._on_rekeyed(rekeyed),
            self._dispatch_loop(),
            self._flush_loop(),
            self._measurement_loop(),
            self._presence_flush_loop(),
            self._presence_loop(),
        ):
            self._tasks.append(asyncio.create_task(coro))
        self.tunnels.start()

    async def say_bye(self) -> None:
        """Tell every agent to come back later, spread over the reconnect window, so that a
        restart does not bring thousands of them back in the same second. The server calls
        this on SIGTERM/SIGINT before uvicorn closes the connections (with 1012 and no word);
        ``stop`` calls it too, for whatever is still connected then."""
        self.stopping = True
        bye = m.encode(
            m.Bye(reason="server shutting down", reconnect_within=self.config.reconnect_window_sec)
        )
        conns = list(self.conns.values())
        self._leaving.update(c.computer_id for c in conns)
        await send_all((c, bye) for c in conns)
        await asyncio.gather(*(c.close(1012, "server restart") for c in conns), return_exceptions=True)

    async def stop(self) -> None:
        await self.tunnels.stop()
        await self.relayed.stop()
        await self.say_bye()
        await self._flush_once()
        await self._store_measurements()
        await self._touch_once()
        await self._flush_presence()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sub in self._subs:
            await sub.close()
        # Every computer this node held goes offline, also those whose connection has already
        # detached during the close above (detach leaves that to this).
        ids = sorted(self._leaving | set(self.conns))
        self.conns.clear()
        if ids:
            await asyncio.to_thread(self.services.computers.set_offline, ids, node_id=self.node_id)

    async def moved(self, node_id: str) -> None:
        """This process's node name changed (it lost its lease while stalled, and another
        process may have marked its computers offline): take requests under the new name and
        store every connection held here as online again."""
        old = self._subs.pop()
        if self._calls is not None:
            self._tasks.remove(self._calls)
            self._calls.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._calls
        await old.close()
        self.node_id = node_id
        calls = await self.bus.subscribe(agent_request_topic(node_id))
        self._subs.append(calls)
        self._calls = asyncio.create_task(self._on_call(calls))
        self._tasks.append(self._calls)
        for conn in list(self.conns.values()):
            self._presence[conn.computer_id] = Presence(conn.computer_id, conn.remote, conn.agent_version)
        self._presence_event.set()

    # ------------------------------------------------------------ connections

    async def attach(self, conn: AgentConn) -> None:
        old = self.conns.get(conn.computer_id)
        self.conns[conn.computer_id] = conn
        if old is not None and old is not conn:
            log.info("computer %s reconnected; closing its previous connection", conn.computer_id)
            with contextlib.suppress(Exception):
                await old.close(1008, "replaced by a newer connection")

    def came_online(self, conn: AgentConn, agent_version: str) -> None:
        """Mark the computer online with the next presence flush (a few ms), not in a write
        transaction of its own: after a restart thousands of agents come back at once."""
        conn.agent_version = agent_version
        if self.conns.get(conn.computer_id) is conn:
            self._presence[conn.computer_id] = Presence(conn.computer_id, conn.remote, agent_version)
            self._presence_event.set()

    async def detach(self, conn: AgentConn) -> None:
        current = self.conns.get(conn.computer_id) is conn
        await self.tunnels.agent_gone(conn, current)
        if current:
            del self.conns[conn.computer_id]
            self._seen.pop(conn.computer_id, None)
            if not self.stopping:  # (stop marks them all offline at once)
                self._presence[conn.computer_id] = None
                self._presence_event.set()
        connection_lost(conn)  # its terminals end (the agent hangs their shells up too)
        unanswered, conn.requests = conn.requests, {}
        for reply_to, timer in unanswered.values():  # the callers need not wait for their timeout
            timer.cancel()
            gone = AgentAnswer("unreachable", error="the agent disconnected", reason="disconnected")
            await self._answer(reply_to, gone)

    def heard_from(self, conn: AgentConn) -> None:
        conn.last_rx = time.monotonic()

    def heartbeat(self, conn: AgentConn) -> None:
        self._seen[conn.computer_id] = datetime.now(UTC)

    def want_dispatch(self, computer_id: int) -> None:
        self._dispatch_wanted.add(computer_id)
        self._dispatch_event.set()

    def job_update(self, computer_id: int, update: m.JobUpdate) -> None:
        self._updates.append((computer_id, update))
        self._flush_event.set()

    def job_result(self, computer_id: int, result: m.JobResult) -> None:
        self._results.append((computer_id, result))
        self._flush_event.set()

    def measurement(self, computer_id: int, measurement: m.Measurement) -> None:
        """Store soon, with the others that arrive within the flush interval (one INSERT of
        many rows). Telemetry: a crash loses at most one interval's worth."""
        if len(self._measurements) < MAX_PENDING_MEASUREMENTS:  # dropped while the database lags
            self._measurements.append((computer_id, measurement))
        self._measurement_event.set()

    async def _measurement_loop(self) -> None:
        while True:
            await self._measurement_event.wait()
            await asyncio.sleep(self.config.flush_interval)  # let a batch gather
            self._measurement_event.clear()
            try:
                await self._store_measurements()
            except Exception:
                log.exception("storing measurements failed; they are dropped")

    async def _store_measurements(self) -> None:
        while self._measurements:
            batch = self._measurements[: self.config.max_batch]
            self._measurements = self._measurements[self.config.max_batch :]
            await asyncio.to_thread(self.services.monitoring.intake_batch, batch)

    async def job_output(self, frame: bytes, output: m.JobOutput) -> None:
        await self.bus.publish(job_output_topic(output.job_id), frame)

    # ------------------------------------------------------------ requests to agents

    async def agent_reply(self, conn: AgentConn, reply: m.Reply) -> None:
        """An agent's answer: to whoever asked, if they still wait (a late or foreign reply is
        dropped; request ids are per hub, so one agent cannot answer another's request)."""
        pending = conn.requests.pop(reply.ref_id, None)
        if pending is None:
            log.debug(
                "computer %s answered request %s, which nobody waits for", conn.computer_id, reply.ref_id
            )
            return
        reply_to, timer = pending
        timer.cancel()
        if reply.ok:
            await self._answer(reply_to, AgentAnswer("ok", body=reply.body))
        else:
            await self._answer(reply_to, AgentAnswer("failed", error=reply.error or "failed", reason="agent"))

    async def _on_call(self, sub: Subscription) -> None:
        async for _topic, payload in sub:
            try:
                call = CALL.decode(payload)
            except msgspec.DecodeError:
                log.warning("ignoring an unreadable agent request on the bus")
                continue
            try:
                await self._call(call)
            except Exception:  # one bad call must not end the subscription
                log.exception("agent request for computer %s failed", call.computer_id)

    async def _call(self, call: AgentCall) -> None:
        conn = self.conns.get(call.computer_id)
        if conn is None:
            # Its row said this node, but the agent has gone (or went to another node) since.
            await self._answer(
                call.reply_to,
                AgentAnswer("unreachable", error="not connected to this server", reason="not_held"),
            )
            return
        if call.kind in TUNNEL_CALLS:  # for this process's listeners, not for the agent
            await self._answer(call.reply_to, await self.tunnels.call(conn, call))
            return
        if call.kind in TERMINAL_CALLS:  # for a browser on another process: answered when open
            self.relayed.call(call)
            return
        if (
            call.kind == m.TUNNEL_CHECK
            and call.body.get("protocol") == "udp"
            and m.FEATURE_UDP not in conn.features
        ):
            # An older agent would check a TCP port instead, and say a wrong "not open".
            await self._answer(
                call.reply_to,
                AgentAnswer("failed", error="its agent is too old for UDP tunnels", reason="unsupported"),
            )
            return
        if m.FEATURE_REQUESTS not in conn.features:
            # Agents from before requests close the connection on a frame they do not know.
            await self._answer(
                call.reply_to,
                AgentAnswer("failed", error="its agent is too old to answer requests", reason="unsupported"),
            )
            return
        rid = next(self._request_ids)
        # Forget the call a little after the caller has given up, answered or not.
        timer = asyncio.get_running_loop().call_later(call.timeout + 1.0, conn.requests.pop, rid, None)
        conn.requests[rid] = (call.reply_to, timer)
        slow = _send_now(conn, m.encode(m.Request(id=rid, kind=call.kind, body=call.body)))
        if slow is not None:  # the socket is full: send when it drains, without holding up others
            task = asyncio.create_task(slow)
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _answer(self, reply_to: str, answer: AgentAnswer) -> None:
        try:
            await self.bus.publish(reply_to, encode(answer))
        except Exception:  # the caller times out instead
            log.exception("publishing an agent's answer failed")

    # ------------------------------------------------------------ loops

    async def _on_queued(self, sub: Subscription) -> None:
        async for _topic, payload in sub:
            for cid in msgspec.json.decode(payload, type=list[int]):
                if cid in self.conns:
                    self._dispatch_wanted.add(cid)
            if self._dispatch_wanted:
                self._dispatch_event.set()

    async def _on_cancel(self, sub: Subscription) -> None:
        async for _topic, payload in sub:
            for cid, jid in msgspec.json.decode(payload, type=list[tuple[int, int]]):
                conn = self.conns.get(cid)
                if conn is not None:
                    await conn.send_message(m.JobCancel(job_id=jid))

    async def _on_deleted(self, sub: Subscription) -> None:
        """A computer was deleted (by any server process): its agent is told why and its
        connection closed, and nothing more is stored for it (its row is gone)."""
        async for _topic, payload in sub:
            for cid in msgspec.json.decode(payload, type=list[int]):
                await self._deleted(cid)

    async def _deleted(self, cid: int) -> None:
        conn = self.conns.get(cid)
        if conn is not None:
            log.info("computer %s was deleted; closing its agent's connection", cid)
            await conn.send_message(
                m.Error(
                    code=m.ERROR_COMPUTER_DELETED,
                    message="this computer was deleted on the server; re-enroll the agent to manage it again",
                )
            )
            with contextlib.suppress(Exception):
                await conn.close(m.CLOSE_COMPUTER_DELETED, "computer deleted")
            await self.detach(conn)
        self._seen.pop(cid, None)
        self._presence.pop(cid, None)

    async def rekeyed(self, computer_id: int, enrolled_at: float) -> None:
        """A re-enrollment replaced this computer's agent: tell every node (this one included)
        to drop the connections that still run on the old key."""
        await self.bus.publish(AGENTS_REKEYED, msgspec.json.encode([[computer_id, enrolled_at]]))

    async def _on_rekeyed(self, sub: Subscription) -> None:
        async for _topic, payload in sub:
            try:
                rekeyed = msgspec.json.decode(payload, type=list[tuple[int, float]])
            except msgspec.DecodeError:
                log.warning("ignoring an unreadable re-enrollment notice on the bus")
                continue
            for cid, enrolled_at in rekeyed:
                conn = self.conns.get(cid)
                if conn is None or (conn.enrolled_at is not None and conn.enrolled_at >= enrolled_at):
                    continue  # not here, or already the new agent
                log.warning(
                    "computer %s was re-enrolled by another agent; closing the old one's connection", cid
                )
                await conn.send_message(
                    m.Error(
                        code="auth_failed",
                        message="this computer was re-enrolled by another agent; this agent's key is void",
                    )
                )
                with contextlib.suppress(Exception):
                    await conn.close(1008, "re-enrolled by another agent")

    async def _dispatch_loop(self) -> None:
        while True:
            await self._dispatch_event.wait()
            self._dispatch_event.clear()
            wanted = [cid for cid in self._dispatch_wanted if cid in self.conns]
            self._dispatch_wanted.clear()
            if not wanted:
                continue
            try:
                remotes = {cid: self.conns[cid].remote for cid in wanted if cid in self.conns}
                features = {cid: self.conns[cid].features for cid in wanted if cid in self.conns}
                jobs = await asyncio.to_thread(
                    self.services.jobs.claim_for_delivery, wanted, remotes, features
                )
            except Exception:
                log.exception("claiming jobs for delivery failed; retrying")
                self._dispatch_wanted.update(wanted)
                await asyncio.sleep(1)
                self._dispatch_event.set()
                continue
            frames: list[tuple[AgentConn, bytes]] = []
            for cid, spec in jobs:
                # A job whose agent has gone stays "sent"; it is redelivered on the next hello.
                if (conn := self.conns.get(cid)) is not None:
                    conn.jobs.add(spec.id)
                    frames.append((conn, m.encode(m.JobRun(job=spec))))
            await send_all(frames)

    async def _flush_loop(self) -> None:
        while True:
            await self._flush_event.wait()
            await gather(
                lambda: len(self._results) + len(self._updates),
                self.config.flush_interval,
                self.config.flush_quiet,
            )
            self._flush_event.clear()
            try:
                await self._flush_once()
            except Exception:
                log.exception("storing job results failed; agents will resend them")

    async def _flush_once(self) -> None:
        while self._updates or self._results:
            updates, self._updates = (
                self._updates[: self.config.max_batch],
                self._updates[self.config.max_batch :],
            )
            results, self._results = (
                self._results[: self.config.max_batch],
                self._results[self.config.max_batch :],
            )
            if updates and results:
                # A job that finished within one flush interval: its result overwrites all that
                # its "running" notice would write (status, started_at), so skip the notice.
                # Saves a second write of every row when a command fans out to many agents.
                done = {(cid, r.job_id) for cid, r in results}
                updates = [
                    (cid, u)
                    for cid, u in updates
                    if u.status != "running" or u.phase or (cid, u.job_id) not in done
                ]
            if updates:
                await asyncio.to_thread(self.services.jobs.record_updates, updates)
            if not results:
                continue
            acked = await asyncio.to_thread(self.services.jobs.record_results, results)
            # Announced before the acks go out: those who wait for the results (a long poll,
            # a job stream) are told first; the agents only forget what is stored.
            try:
                for _cid, jid in acked:  # one by one, no task each: a publish only hands over
                    await self.bus.publish(job_status_topic(jid), b"final")
            except Exception:  # viewers of these jobs fall back to polling
                log.exception("publishing final job statuses failed")
            by_conn: dict[int, list[int]] = {}
            for cid, jid in acked:
                by_conn.setdefault(cid, []).append(jid)
                if (conn := self.conns.get(cid)) is not None:
                    conn.jobs.discard(jid)  # done: the agent forgets it too
            await send_all(
                (conn, m.encode(m.ResultAck(job_ids=jids)))
                for cid, jids in by_conn.items()
                if (conn := self.conns.get(cid)) is not None
            )

    async def _presence_flush_loop(self) -> None:
        while True:
            await self._presence_event.wait()
            await asyncio.sleep(self.config.flush_interval)  # let a batch gather
            self._presence_event.clear()
            try:
                await self._flush_presence()
            except Exception:
                log.exception("storing connects and disconnects failed; retrying")
                await asyncio.sleep(1)
                self._presence_event.set()

    async def _flush_presence(self) -> None:
        async with self._presence_lock:
            if not self._presence:
                return
            batch, self._presence = self._presence, {}
            online = [p for p in batch.values() if p is not None]
            offline = [cid for cid, p in batch.items() if p is None]
            try:
                await asyncio.to_thread(
                    self.services.computers.set_presence, online, offline, node_id=self.node_id
                )
            except BaseException:
                for cid, p in batch.items():  # a newer mark that came meanwhile wins
                    self._presence.setdefault(cid, p)
                raise

    async def _presence_loop(self) -> None:
        """Flush last_seen and close connections that went silent (dead peers, no FIN)."""
        while True:
            await asyncio.sleep(self.config.touch_interval)
            try:
                await self._touch_once()
            except Exception:
                log.exception("updating last_seen failed")
            deadline = time.monotonic() - self.config.offline_after_sec
            for conn in [c for c in self.conns.values() if c.last_rx < deadline]:
                log.info(
                    "computer %s silent for %.0fs; dropping it",
                    conn.computer_id,
                    self.config.offline_after_sec,
                )
                with contextlib.suppress(Exception):
                    await conn.close(1001, "heartbeat timeout")
                await self.detach(conn)

    async def _touch_once(self) -> None:
        if self._seen:
            seen, self._seen = self._seen, {}
            gone = await asyncio.to_thread(self.services.computers.touch, seen)
            # Deleted where the bus announcement cannot reach (another process without a
            # shared bus, the CLI): found here within one touch interval.
            for cid in sorted(gone):
                await self._deleted(cid)
