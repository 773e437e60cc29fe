"""Tunnels' listening sockets, in the server process that holds the computer's agent.

Why here, beside the hub: a tunnel's streams travel over its agent's WebSocket, which only this
process holds, so its listener must live here too; and it is transport (sockets), which core
does not do. Core starts and stops listeners through ``core.ports.TunnelListeners``, whose bus
implementation (``bus/tunnels.py``) brings the call to the hub of the right node, which hands it
to :class:`TunnelHost`. With several server processes each serves the tunnels of the agents it
holds; a tunnel's port is opened on the node holding its agent (so clients must reach that
node's address: behind one load balancer, tunnels' ports are not balanced).

Per accepted connection: the peer is checked against the tunnel's ACL (refused: closed at once,
logged), a ``TunnelOpen`` goes to the agent, which dials the remote address, and the bytes go
both ways through ``protocol.streams.StreamPump`` (frames of at most 32 KiB in JSON, 128 KiB as
binary frames to agents that take them, a credit window per stream). A tunnel without
connections or traffic for its idle timeout, or past its auto-close time, is closed and forgotten
(``TunnelService.expire``, audited). When the agent goes, its listeners close; when it comes
back, they open again from what core has (``TunnelService.plans``).

A UDP tunnel (``protocol`` udp, or tcp+udp: both on the same port) has a UDP socket instead of,
or beside, the TCP listener: ``api/agent/udp.py`` (a flow per source address, datagrams to and
from agents whose hello lists ``udp``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from fleetdeck.api.agent.tunnel_proxy import ProxyApp, make_pool
from fleetdeck.api.agent.udp import UdpPort
from fleetdeck.bus.gateway import AgentAnswer, AgentCall
from fleetdeck.bus.tunnels import ACTIVE, LISTEN, PORT_IN_USE, SET_ACL, UNLISTEN, UNSUPPORTED, plan_of
from fleetdeck.core.errors import AgentFailed, AgentTimeout, AgentUnreachable
from fleetdeck.core.ports import TunnelPlan
from fleetdeck.core.services import Services
from fleetdeck.core.tunnels.service import acl_allows
from fleetdeck.protocol import binary
from fleetdeck.protocol import messages as m
from fleetdeck.protocol.binary import StreamFault
from fleetdeck.protocol.streams import StreamPump

if TYPE_CHECKING:
    from fleetdeck.api.agent.hub import AgentConn

log = logging.getLogger("fleetdeck.tunnels")

OPEN_TIMEOUT_SEC = 15.0  # the agent's connect to the remote address, and its answer
TICK_SEC = 1.0  # how often idle and auto-close times are looked at
MAX_STREAMS_PER_TUNNEL = 256
PROXY_MAX_REQUESTS = 64  # concurrent requests on one http_proxy tunnel's port
BRIDGE_READ = 64 * 1024  # bytes a bridge (desktop view) takes from its stream at once


@dataclass(eq=False)
class _Stream:
    conn: AgentConn
    opened: asyncio.Future[m.TunnelOpened]
    pump: StreamPump


@dataclass(eq=False)
class _Listener:
    plan: TunnelPlan
    server: asyncio.Server | None = None
    udp: UdpPort | None = None
    proxy: uvicorn.Server | None = None  # an http_proxy tunnel's HTTPS server
    acl: tuple[str, ...] = ()
    streams: set[int] = field(default_factory=set)
    last_activity: float = field(default_factory=time.monotonic)
    closing: bool = False

    def touch(self) -> None:
        self.last_activity = time.monotonic()


class TunnelHost:
    def __init__(self, services: Services, conns: Callable[[int], AgentConn | None]) -> None:
        self._services = services
        self._conn_of = conns
        self._listeners: dict[tuple[int, str], _Listener] = {}
        self._streams: dict[tuple[int, int], _Stream] = {}
        self._flows: dict[tuple[int, int], UdpPort] = {}  # UDP flows, by (computer id, flow id)
        self.udp_flow_idle_sec = m.UDP_FLOW_IDLE_SEC
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        # The certificate and key the http_proxy tunnels serve (the composition root sets it).
        self.proxy_tls: Callable[[], tuple[Path, Path]] | None = None
        self._pool = make_pool(self.dial)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_loop())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for key in list(self._listeners):
            await self._close(key, force=True)
        for task in list(self._tasks):
            task.cancel()
        await self._pool.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ the agent comes and goes

    def agent_ready(self, conn: AgentConn) -> None:
        """The agent was welcomed: open its tunnels' ports again (they closed when it went)."""
        if m.FEATURE_TUNNELS in conn.features:
            self._spawn(self._reopen(conn))

    async def _reopen(self, conn: AgentConn) -> None:
        try:
            plans = await asyncio.to_thread(self._services.tunnels.plans, conn.computer_id)
        except Exception:
            log.exception("reading the tunnels of computer %s failed", conn.computer_id)
            return
        for plan in plans:
            if (plan.computer_id, plan.key) in self._listeners:
                continue
            error = await self._listen(plan)
            if error:
                log.warning(
                    "tunnel %s of computer %s: cannot listen on %s:%s again: %s",
                    plan.key,
                    plan.computer_id,
                    plan.local_host,
                    plan.local_port,
                    error,
                )

    async def agent_gone(self, conn: AgentConn, current: bool) -> None:
        """A connection ended: its streams end; if it was the agent's connection, its listeners
        close too (until it comes back)."""
        for sid, stream in [(k, s) for k, s in self._streams.items() if s.conn is conn]:
            self._end_stream(sid, stream)
        for listener in list(self._listeners.values()):
            if listener.udp is not None:
                listener.udp.agent_gone(conn)
        if current:
            for key in [k for k in self._listeners if k[0] == conn.computer_id]:
                await self._close(key, force=True)

    # ------------------------------------------------------------ calls from core

    async def call(self, conn: AgentConn, call: AgentCall) -> AgentAnswer:
        body = call.body
        if call.kind == LISTEN:
            if m.FEATURE_TUNNELS not in conn.features:
                return AgentAnswer("failed", error="its agent is too old for tunnels", reason=UNSUPPORTED)
            plan = plan_of(body)
            if plan.protocol != "tcp" and m.FEATURE_UDP not in conn.features:
                return AgentAnswer("failed", error="its agent is too old for UDP tunnels", reason=UNSUPPORTED)
            if (plan.computer_id, plan.key) in self._listeners:
                return AgentAnswer("failed", error=f"tunnel {plan.key} is open already", reason=PORT_IN_USE)
            error = await self._listen(plan)
            if error:
                return AgentAnswer("failed", error=error, reason=PORT_IN_USE)
            return AgentAnswer("ok")
        key = (call.computer_id, str(body.get("key", "")))
        listener = self._listeners.get(key)
        if call.kind == SET_ACL:
            if listener is not None:
                listener.acl = tuple(str(a) for a in body.get("acl", ()))
            return AgentAnswer("ok")
        if call.kind == UNLISTEN:
            if listener is not None and listener.streams and not body.get("force"):
                count = len(listener.streams)
                return AgentAnswer("failed", error=f"tunnel has {count} active connections", reason=ACTIVE)
            closed = await self._close(key, force=True)
            return AgentAnswer("ok", body={"closed": closed})
        return AgentAnswer("failed", error=f"unknown call {call.kind!r}", reason="agent")

    async def _listen(self, plan: TunnelPlan) -> str:
        """Open the port; "" or why not."""
        listener = _Listener(plan, acl=plan.acl)
        key = (plan.computer_id, plan.key)

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(key, listener, reader, writer)

        try:
            if plan.http_proxy:
                listener.proxy = await self._start_proxy(listener)
            elif plan.protocol != "udp":
                listener.server = await asyncio.start_server(
                    accepted, plan.local_host, plan.local_port, reuse_address=True
                )
            if plan.protocol != "tcp":
                _transport, listener.udp = await asyncio.get_running_loop().create_datagram_endpoint(
                    lambda: self._udp_port(listener), local_addr=(plan.local_host, plan.local_port)
                )
        except OSError as exc:
            if listener.server is not None:
                listener.server.close()
            if listener.proxy is not None:  # tcp+udp with the proxy: its UDP half failed
                proxy, listener.proxy = listener.proxy, None
                proxy.force_exit = True
                for server in proxy.servers:
                    server.close()
                self._spawn(proxy.shutdown())
            return f"local port {plan.local_port} is in use ({exc.strerror or exc})"
        self._listeners[key] = listener
        log.info(
            "tunnel %s of computer %s: %s:%s -> %s:%s (%s)",
            plan.key,
            plan.computer_id,
            plan.local_host,
            plan.local_port,
            plan.remote_host,
            plan.remote_port,
            plan.protocol,
        )
        return ""

    def _udp_port(self, listener: _Listener) -> UdpPort:
        return UdpPort(
            listener.plan,
            lambda: listener.acl,
            self._conn_of,
            self._flows,
            self._ids,
            listener.touch,
            self.udp_flow_idle_sec,
        )

    async def _start_proxy(self, listener: _Listener) -> uvicorn.Server:
        """rportd's http_proxy: an HTTPS reverse proxy on the tunnel's port (``tunnel_proxy``)."""
        if self.proxy_tls is None:
            raise OSError("no certificate for the tunnel proxy")
        cert, key = await asyncio.to_thread(self.proxy_tls)
        plan = listener.plan
        app = ProxyApp(plan, lambda: listener.acl, self._pool)
        config = uvicorn.Config(
            app,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
            limit_concurrency=PROXY_MAX_REQUESTS,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=1,
            server_header=False,
            h11_max_incomplete_event_size=64 * 1024,
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        family = socket.AF_INET6 if ":" in plan.local_host else socket.AF_INET
        # proto named: asyncio sets TCP_NODELAY only on sockets that say IPPROTO_TCP (without
        # it, each answer waited ~40 ms for a delayed ACK: docs/performance.md)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((plan.local_host, plan.local_port))
            sock.listen(128)
            sock.setblocking(False)
            await server.startup(sockets=[sock])
        except BaseException:
            sock.close()
            raise
        return server

    async def dial(self, computer_id: int, key: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A stream through the agent to the remote of a tunnel served here, as a socket pair's
        end (the other end is pumped like an accepted connection: flow control, the tunnel's
        stream count and idle time). The caller checked who may use it."""
        listener = self._listeners.get((computer_id, key))
        if listener is None or listener.closing:
            raise AgentUnreachable(
                f"tunnel {key} of computer {computer_id} is not served by this server process"
            )
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=ours)
        self._spawn(self._serve((computer_id, key), listener, reader, writer, checked=True))
        return await asyncio.open_connection(sock=theirs)

    async def _close(self, key: tuple[int, str], force: bool) -> int:
        listener = self._listeners.pop(key, None)
        if listener is None:
            return 0
        listener.closing = True
        if listener.server is not None:
            listener.server.close()
        if listener.udp is not None:
            port = listener.udp
            flows = await port.close()
            log.info(
                "tunnel %s of computer %s: UDP port closed (%d flows; %d datagrams carried, %d replies,"
                " %d refused by the ACL, %d dropped)",
                key[1],
                key[0],
                flows,
                port.received,
                port.replied,
                port.refused,
                port.dropped_total,
            )
        if listener.proxy is not None:
            proxy, listener.proxy = listener.proxy, None
            proxy.force_exit = True
            for server in proxy.servers:
                server.close()  # no new connections from now on
            self._spawn(proxy.shutdown())  # and the open ones end
        closed = 0
        for sid in list(listener.streams):
            stream = self._streams.get((key[0], sid))
            if stream is not None:
                closed += 1
                await stream.conn.send_message(m.TunnelClose(stream=sid, error="tunnel closed"))
                self._end_stream((key[0], sid), stream)
        return closed

    # ------------------------------------------------------------ one connection

    async def _serve(
        self,
        key: tuple[int, str],
        listener: _Listener,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        checked: bool = False,
    ) -> None:
        """One stream: an accepted connection (its peer checked against the ACL here), or one
        end of ``dial``'s socket pair (``checked``: its user was checked by the caller)."""
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        cid = key[0]
        conn = self._conn_of(cid)
        refusal = ""
        if listener.closing:
            refusal = "tunnel closing"
        elif not checked and not acl_allows(listener.acl, address):
            refusal = "address not in the tunnel's ACL"
        elif conn is None or m.FEATURE_TUNNELS not in conn.features:
            refusal = "agent not connected (or too old for tunnels)"
        elif len(listener.streams) >= MAX_STREAMS_PER_TUNNEL:
            refusal = "too many connections"
        if refusal or conn is None:
            log.warning(
                "tunnel %s of computer %s: connection from %s refused: %s", key[1], cid, address, refusal
            )
            writer.close()
            return
        sid = next(self._ids)

        async def send(msg: m.Message) -> None:
            await conn.send_message(msg)

        # The pump exists before the agent hears of the stream: its data may follow its
        # TunnelOpened before this coroutine runs again, and is queued, not lost.
        frame = binary.MAX_DATA if conn.binary else m.TUNNEL_FRAME
        pump = StreamPump(sid, reader, writer, send, on_activity=listener.touch, frame=frame)
        stream = _Stream(conn, asyncio.get_running_loop().create_future(), pump)
        self._streams[(cid, sid)] = stream
        listener.streams.add(sid)
        listener.touch()
        try:
            plan = listener.plan
            await conn.send_message(m.TunnelOpen(stream=sid, host=plan.remote_host, port=plan.remote_port))
            try:
                opened = await asyncio.wait_for(stream.opened, OPEN_TIMEOUT_SEC)
            except (TimeoutError, asyncio.CancelledError):
                opened = m.TunnelOpened(stream=sid, ok=False, error="no answer from the agent")
            if not opened.ok:
                log.info("tunnel %s of computer %s: agent could not connect: %s", key[1], cid, opened.error)
                pump.close()
                return
            pump.start()
            await pump.done.wait()
        finally:
            self._streams.pop((cid, sid), None)
            listener.streams.discard(sid)
            listener.touch()
            with contextlib.suppress(Exception):
                writer.close()

    def _end_stream(self, key: tuple[int, int], stream: _Stream) -> None:
        self._streams.pop(key, None)
        if not stream.opened.done():
            stream.opened.cancel()
        stream.pump.close()

    # ------------------------------------------------------------ streams without a port

    async def open_stream(self, computer_id: int, host: str, port: int) -> SocketChannel:
        """A stream the agent dials to ``host:port``, for a bridge in this process (``core.ports
        .StreamOpener``: the desktop view's WebSocket). It is a tunnel stream like any other
        (same frames, window and pump) whose near end is one side of a local socket pair
        instead of an accepted connection; the bridge reads and writes the other side."""
        conn = self._conn_of(computer_id)
        if conn is None:
            raise AgentUnreachable(
                f"computer {computer_id}: its agent is not connected to this server process "
                "(offline, or connected to another one)"
            )
        if m.FEATURE_TUNNELS not in conn.features:
            raise AgentFailed(f"computer {computer_id}: its agent is too old for tunnels")
        near, far = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=near)
        bridge_reader, bridge_writer = await asyncio.open_connection(sock=far)
        sid = next(self._ids)

        async def send(msg: m.Message) -> None:
            await conn.send_message(msg)

        frame = binary.MAX_DATA if conn.binary else m.TUNNEL_FRAME
        pump = StreamPump(sid, reader, writer, send, frame=frame)
        stream = _Stream(conn, asyncio.get_running_loop().create_future(), pump)
        self._streams[(computer_id, sid)] = stream
        channel = SocketChannel(bridge_reader, bridge_writer)
        try:
            if not await conn.send_message(m.TunnelOpen(stream=sid, host=host, port=port)):
                raise AgentUnreachable(f"computer {computer_id}: its connection was lost")
            try:
                opened = await asyncio.wait_for(asyncio.shield(stream.opened), OPEN_TIMEOUT_SEC)
            except TimeoutError:
                await conn.send_message(m.TunnelClose(stream=sid, error="no answer in time"))
                raise AgentTimeout(f"computer {computer_id}: its agent did not connect in time") from None
            except asyncio.CancelledError:
                if not stream.opened.cancelled():  # this task was cancelled, not the stream
                    raise
                raise AgentUnreachable(f"computer {computer_id}: its connection was lost") from None
            if not opened.ok:
                raise AgentFailed(f"computer {computer_id}: cannot connect to {host}:{port}: {opened.error}")
        except BaseException:
            self._end_stream((computer_id, sid), stream)
            await channel.close()
            raise
        pump.start()
        self._spawn(self._forget_when_done(computer_id, sid, stream, channel))
        return channel

    async def _forget_when_done(self, cid: int, sid: int, stream: _Stream, channel: SocketChannel) -> None:
        try:
            await stream.pump.done.wait()
        finally:
            if self._streams.get((cid, sid)) is stream:
                self._streams.pop((cid, sid), None)
            if not channel.reason:
                channel.reason = "the connection to the agent ended"

    # ------------------------------------------------------------ frames from agents

    def frame(
        self, conn: AgentConn, msg: m.TunnelOpened | m.TunnelData | m.TunnelAck | m.TunnelClose
    ) -> None:
        """A tunnel frame from an agent (never waits). Frames for streams of another computer
        find nothing: stream keys include the computer."""
        stream = self._streams.get((conn.computer_id, msg.stream))
        if stream is None or stream.conn is not conn:
            return  # ended already: late frames are dropped
        if isinstance(msg, m.TunnelOpened):
            if not stream.opened.done():
                stream.opened.set_result(msg)
            return
        pump = stream.pump
        if isinstance(msg, m.TunnelClose) and not stream.opened.done():
            stream.opened.set_result(m.TunnelOpened(stream=msg.stream, ok=False, error=msg.error))
            return
        if isinstance(msg, m.TunnelData):
            pump.feed(msg.data)
        elif isinstance(msg, m.TunnelAck):
            pump.ack(msg.size)
        else:
            pump.peer_closed()

    def fault(self, conn: AgentConn, fault: StreamFault) -> None:
        """A binary frame from an agent that could not be taken: its stream ends (the agent is
        told why, the listener's client sees its connection close); one too short to name a
        stream is dropped. The agent's connection and its other streams go on."""
        log.warning(
            "computer %s: bad tunnel frame for stream %s: %s", conn.computer_id, fault.stream, fault.error
        )
        if fault.stream is None:
            return
        stream = self._streams.get((conn.computer_id, fault.stream))
        if stream is None or stream.conn is not conn:
            return
        if not stream.opened.done():
            stream.opened.set_result(m.TunnelOpened(stream=fault.stream, ok=False, error=fault.error))
        stream.pump.fail(fault.error)

    def udp_counts(self, computer_id: int, key: str) -> dict[str, int]:
        """A UDP tunnel's counters (empty for none): its flows now, and the datagrams carried to
        the agent, sent back to their sources, refused by the ACL and dropped so far."""
        listener = self._listeners.get((computer_id, key))
        if listener is None or listener.udp is None:
            return {}
        port = listener.udp
        return {
            "flows": port.flows,
            "received": port.received,
            "replied": port.replied,
            "refused": port.refused,
            "dropped": port.dropped_total,
        }

    def datagram(self, conn: AgentConn, msg: m.UdpData | m.UdpClose) -> None:
        """A UDP tunnel's frame from an agent (never waits); flows of another computer, or
        ended, find nothing."""
        port = self._flows.get((conn.computer_id, msg.flow))
        if port is not None:
            port.from_agent(conn, msg)

    # ------------------------------------------------------------ idle and auto-close

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_SEC)
            try:
                await self._tick()
            except Exception:
                log.exception("checking tunnels' timeouts failed")

    async def _tick(self) -> None:
        now, wall = time.monotonic(), time.time()
        for key, listener in list(self._listeners.items()):
            plan = listener.plan
            if listener.udp is not None:
                listener.udp.expire(now)
            why = ""
            if plan.expires_at is not None and wall >= plan.expires_at:
                why = "auto-close"
            elif (
                plan.idle_timeout_sec
                and not listener.streams
                and now - listener.last_activity >= plan.idle_timeout_sec
            ):
                why = "idle"
            if not why:
                continue
            await asyncio.to_thread(self._services.tunnels.expire, key[0], key[1], why)
            closed = await self._close(key, force=True)
            log.info("tunnel %s of computer %s closed (%s; %d connections)", key[1], key[0], why, closed)


class SocketChannel:
    """The bridge's end of a stream from ``TunnelHost.open_stream`` (``core.ports.StreamChannel``)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.reason = ""

    async def read(self) -> bytes | None:
        try:
            data = await self._reader.read(BRIDGE_READ)
        except OSError as exc:
            self.reason = self.reason or str(exc)
            return None
        if not data:
            self.reason = self.reason or "the remote end closed"
            return None
        return data

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        """Closing this side ends the stream: the pump reads EOF and tells the agent."""
        self.reason = self.reason or "closed"
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
