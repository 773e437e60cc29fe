"""The long-running connection loop: hello, heartbeats, jobs, inventory, reconnects.

One :class:`Agent` lives for the whole process. Connections come and go; jobs, the journal
and the inventory outlive them. Frames sent while disconnected are dropped on purpose: all
that matters (job results, inventory) is re-derived and resent after the next Welcome, so
nothing needs an unbounded outgoing queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import ssl
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from fleetdeck.agent import AGENT_VERSION, collectors, requests, shells, tunnels, udp
from fleetdeck.agent.backoff import HEALTHY_AFTER_SEC, Backoff
from fleetdeck.agent.config import AgentState, StateStore
from fleetdeck.agent.jobs import JobRunner
from fleetdeck.agent.journal import Journal
from fleetdeck.agent.packages import PackageRunner
from fleetdeck.agent.payload import ServerAccess, base_url
from fleetdeck.agent.power import PowerActions
from fleetdeck.agent.terminal import Terminals
from fleetdeck.agent.transport import PinMismatchError, check_pin, open_connection, parse_retry_after
from fleetdeck.agent.update import Updater
from fleetdeck.agent.wsclient import ClientConnection, ConnectionClosed, InvalidStatus, WebSocketException
from fleetdeck.protocol import binary
from fleetdeck.protocol import messages as m
from fleetdeck.protocol.binary import StreamFault
from fleetdeck.protocol.session import AgentSession, ProtocolViolation, State

log = logging.getLogger(__name__)

INVENTORY_INTERVAL_SEC = 600.0
WELCOME_TIMEOUT_SEC = 30.0
STOP_CLOSE_TIMEOUT_SEC = 5.0
EXIT_DELETED = 3  # the process's exit code when the server deleted this computer


class Agent:
    """Connects, serves, reconnects; until :meth:`stop`."""

    def __init__(
        self,
        store: StateStore,
        state: AgentState,
        *,
        reconnect_min: float = 1.0,
        reconnect_max: float = 60.0,
        inventory_interval: float = INVENTORY_INTERVAL_SEC,
        collect: Callable[[], m.Inventory] = collectors.collect,
        stop: asyncio.Event | None = None,
        simulate_power: bool = False,
        terminals: bool = True,
    ) -> None:
        self.store = store
        self.state = state
        self.backoff = Backoff(reconnect_min, reconnect_max)
        self.inventory_interval = inventory_interval
        self._collect = collect
        self._stop = stop or asyncio.Event()
        access = ServerAccess(base_url(state.server), state.uid, state.key, state.fingerprint, state.ca_pem)
        packages = PackageRunner(self.send, access, PowerActions(simulate_power))
        self.runner = JobRunner(Journal(store.dir), self.send, packages)
        self.terminals = Terminals(self.send, enabled=terminals)
        self.tunnels = tunnels.Tunnels(self.send)
        self.datagrams = udp.Datagrams(self.send)  # UDP tunnels' flows
        self._access = access
        self._free = asyncio.Event()  # cleared while an update tries the new version (no connection)
        self._free.set()
        self.restart = False  # stopped to run a newly installed release (main re-executes)
        self.updater = Updater(
            store.dir,
            self.send,
            self._fetch_release,
            self._hold,
            self._free.set,
            self._finish_for_update,
            lambda: not self.runner.busy(),
        )
        self.inventory: m.Inventory | None = None
        self.inventory_digest = ""
        self._inventory_lock = asyncio.Lock()
        self._ws: ClientConnection | None = None  # set once the session is established
        self._binary = False  # the server takes tunnel data as binary frames (this session)
        self._open_ws: ClientConnection | None = None  # set as soon as the socket is open
        self._background: set[asyncio.Task[None]] = set()
        self.connections = 0  # established sessions so far (for logs and tests)
        self.exit_code = 0  # what the process exits with once run() returns
        self._bye = False  # the server said Bye in the current session
        # Why the server refused this agent's credentials, once it has: the computer was deleted,
        # or another agent re-enrolled it. Retrying cannot help, so the agent stops (main exits 3).
        self.rejected: str | None = None

    # ------------------------------------------------------------ sending

    async def send(self, msg: m.Message) -> None:
        """Send on the current session, or drop the frame if there is none."""
        ws = self._ws
        if ws is None:
            return
        frame, is_binary = binary.encode_frame(msg, self._binary)
        with contextlib.suppress(ConnectionClosed):
            await ws.send(frame, text=not is_binary)

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------ self-update (agent.update)

    def _fetch_release(self, version: str, dest: Path, sha256: str, size: int) -> None:
        from urllib.parse import quote

        from fleetdeck.agent.payload import fetch

        fetch(self._access, f"/agent/v1/update/{quote(version)}", dest, sha256, size, lambda _d, _t: None)

    async def _hold(self) -> None:
        """Close the connection and stay away until ``_free`` is set again (the probe's turn)."""
        self._free.clear()
        ws = self._open_ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(1000, "agent updating")
        for _ in range(200):  # 10 s: the session ends as soon as the close is answered
            if self._open_ws is None:
                break
            await asyncio.sleep(0.05)

    def _finish_for_update(self) -> None:
        self.restart = True
        self._stop.set()
        self._free.set()

    # ------------------------------------------------------------ main loop

    async def run(self) -> None:
        self.runner.recover()
        inventory_task = asyncio.create_task(self._inventory_loop())
        try:
            while not self._stop.is_set():
                if not self._free.is_set():
                    await self._free.wait()
                    continue
                delay = await self._attempt()
                if self._stop.is_set():
                    break
                if not self._free.is_set():
                    continue
                if delay is None:
                    delay = self.backoff.next_delay()
                log.info("reconnecting in %.1f s", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
        finally:
            inventory_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await inventory_task
            await self.terminals.shutdown()
            await self.runner.shutdown()

    async def _attempt(self) -> float | None:
        """One connection, raced against stop(); on stop, close the websocket cleanly."""
        conn = asyncio.create_task(self._connect_once())
        stop_wait = asyncio.create_task(self._stop.wait())
        await asyncio.wait({conn, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        if not conn.done():
            ws = self._open_ws
            if ws is not None:
                with contextlib.suppress(Exception):
                    await ws.close(1001, "agent stopping")
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(conn, STOP_CLOSE_TIMEOUT_SEC)
            return None
        return conn.result()

    async def _connect_once(self) -> float | None:
        """Returns a server-requested reconnect delay, or None for ordinary backoff."""
        url = self.state.server
        try:
            async with open_connection(url, ca_pem=self.state.ca_pem) as ws:
                self._open_ws = ws
                try:
                    # with a pinned CA the handshake checked the certificate already
                    check_pin(url, ws, None if self.state.ca_pem else self.state.fingerprint)
                    return await self._session(ws)
                finally:
                    self._open_ws = None
        except PinMismatchError as exc:
            log.error("refusing server at %s: %s; not sending credentials", url, exc)
        except ssl.SSLCertVerificationError as exc:
            log.error(
                "refusing server at %s: its certificate is not signed by the pinned CA (%s);"
                " not sending credentials",
                url,
                exc.verify_message or exc,
            )
        except InvalidStatus as exc:
            log.warning("server at %s answered HTTP %s", url, exc.response.status_code)
            retry_after = parse_retry_after(exc.response.headers.get("Retry-After"))
            if retry_after is not None:
                return max(retry_after, self.backoff.next_delay())
        except ProtocolViolation as exc:
            log.error("protocol violation by the server (%s): %s", exc.code, exc)
        except (OSError, TimeoutError, WebSocketException) as exc:
            log.warning("connection to %s failed: %s", url, exc or type(exc).__name__)
        except Exception:  # a daemon must survive its own bugs; back off and try again
            log.exception("unexpected error in the connection loop")
        return None

    async def _session(self, ws: ClientConnection) -> float | None:
        session = AgentSession()
        hello = m.Hello(
            uid=self.state.uid,
            key=self.state.key,
            agent_version=AGENT_VERSION,
            inventory_digest=self.state.inventory_digest,
            known_jobs=self.runner.known_ids(),
            features=[
                m.FEATURE_REQUESTS,
                m.FEATURE_TUNNELS,
                m.FEATURE_UPDATE,
                m.FEATURE_BINARY_STREAMS,
                m.FEATURE_UDP,
            ]
            + ([m.FEATURE_TERMINAL, m.FEATURE_TERM_INPUT_ACK] if self.terminals.offered else [])
            + shells.features(sys.platform, shutil.which),
        )
        await ws.send(m.encode(hello), text=True)
        async with asyncio.timeout(WELCOME_TIMEOUT_SEC):
            frame = await ws.recv()
        welcome = session.receive(frame)
        if not isinstance(welcome, m.Welcome):
            # the session passes neither before welcome
            assert not isinstance(welcome, m.Unknown | StreamFault)
            return self._handle_control(welcome)
        log.info(
            "connected to %s as computer %s (server %s)",
            self.state.server,
            welcome.computer_id,
            welcome.server_version,
        )
        self._binary = m.FEATURE_BINARY_STREAMS in welcome.features
        self.terminals.input_acks = m.FEATURE_TERM_INPUT_ACK in welcome.features
        self.tunnels.frame = binary.MAX_DATA if self._binary else m.TUNNEL_FRAME
        self._ws = ws
        self.connections += 1
        self.backoff.connected()
        self._bye = False
        established = time.monotonic()
        heartbeat = asyncio.create_task(self._heartbeat(welcome.heartbeat_sec))
        monitoring = (
            asyncio.create_task(self._monitor(welcome.monitoring_interval_sec))
            if welcome.monitoring_interval_sec > 0
            else None
        )
        try:
            for result in self.runner.unacked_results():
                await self.send(result)
            await self.updater.welcomed(welcome)
            await self._send_inventory(force=welcome.want_inventory)
            async for frame in ws:
                msg = session.receive(frame)
                delay = self._dispatch(msg)
                if session.state is State.CLOSED:
                    await ws.close()
                    return delay
            if not self._stop.is_set():
                log.warning("server closed the connection: %s", ws.close_reason or ws.close_code)
            return None
        finally:
            self._ws = None
            self.terminals.close_all()  # nobody can see them any more
            self.tunnels.close_all()
            self.datagrams.close_all()
            heartbeat.cancel()
            if monitoring is not None:
                monitoring.cancel()
            lasted = time.monotonic() - established
            self.backoff.connection_ended(lasted)
            if not self._bye and lasted >= HEALTHY_AFTER_SEC and welcome.reconnect_window_sec > 0:
                # Dropped without a Bye (the server was killed, the network failed) after it
                # had worked: the server is likely back soon, so come back within its window.
                self.backoff.returning(welcome.reconnect_window_sec)

    def _send_soon(self, msg: m.Message) -> None:
        """Send from a synchronous handler, without holding up the receive loop."""
        task = asyncio.create_task(self.send(msg))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _check_soon(self, request: m.Request) -> None:
        """A tunnel's remote port check: a connect that may take a while, off the receive loop."""

        async def run() -> None:
            udp_check = request.body.get("protocol") == "udp"
            body = await (udp.check(request.body) if udp_check else tunnels.check(request.body))
            await self.send(m.Reply(ref_id=request.id, body=body))

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _answer_slowly(self, request: m.Request) -> None:
        """A request whose handler runs a program (the pending-updates summary): answered from
        a worker thread, so the receive loop keeps serving pings and jobs meanwhile."""

        async def run() -> None:
            await self.send(await asyncio.to_thread(requests.answer, request))

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _dispatch(self, msg: m.ServerMessage | m.Unknown | StreamFault) -> float | None:
        if isinstance(msg, m.JobRun):
            try:
                self.runner.submit(msg.job)
            except OSError as exc:  # cannot journal it, so cannot promise exactly-once: refuse
                log.error("cannot record job %s in the journal: %s", msg.job.id, exc)
                refusal = m.JobResult(
                    job_id=msg.job.id, status="failed", message=f"agent journal error: {exc}"
                )
                self._send_soon(refusal)
        elif isinstance(msg, m.TunnelOpen | m.TunnelData | m.TunnelAck | m.TunnelClose):
            self.tunnels.handle(msg)
        elif isinstance(msg, StreamFault):
            self.tunnels.fault(msg)
        elif isinstance(msg, m.UdpOpen | m.UdpData | m.UdpClose):
            self.datagrams.handle(msg)
        elif isinstance(msg, m.Request) and msg.kind == m.TUNNEL_CHECK:
            self._check_soon(msg)
        elif isinstance(msg, m.Request) and msg.kind == m.UPDATE:
            try:
                reply = m.Reply(ref_id=msg.id, body=self.updater.request(msg.body))
            except (msgspec.ValidationError, OSError) as exc:
                reply = m.Reply(ref_id=msg.id, ok=False, error=f"{type(exc).__name__}: {exc}")
            self._send_soon(reply)
        elif isinstance(msg, m.Request) and msg.kind in requests.SLOW:
            self._answer_slowly(msg)
        elif isinstance(msg, m.Request):
            self._send_soon(requests.answer(msg))
        elif isinstance(msg, m.TermOpen | m.TermInput | m.TermResize | m.TermAck | m.TermClose):
            answer = self.terminals.handle(msg)
            if answer is not None:
                self._send_soon(answer)
        elif isinstance(msg, m.Unknown):  # from a newer server: not for this agent
            log.info("ignoring a %r frame this agent does not know", msg.type)
        elif isinstance(msg, m.JobCancel):
            self.runner.cancel(msg.job_id)
        elif isinstance(msg, m.ResultAck):
            try:
                self.runner.ack(msg.job_ids)
            except OSError as exc:  # harmless: the results are just resent and acked again
                log.error("cannot update the job journal: %s", exc)
        else:
            return self._handle_control(msg)
        return None

    def _handle_control(self, msg: m.ServerMessage) -> float | None:
        """Bye and Error end the session; they say how long to wait before coming back."""
        if isinstance(msg, m.Bye):
            self._bye = True
            self.backoff.returning(msg.reconnect_within)
            delay = self.backoff.jitter(msg.reconnect_within)
            log.info("server said bye (%s); reconnecting within %.0f s", msg.reason, msg.reconnect_within)
            return delay
        if isinstance(msg, m.Error):
            if msg.code == m.ERROR_COMPUTER_DELETED:
                # Reconnecting would only be refused from now on. The credentials stay (an admin
                # may want to look); re-enrolling is the admin's decision.
                log.error(
                    "the server deleted this computer (%s); the agent stops. To manage it again,"
                    " remove %s and start the agent with a new --enroll-token",
                    msg.message,
                    self.store.path,
                )
                self.exit_code = EXIT_DELETED
                self._stop.set()
                return None
            if msg.code == m.ERROR_AUTH_FAILED:
                self.rejected = msg.message
                log.error(
                    "server %s rejected this agent's credentials (%s): the computer was deleted on the "
                    "server, or another agent re-enrolled it. This agent stops; to enroll it again as a "
                    "new computer, delete %s and start it with --enroll-token",
                    self.state.server,
                    msg.message,
                    self.store.path,
                )
                self._stop.set()
                return None
            log.error("server error %s: %s", msg.code, msg.message)
            if msg.retry_after is not None:
                return max(msg.retry_after, self.backoff.next_delay())
            return None
        log.warning("ignoring unexpected %s", type(msg).__name__)
        return None

    async def _heartbeat(self, interval: float) -> None:
        interval = max(interval, 1.0)
        while True:
            await asyncio.sleep(interval)
            await self.send(m.Heartbeat())

    async def _monitor(self, interval: float) -> None:
        """A Measurement every ``interval`` s (the server's ``monitoring.interval_sec``), while
        this session lasts; the first one an interval after the counters were primed."""
        from fleetdeck.agent.monitor import Sampler  # only agents told to measure load it

        interval = max(interval, 1.0)
        sampler = await asyncio.to_thread(Sampler)
        while True:
            await asyncio.sleep(interval)
            try:
                measurement = await asyncio.to_thread(sampler.sample)
            except Exception:  # a daemon must survive its own bugs; try again next interval
                log.exception("measuring failed")
                continue
            await self.send(measurement)

    # ------------------------------------------------------------ inventory

    async def refresh_inventory(self) -> bool:
        """Collect in a thread; returns True if the inventory changed."""
        async with self._inventory_lock:
            try:
                inventory = await asyncio.to_thread(self._collect)
            except Exception:
                log.exception("inventory collection failed")
                return False
            digest = m.inventory_digest(inventory)
            changed = digest != self.inventory_digest
            self.inventory, self.inventory_digest = inventory, digest
            return changed

    async def _send_inventory(self, force: bool = False) -> None:
        """Send the inventory if the server lacks this version of it (or asked for it)."""
        if self.inventory is None:
            await self.refresh_inventory()
        if self.inventory is None or self._ws is None:
            return
        if not force and self.inventory_digest == self.state.inventory_digest:
            return
        digest = self.inventory_digest
        await self.send(m.InventoryReport(digest=digest, data=self.inventory))
        if self._ws is not None and digest != self.state.inventory_digest:
            self.state.inventory_digest = digest
            await asyncio.to_thread(self.store.save, self.state)

    async def _inventory_loop(self) -> None:
        while True:
            if await self.refresh_inventory() and self._ws is not None:
                await self._send_inventory()
            await asyncio.sleep(self.inventory_interval)
