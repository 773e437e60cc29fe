"""``/messagebus/v1``: opsi 4.3's message bus, as opsiconfd serves it to opsi's ServiceClient
(``connect_messagebus()``), over fleetdeck's one model.

A WebSocket; each frame is one message, a dict with opsi's message fields (``type``, ``id``,
``sender``, ``channel``, ``back_channel``, ``created``, ``expires``, ``ref_id`` and the type's
own), msgpack in binary frames as opsi sends them (``?compression=lz4|gzip`` compresses each
frame, as opsiconfd does), or JSON in text frames (answered in JSON; bytes as base64). Who may
connect is decided as for ``/rpc`` (session cookie, Basic with a password, API token or a
client's host key), checked on connect and again, against the user's or host key's current
state, before every request a message makes.

What a message does:

* ``channel_subscription_request`` (set/add/remove) -> ``channel_subscription_event`` with the
  channels now subscribed, or an error naming the channel refused. A connection starts with its
  session channel (``session:<uuid>``) and its user channel (``user:<name>`` or
  ``host:<client id>``). Users may subscribe ``event:*`` and any ``host:``/``user:`` channel;
  an opsi client only its own ones.
* ``jsonrpc_request`` to ``service:config:jsonrpc`` (or the depot's own jsonrpc channel) ->
  ``jsonrpc_response``: the same engine, registry, client ACL and permissions as ``/rpc``.
* ``event`` messages on ``event:host_created/updated/deleted`` and
  ``event:productOnClient_created/updated/deleted`` with opsi's data, fed by core's committed
  changes (``core.changes`` over the bus, one subscription per process, fanned out here).
* ``process_start_request`` to ``host:<client id>`` -> a fleetdeck command job on that
  computer's agent: ``process_start_event``, ``process_data_read`` as the agent streams
  output, ``process_stop_event`` with the exit code (``process_stop_request`` cancels the
  job). ``os_process_id`` is 0: the agent does not report the OS's process id.
* ``trace_request`` -> ``trace_response``.
* What fleetdeck cannot do is answered with opsi's error message of the kind, saying why:
  terminals (``terminal_error``), file transfers (``file_transfer_error``), stdin
  (``process_error``), processes on the server itself, relaying messages to other
  connections (``general_error``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from fleetdeck.api.dialects.opsi import auth, codec
from fleetdeck.api.dialects.opsi import errors as oe
from fleetdeck.api.dialects.opsi.envelope import SERVER, OpsiPolicy, base_headers, principal_of
from fleetdeck.api.dialects.opsi.methods.host_control import targets
from fleetdeck.api.dialects.opsi.objects.hosts import client_id, domain, server_host_id
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.api.kit.dialect import DialectDeps
from fleetdeck.api.kit.jsonrpc import Engine
from fleetdeck.bus.base import Subscription
from fleetdeck.bus.changes import decode_changes
from fleetdeck.bus.topics import CHANGES
from fleetdeck.core.authz import Actor, system_actor
from fleetdeck.core.changes import Change
from fleetdeck.core.errors import AuthenticationFailed, FleetdeckError
from fleetdeck.core.jobs.entities import FINAL, CommandRequest, JobStatus

log = logging.getLogger("fleetdeck.opsi.messagebus")

PATH = "/messagebus/v1"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # one message, after decompression
MAX_IN_FLIGHT = 32  # requests of one connection being answered at once
EVENT_QUEUE = 1000  # events waiting for a slow connection; more are dropped
VALIDITY_MS = 60_000  # opsi's DEFAULT_MESSAGE_VALIDITY_PERIOD
MAX_PROCESS_SEC = 3600
NAMES_SEC = 30.0  # how long the domain setting read for event host ids is used
RECHECK_SEC = 30.0  # an idle connection's login is checked this often (opsiconfd: its session, 30 s)
USER_CHANNEL, SESSION_CHANNEL = "@", "$"  # opsi's CONNECTION_USER_CHANNEL / _SESSION_CHANNEL
EVENTS = (
    "host_created",
    "host_updated",
    "host_deleted",
    "productOnClient_created",
    "productOnClient_updated",
    "productOnClient_deleted",
)
NO_TERMINAL = (
    "fleetdeck offers no interactive terminals: its agent runs commands as jobs;"
    " use process_start_request (or hostControl_execute)"
)
NO_FILES = "fleetdeck's message bus transfers no files: packages reach agents as payloads of package jobs"
NO_STDIN = "fleetdeck's command jobs take no input once started (process_data_write)"
NO_SERVER_PROCESS = "fleetdeck runs no processes on the server; address a client: host:<client id>"
NO_RELAY = (
    "fleetdeck's message bus does not relay messages between connections; it answers"
    " jsonrpc_request, channel subscriptions, process and trace requests"
)


# Every message type of opsi 4.3 (python-opsi-common's MessageType) and what fleetdeck does with
# it when a client sends it; docs/compat/opsi.md is generated from this table.
MESSAGE_TYPES: tuple[tuple[str, str, str], ...] = (
    ("general_error", "supported", "sent by the server for a message it cannot handle, saying why"),
    (
        "event",
        "supported",
        "sent by the server on `event:*`; from a client: general_error (nothing is relayed)",
    ),
    ("channel_subscription_request", "supported", "set/add/remove; an opsi client only its own channels"),
    ("channel_subscription_event", "supported", "the answer, also sent on connect"),
    ("trace_request", "supported", "answered with trace_response by the server"),
    ("trace_response", "supported", "the answer"),
    ("jsonrpc_request", "supported", "to service:config:jsonrpc; the /rpc engine, ACL and permissions"),
    ("jsonrpc_response", "supported", "the answer"),
    ("terminal_open_request", "refused", NO_TERMINAL),
    ("terminal_data_write", "refused", NO_TERMINAL),
    ("terminal_resize_request", "refused", NO_TERMINAL),
    ("terminal_close_request", "refused", NO_TERMINAL),
    ("terminal_data_read", "refused", NO_TERMINAL),
    ("terminal_open_event", "refused", NO_TERMINAL),
    ("terminal_resize_event", "refused", NO_TERMINAL),
    ("terminal_close_event", "refused", NO_TERMINAL),
    ("terminal_error", "supported", "the answer to every terminal message, saying why"),
    ("process_start_request", "supported", "to `host:<client id>`: a command job on its agent (online only)"),
    ("process_start_event", "supported", "os_process_id is 0 (the agent reports no OS process id)"),
    ("process_data_read", "supported", "the job's stdout/stderr as the agent streams it"),
    ("process_stop_request", "supported", "cancels the job"),
    ("process_stop_event", "supported", "the job's exit code (-1 when it ended without one)"),
    ("process_data_write", "refused", NO_STDIN),
    ("process_error", "supported", "a process that could not start or ended without exit code"),
    ("file_upload_request", "refused", NO_FILES),
    ("file_download_request", "refused", NO_FILES),
    ("file_chunk", "refused", NO_FILES),
    ("file_upload_response", "refused", NO_FILES),
    ("file_upload_result", "refused", NO_FILES),
    ("file_download_abort_request", "refused", NO_FILES),
    ("file_download_information", "refused", NO_FILES),
    ("file_transfer_error", "supported", "the answer to every file message, saying why"),
)


def markdown() -> str:
    """The message bus part of docs/compat/opsi.md."""
    lines = [
        "",
        "## Message bus (`/messagebus/v1`)",
        "",
        "Events: " + ", ".join(f"`event:{e}`" for e in EVENTS) + ".",
        "",
        "| message type | status | note |",
        "|---|---|---|",
    ]
    lines += [f"| `{kind}` | {status} | {note} |" for kind, status, note in MESSAGE_TYPES]
    return "\n".join(lines) + "\n"


class MessageError(Exception):
    """A message that cannot be handled: answered with a ``general_error`` naming it."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def message(kind: str, sender: str, channel: str, ref_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A message as opsi's ``Message.to_dict()`` makes it: None values left out."""
    now = _now_ms()
    out: dict[str, Any] = {
        "type": kind,
        "sender": sender,
        "channel": channel,
        "id": str(uuid.uuid4()),
        "created": now,
        "expires": now + VALIDITY_MS,
        "ref_id": ref_id,
        **fields,
    }
    return {k: v for k, v in out.items() if v is not None}


def error(text: str) -> dict[str, Any]:
    """opsi's ``Error``; ``code`` and ``details`` are None and so left out, as opsi does."""
    return {"message": text}


# ------------------------------------------------------------------ events from core


def opsi_event(change: Change, dom: str, server: str) -> tuple[str, dict[str, Any]]:
    """The opsi event (name, data) of one committed change, with opsi's data keys."""
    hid = client_id(change.computer_id, change.hostname, change.fqdn, dom, server)
    if change.subject == "computer":
        return f"host_{change.action}", {"type": "OpsiClient", "id": hid}
    return f"productOnClient_{change.action}", {
        "productId": change.family_key,
        "productType": "LocalbootProduct",
        "clientId": hid,
        "installationStatus": change.installation_status or None,
        "actionRequest": change.action_request or None,
    }


class EventHub:
    """One subscription to core's committed changes per process (started by the first
    connection), fanned out to the connections subscribed to the event's channel."""

    def __init__(self, deps: DialectDeps, sender: str) -> None:
        self._deps = deps
        self._sender = sender
        self._conns: set[Connection] = set()
        self._task: asyncio.Task[None] | None = None
        self._names: tuple[str, str] | None = None
        self._names_at = 0.0

    async def join(self, conn: Connection) -> None:
        self._conns.add(conn)
        if self._task is None and self._deps.bus is not None:
            sub = await self._deps.bus.subscribe(CHANGES, max_pending=100_000)
            self._task = asyncio.create_task(self._run(sub))

    def leave(self, conn: Connection) -> None:
        self._conns.discard(conn)

    async def _run(self, sub: Subscription) -> None:
        async for _, payload in sub:
            try:
                await self._fan_out(payload)
            except Exception:  # one bad announcement must not end the events of every connection
                log.exception("could not turn a change announcement into opsi events")

    async def _fan_out(self, payload: bytes) -> None:
        try:
            changes = decode_changes(payload)
        except msgspec.DecodeError:
            log.debug("ignoring an undecodable change announcement")
            return
        wanted = [c for c in self._conns if any(ch.startswith("event:") for ch in c.channels)]
        if not wanted:
            return
        now = time.monotonic()
        if self._names is None or now - self._names_at > NAMES_SEC:
            # the domain setting and the server's id make the client ids; read now and then
            self._names, self._names_at = await run_in_threadpool(self._read_names), now
        for change in changes:
            event, data = opsi_event(change, *self._names)
            channel = f"event:{event}"
            msg = message("event", self._sender, channel, event=event, data=data)
            for conn in wanted:
                if channel in conn.channels:
                    conn.push(msg)

    def _read_names(self) -> tuple[str, str]:
        ctx = Context(services=self._deps.services, actor=_nobody())
        return domain(ctx), server_host_id(ctx)


def _nobody() -> Actor:
    return system_actor("opsi")


# ------------------------------------------------------------------ a connection


@dataclass(eq=False)
class Connection:
    ws: WebSocket
    principal: auth.Principal
    user_channel: str
    session_channel: str
    source: str
    json: bool = False  # the client spoke JSON (text frames)
    compression: str | None = None
    channels: set[str] = field(default_factory=set)
    events: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(EVENT_QUEUE))
    processes: dict[str, int] = field(default_factory=dict)  # opsi process id -> fleetdeck job id
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    dropped: int = 0

    def push(self, msg: dict[str, Any]) -> None:
        try:
            self.events.put_nowait(msg)
        except asyncio.QueueFull:
            self.dropped += 1  # a slow reader loses events, never the server's memory

    async def send(self, msg: dict[str, Any]) -> None:
        async with self.lock:
            if self.json:
                await self.ws.send_text(msgspec.json.encode(msg).decode())
                return
            data = msgspec.msgpack.encode(msg)
            if self.compression:
                data = codec.compress(data, self.compression)
            await self.ws.send_bytes(data)


def _refusal(status: int, text: str) -> Response:
    body = {"class": "HTTPException", "code": status, "message": text, "status": status, "details": None}
    return JSONResponse(body, status_code=status, headers=base_headers())


async def _deny(websocket: WebSocket, response: Response) -> None:
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:  # the server has no denial responses: refuse the handshake instead
        await websocket.close(code=1008, reason=bytes(response.body).decode()[:120])


class Messagebus:
    def __init__(self, deps: DialectDeps, sessions: auth.Sessions) -> None:
        self.deps = deps
        self.sessions = sessions
        self.engine = Engine(OpsiPolicy(), deps.limits)
        self.sender = f"service_worker:fleetdeck:{uuid.uuid4().hex[:8]}"
        self.hub = EventHub(deps, self.sender)

    # ---------------------------------------------------------- connect

    async def websocket(self, websocket: WebSocket) -> None:
        who = await principal_of(websocket, self.deps, self.sessions)
        if isinstance(who, Response):
            await _deny(websocket, who)
            return
        principal, _ = who
        compression = websocket.query_params.get("compression") or None
        if compression not in (None, "lz4", "gzip"):
            await _deny(
                websocket,
                _refusal(400, f"Invalid compression {compression!r}, valid compressions are lz4 and gzip"),
            )
            return
        user = f"host:{principal.host_id}" if principal.host_id else f"user:{principal.actor.username}"
        conn = Connection(
            websocket,
            principal,
            user_channel=user.lower(),
            session_channel=f"session:{uuid.uuid4()}",
            source=websocket.client.host if websocket.client else "",
            compression=compression,
        )
        await websocket.accept(headers=[(b"server", SERVER.encode())])
        await self.hub.join(conn)
        writer = asyncio.create_task(self._write_events(conn))
        watchdog = asyncio.create_task(self._recheck(conn))
        tasks: set[asyncio.Task[None]] = set()
        try:
            conn.channels = {conn.session_channel, conn.user_channel}
            await conn.send(
                message(
                    "channel_subscription_event",
                    self.sender,
                    conn.session_channel,
                    subscribed_channels=sorted(conn.channels),
                )
            )
            await self._read(conn, tasks)
        except WebSocketDisconnect:
            pass
        finally:
            self.hub.leave(conn)
            writer.cancel()
            watchdog.cancel()
            for task in tasks:
                task.cancel()

    async def _recheck(self, conn: Connection) -> None:
        """Events reach an idle connection without a message of its own: its login is checked
        every ``RECHECK_SEC`` too, and the connection ends with it."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                await asyncio.sleep(RECHECK_SEC)
                try:
                    await self._resume(conn)
                except AuthenticationFailed:
                    await self._ended(conn, None)
                    return

    async def _ended(self, conn: Connection, ref: str | None) -> None:
        text = "Authentication error: this login is no longer valid"
        await conn.send(message("general_error", self.sender, conn.session_channel, ref, error=error(text)))
        await conn.ws.close(code=1008, reason="Authentication error")

    async def _write_events(self, conn: Connection) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                await conn.send(await conn.events.get())

    # ---------------------------------------------------------- receive

    async def _read(self, conn: Connection, tasks: set[asyncio.Task[None]]) -> None:
        while True:
            frame = await conn.ws.receive()
            if frame["type"] == "websocket.disconnect":
                return
            ref: str | None = None
            try:
                msg = self._decode(conn, frame)
                ref = msg["id"] if isinstance(msg.get("id"), str) else None
                self._check_fields(msg)
                self._address(conn, msg)
                await self._resume(conn)
                if len(tasks) >= MAX_IN_FLIGHT:
                    raise MessageError(
                        f"Too many requests in flight on this connection (at most {MAX_IN_FLIGHT})"
                    )
                handled = self._dispatch(conn, msg)
                if handled is not None:
                    task = asyncio.create_task(_guard(handled))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            except MessageError as exc:
                await conn.send(
                    message("general_error", self.sender, conn.session_channel, ref, error=error(str(exc)))
                )
            except AuthenticationFailed:
                await self._ended(conn, ref)
                return

    def _decode(self, conn: Connection, frame: Mapping[str, Any]) -> dict[str, Any]:
        text, data = frame.get("text"), frame.get("bytes")
        try:
            if text is not None:
                if len(text) > MAX_MESSAGE_BYTES:
                    raise MessageError(f"Message too large: at most {MAX_MESSAGE_BYTES} bytes")
                conn.json = True
                decoded = msgspec.json.decode(text)
            else:
                raw = bytes(data or b"")
                if conn.compression:
                    raw = codec.decompress(raw, conn.compression, MAX_MESSAGE_BYTES)
                if len(raw) > MAX_MESSAGE_BYTES:
                    raise MessageError(f"Message too large: at most {MAX_MESSAGE_BYTES} bytes")
                conn.json = False
                decoded = msgspec.msgpack.decode(raw)
        except codec.CodecError as exc:
            raise MessageError(f"Invalid message received: {exc}") from None
        except msgspec.DecodeError as exc:
            raise MessageError(f"Invalid message received: {exc}") from None
        if not isinstance(decoded, dict):
            raise MessageError("Invalid message received: not a map")
        return decoded

    @staticmethod
    def _check_fields(msg: dict[str, Any]) -> None:
        for name in ("type", "id", "channel"):
            if not isinstance(msg.get(name), str) or not msg[name]:
                raise MessageError(f"Invalid message received: field {name!r} missing or not a string")
        back = msg.get("back_channel")
        if back is not None and not isinstance(back, str):
            raise MessageError("Invalid message received: field 'back_channel' is not a string")

    def _address(self, conn: Connection, msg: dict[str, Any]) -> None:
        """opsi's rewrites ($, @, service:config:), the sender as the server knows it, and the
        write check on both channels."""
        msg["sender"] = conn.user_channel
        msg["channel"] = self._channel(conn, msg["channel"])
        msg["back_channel"] = self._channel(conn, msg.get("back_channel") or SESSION_CHANNEL)
        for channel in (msg["channel"], msg["back_channel"]):
            if not self._may_write(conn, channel):
                raise MessageError(f"Access to channel {channel!r} denied")

    def _channel(self, conn: Connection, channel: str) -> str:
        channel = channel.strip()
        if channel == SESSION_CHANNEL:
            return conn.session_channel
        if channel == USER_CHANNEL:
            return conn.user_channel
        if channel.startswith("service:config:"):
            return "service:config:" + channel.removeprefix("service:config:").lower()
        return channel if channel.startswith("event:") else channel.lower()

    @staticmethod
    def _own(conn: Connection, channel: str) -> bool:
        return channel in (conn.session_channel, conn.user_channel) or channel.startswith(
            conn.user_channel + ":"
        )

    def _may_write(self, conn: Connection, channel: str) -> bool:
        if self._own(conn, channel) or channel == "service:messagebus":
            return True
        if channel.startswith("service:") and channel.endswith((":jsonrpc", ":process", ":terminal")):
            return True
        return conn.principal.kind != "client" and channel.startswith(("host:", "user:"))

    def _may_read(self, conn: Connection, channel: str) -> str | None:
        """None, or why ``channel`` may not be subscribed (an opsi client: only its own)."""
        if self._own(conn, channel):
            return None
        if channel.startswith("event:"):
            if channel.removeprefix("event:") not in EVENTS:
                published = ", ".join("event:" + e for e in EVENTS)
                return f"Invalid channel {channel!r}: fleetdeck publishes {published}"
        elif not channel.startswith(("host:", "user:")):
            return f"Invalid channel {channel!r}"
        if conn.principal.kind == "client":
            return f"Read access to channel {channel!r} denied"
        return None

    async def _resume(self, conn: Connection) -> None:
        """The login as it is now: a disabled user, a changed password or host key ends it."""
        conn.principal = await run_in_threadpool(auth.resume, self.deps.services, conn.principal, conn.source)

    # ---------------------------------------------------------- dispatch

    def _dispatch(self, conn: Connection, msg: dict[str, Any]) -> Any:
        kind = msg["type"]
        if kind == "channel_subscription_request":
            return self._subscribe(conn, msg)
        if kind == "jsonrpc_request":
            return self._jsonrpc(conn, msg)
        if kind == "trace_request":
            return self._trace(conn, msg)
        if kind == "process_start_request":
            return self._process_start(conn, msg)
        if kind == "process_stop_request":
            return self._process_stop(conn, msg)
        if kind == "process_data_write":
            return self._reply(conn, msg, "process_error", NO_STDIN, process_id=msg.get("process_id"))
        if kind.startswith("terminal_"):
            return self._reply(
                conn, msg, "terminal_error", NO_TERMINAL, terminal_id=msg.get("terminal_id") or "-"
            )
        if kind.startswith("file_"):
            return self._reply(conn, msg, "file_transfer_error", NO_FILES, file_id=msg.get("file_id"))
        raise MessageError(f"{NO_RELAY} (message type {kind!r})")

    async def _reply(
        self, conn: Connection, msg: dict[str, Any], kind: str, text: str, **fields: Any
    ) -> None:
        await conn.send(
            message(kind, self.sender, msg["back_channel"], msg["id"], error=error(text), **fields)
        )

    async def _subscribe(self, conn: Connection, msg: dict[str, Any]) -> None:
        operation = msg.get("operation", "set")
        raw = msg.get("channels")
        answer = message("channel_subscription_event", self.sender, msg["back_channel"], msg["id"])
        if operation not in ("set", "add", "remove"):
            problem: str | None = f"Invalid operation {operation!r}"
        elif not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
            problem = "Invalid channels: a list of channel names is required"
        else:
            wanted = [self._channel(conn, c) for c in raw]
            problem = next((p for c in wanted if (p := self._may_read(conn, c))), None)
            if operation == "remove":
                problem = None
                conn.channels -= set(wanted) - {conn.session_channel}
            elif problem is None:
                if operation == "set":
                    conn.channels = {conn.session_channel}
                conn.channels |= set(wanted)
        if problem is not None:
            answer["error"] = error(problem)
        answer["subscribed_channels"] = sorted(conn.channels)
        await conn.send(answer)

    async def _jsonrpc(self, conn: Connection, msg: dict[str, Any]) -> None:
        if not msg["channel"].endswith(":jsonrpc"):
            wrong = f"jsonrpc_request goes to service:config:jsonrpc, not {msg['channel']!r}"
            await self._reply(conn, msg, "general_error", wrong)
            return
        rpc_id = msg.get("rpc_id", str(uuid.uuid4()))
        params = msg.get("params") or []
        payload = {
            "jsonrpc": "2.0",
            "id": rpc_id,
            "method": msg.get("method"),
            "params": list(params) if isinstance(params, list | tuple) else params,
        }
        principal = conn.principal
        ctx = Context(
            services=self.deps.services,
            actor=principal.actor,
            host_id=principal.host_id,
            extras={
                **_server_facts(conn.ws),
                "data_dir": self.deps.data_dir,
                **({"host_key": principal.host_key} if principal.host_key else {}),
            },
        )
        answer = await self.engine.handle(ctx, payload, caller=f"{principal.kind}:{principal.actor.username}")
        body = answer.body if isinstance(answer.body, dict) else {}
        await conn.send(
            message(
                "jsonrpc_response",
                self.sender,
                msg["back_channel"],
                msg["id"],
                rpc_id=str(rpc_id),
                result=body.get("result"),
                error=body.get("error"),
            )
        )

    async def _trace(self, conn: Connection, msg: dict[str, Any]) -> None:
        trace = msg.get("trace") if isinstance(msg.get("trace"), dict) else {}
        now = _now_ms()
        await conn.send(
            message(
                "trace_response",
                self.sender,
                msg["back_channel"],
                msg["id"],
                req_trace=trace,
                trace={"broker_ws_receive": now, "broker_ws_send": now},
                payload=msg.get("payload"),
            )
        )

    # ---------------------------------------------------------- processes as jobs

    async def _process_start(self, conn: Connection, msg: dict[str, Any]) -> None:
        process_id = msg.get("process_id")
        channel = msg["channel"]

        async def fail(text: str) -> None:
            await self._reply(conn, msg, "process_error", text, process_id=process_id)

        if not isinstance(process_id, str) or not process_id:
            return await fail("process_id missing")
        if not channel.startswith("host:"):
            return await fail(NO_SERVER_PROCESS)
        if self.deps.watch is None:
            return await fail("this server process cannot follow jobs (no message bus)")
        command = msg.get("command")
        if (
            not isinstance(command, list | tuple)
            or not command
            or not all(isinstance(c, str) for c in command)
        ):
            return await fail("command must be a non-empty list of strings")
        timeout = msg.get("timeout", 0)
        if not isinstance(timeout, int | float) or timeout < 0:
            return await fail("timeout must be a number of seconds (0: no limit of its own)")
        env = msg.get("env") or {}
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            return await fail("env must map names to strings")
        line = " ".join(command) if msg.get("shell") else shlex.join(command)
        request = CommandRequest(
            command=line, timeout_sec=int(min(timeout or MAX_PROCESS_SEC, MAX_PROCESS_SEC)), env=env or None
        )
        host = channel.removeprefix("host:").split(":")[0]
        try:
            job_id = await run_in_threadpool(self._start_job, conn, host, request)
        except (FleetdeckError, oe.OpsiError) as exc:
            return await fail(oe.class_and_message(exc)[1])
        conn.processes[process_id] = job_id
        try:
            await self._stream(conn, msg, process_id, job_id, host)
        finally:
            conn.processes.pop(process_id, None)

    def _start_job(self, conn: Connection, host: str, request: CommandRequest) -> int:
        """The host's computer (reads), then ONE core call: the command job."""
        ctx = Context(services=self.deps.services, actor=conn.principal.actor, host_id=conn.principal.host_id)
        computer = targets(ctx, [host], safe=True).get(host)  # exactly this host: no wildcards
        if computer is None:
            raise oe.BackendMissingDataError(f"No matching host ids found: {host!r}")
        if not computer.online:
            raise oe.BackendError(f"Host {host!r} is not connected: its agent runs the command when online")
        created = self.deps.services.jobs.create_commands(ctx.actor, request, computer_ids=[computer.id])
        return created.job_ids[0]

    async def _stream(
        self, conn: Connection, msg: dict[str, Any], process_id: str, job_id: int, host: str
    ) -> None:
        sender = f"host:{host}"
        back = msg["back_channel"]
        services, actor = self.deps.services, conn.principal.actor
        await conn.send(
            message("process_start_event", sender, back, msg["id"], process_id=process_id, os_process_id=0)
        )

        async def final() -> bool:
            return (await run_in_threadpool(services.jobs.get, actor, job_id)).status in FINAL

        async def read(stream: str, text: str) -> None:
            data = text.encode("utf-8", "replace")
            await conn.send(
                message("process_data_read", sender, back, None, process_id=process_id, **{stream: data})
            )

        streamed: set[str] = set()
        assert self.deps.watch is not None  # checked before the job was created
        async with self.deps.watch.follow(job_id) as feed:
            async for out in feed.outputs(final):
                stream = "stderr" if out.stream == "stderr" else "stdout"
                streamed.add(stream)
                await read(stream, out.data)
        job = await run_in_threadpool(services.jobs.get, actor, job_id)
        # A command that ends within a moment sends its output only with its result: a stream
        # that was not streamed is read out of the stored result now.
        for stream, stored in (("stdout", job.stdout), ("stderr", job.stderr)):
            if stored and stream not in streamed:
                await read(stream, stored)
        if job.exit_code is None:
            why = job.message or f"the job ended {job.status.value}"
            await conn.send(
                message("process_error", sender, back, msg["id"], process_id=process_id, error=error(why))
            )
        code = (
            job.exit_code
            if job.exit_code is not None
            else (-1 if job.status is not JobStatus.SUCCEEDED else 0)
        )
        await conn.send(
            message("process_stop_event", sender, back, msg["id"], process_id=process_id, exit_code=code)
        )

    async def _process_stop(self, conn: Connection, msg: dict[str, Any]) -> None:
        process_id = msg.get("process_id")
        job_id = conn.processes.get(process_id) if isinstance(process_id, str) else None
        if job_id is None:
            return await self._reply(
                conn, msg, "process_error", f"No such process: {process_id!r}", process_id=process_id
            )
        try:
            await run_in_threadpool(self.deps.services.jobs.cancel, conn.principal.actor, job_id)
        except FleetdeckError as exc:
            await self._reply(conn, msg, "process_error", exc.message, process_id=process_id)
        # the process_stop_event follows from the job's end (_stream)


def _server_facts(ws: WebSocket) -> dict[str, str]:
    """What ``/rpc`` tells methods of the transport (the config server's URL and address in
    opsi's records), for the same server reached through its WebSocket."""
    scheme = "https" if ws.url.scheme == "wss" else "http"
    server = ws.scope.get("server") or ("", None)
    return {"server_url": f"{scheme}://{ws.url.netloc}", "server_address": str(server[0] or "")}


async def _guard(work: Awaitable[None]) -> None:
    """A message's answer, in a task of its own: the connection going away ends it quietly; a
    bug is logged (the client then gets no answer, as from a lost message)."""
    try:
        await work
    except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
        pass
    except Exception:
        log.exception("answering a message bus message failed")


async def _http(request: Request) -> Response:
    """A plain HTTP request to the bus's path: opsiconfd answers these; say it is a WebSocket."""
    return _refusal(400, "/messagebus/v1 is a WebSocket endpoint: connect with a WebSocket upgrade")


def routes(deps: DialectDeps, sessions: auth.Sessions) -> list[Any]:
    bus = Messagebus(deps, sessions)
    handler: Callable[[WebSocket], Any] = bus.websocket
    return [
        Route(PATH, _http, methods=["GET", "POST", "HEAD"], name="opsi:messagebus"),
        WebSocketRoute(PATH, handler, name="opsi:messagebus-ws"),
    ]
