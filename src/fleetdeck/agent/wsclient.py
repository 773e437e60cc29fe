"""The agent's WebSocket client: a thin asyncio driver around wsproto's sans-I/O protocol.

Why not the ``websockets`` library (which the server side and the tests still use): importing
its client costs the agent ~3-5 MiB of its resident set, because it pulls in
``importlib.metadata`` (for its version string), ``urllib.request`` (for proxies), ``email``,
``http.client`` and ``zipfile``, none of which an agent uses (issue #20). ``wsproto``
(python-hyper, what uvicorn's server side runs on; its only dependency is h11) does the
protocol - the handshake, framing, masking, fragmentation, UTF-8 checks, the close
handshake - and imports only light standard-library modules. This module does the I/O
around it and what wsproto leaves to its caller: the size limit of a message, keepalive
pings, a bounded queue of received messages and the names the agent's code uses.

The agent's needs are narrow: one client connection to its own server, text messages of
JSON, no extensions (the server turns permessage-deflate off), no proxies (an agent must not
go through one picked up from the environment), and the HTTP status and headers of a refused
upgrade (``Retry-After``). The names mirror websockets' (``connect``,
``ClientConnection.send/recv/close``, ``InvalidStatus.response``, ``ConnectionClosed``) so
that the agent's code reads the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_TOO_BIG, CLOSE_INTERNAL = 1000, 1001, 1009, 1011
CLOSE_NO_STATUS = 1005  # a close frame without a code: an orderly close, as websockets counts it
CLOSE_ABNORMAL = 1006  # never sent: the connection dropped without a close frame
READ_SIZE = 65536
_SHORT, _MEDIUM, _LONG = struct.Struct("!BB"), struct.Struct("!BBH"), struct.Struct("!BBQ")
MAX_QUEUE = 16  # received messages held before the client stops reading (as websockets does)


OPCODE_TEXT, OPCODE_BINARY = 0x1, 0x2
_XOR = [bytes(a ^ b for a in range(256)) for b in range(256)]


def client_frame(opcode: int, payload: bytes | bytearray | memoryview) -> bytearray:
    """One whole (FIN) data frame as a client sends it (RFC 6455 5.2): masked with a fresh
    random key. What wsproto's ``send`` makes of a finished message, without its copies: it
    builds the frame by concatenation and masks a copy, about 2.5x the CPU per byte, which was
    most of the agent's cost per tunnelled byte. Only data messages come here (their framing
    keeps no state in wsproto once finished, and no extension is ever negotiated); control
    frames (close, ping, pong) still go through wsproto."""
    size = len(payload)
    key = os.urandom(4)
    if size < 126:
        out = bytearray(_SHORT.pack(0x80 | opcode, 0x80 | size))
    elif size < 65536:
        out = bytearray(_MEDIUM.pack(0x80 | opcode, 0xFE, size))
    else:
        out = bytearray(_LONG.pack(0x80 | opcode, 0xFF, size))
    out += key
    start = len(out)
    out += payload
    for i in range(4):  # XOR byte i of every 4 with key byte i: four C-speed translate passes
        out[start + i :: 4] = out[start + i :: 4].translate(_XOR[key[i]])
    return out


class WebSocketException(Exception):
    """Anything that went wrong at the WebSocket layer (handshake, framing, close)."""


class InvalidHandshake(WebSocketException):
    """The server's answer to the upgrade request was not a valid WebSocket handshake."""


class _Headers(dict[str, str]):
    """Case-insensitive ``get`` so that ``response.headers.get("Retry-After")`` works."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass
class Response:
    """The server's HTTP answer to the upgrade; header names are lower-cased."""

    status_code: int
    headers: _Headers = field(default_factory=_Headers)


class InvalidStatus(InvalidHandshake):
    """The server refused the upgrade with an HTTP status (429 with Retry-After, 403, ...)."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"server rejected WebSocket connection: HTTP {response.status_code}")
        self.response = response


class ConnectionClosed(WebSocketException):
    """The connection is closed; ``code``/``reason`` are the close frame's (1006: none came)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"connection closed: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


class ConnectionClosedOK(ConnectionClosed):
    """Closed with 1000, 1001 or a close frame without a code: an orderly end."""


class ConnectionClosedError(ConnectionClosed):
    """Closed with an error code, or dropped without a close frame."""


def _closed(code: int, reason: str) -> ConnectionClosed:
    cls = (
        ConnectionClosedOK
        if code in (CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_NO_STATUS)
        else ConnectionClosedError
    )
    return cls(code, reason)


class ClientConnection:
    """An open client connection. ``recv()`` returns a text message as str, a binary one as
    bytes; pings are answered and close frames handled by a reader task of its own."""

    def __init__(
        self,
        ws: WSConnection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_size: int,
        close_timeout: float,
        ping_interval: float | None,
        ping_timeout: float | None,
        max_queue: int = MAX_QUEUE,
    ) -> None:
        self.transport = writer.transport
        self._ws = ws
        self._reader = reader
        self._writer = writer
        self._max_size = max_size
        self._max_queue = max_queue
        self._close_timeout = close_timeout
        # received messages; the reader task waits for room (``_room``) once ``max_queue`` are
        # held, so a server that sends faster than the agent consumes is slowed down by TCP
        # rather than growing the agent's memory
        self._messages: deque[str | bytes] = deque()
        self._readable = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closed = asyncio.Event()
        self._pong: asyncio.Future[None] | None = None
        self.close_code: int | None = None
        self.close_reason: str = ""
        self._reader_task = asyncio.create_task(self._read_loop())
        self._ping_task = (
            asyncio.create_task(self._keepalive(ping_interval, ping_timeout or ping_interval))
            if ping_interval
            else None
        )

    # -- public API ------------------------------------------------------------------------

    async def send(self, message: str | bytes, *, text: bool | None = None) -> None:
        """Send one message; a str goes as a text message (``text=False`` forces binary)."""
        if isinstance(message, str):
            opcode, payload = (OPCODE_BINARY if text is False else OPCODE_TEXT), message.encode()
        elif text:
            bytes(message).decode()  # a text message must be UTF-8 (UnicodeDecodeError otherwise)
            opcode, payload = OPCODE_TEXT, message
        else:
            opcode, payload = OPCODE_BINARY, message
        if self._closed.is_set() or self._ws.state is not ConnectionState.OPEN:
            raise self._exception()
        await self._write(client_frame(opcode, payload))

    async def recv(self) -> str | bytes:
        """The next message; ConnectionClosed once the connection is closed and drained."""
        while not self._messages:
            if self._closed.is_set():
                raise self._exception()
            self._readable.clear()
            await self._readable.wait()
        msg = self._messages.popleft()
        if len(self._messages) < self._max_queue:
            self._room.set()
        return msg

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str | bytes]:
        """Messages until an orderly close; an error close raises ConnectionClosedError."""
        while True:
            try:
                yield await self.recv()
            except ConnectionClosedOK:
                return

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Close handshake: send our close frame, wait (``close_timeout``) for the server's."""
        if not self._closed.is_set() and self._ws.state is ConnectionState.OPEN:
            with contextlib.suppress(ConnectionClosed):
                await self._send(CloseConnection(code, reason))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), self._close_timeout)
        await self._teardown()

    # -- internals -------------------------------------------------------------------------

    def _exception(self) -> ConnectionClosed:
        return _closed(self.close_code or CLOSE_ABNORMAL, self.close_reason)

    async def _send(self, event: Event) -> None:
        """wsproto turns the event into bytes (masked frames); this writes them."""
        try:
            frame = self._ws.send(event)
        except LocalProtocolError as exc:  # the state does not allow it: closing or closed
            raise self._exception() from exc
        await self._write(frame)

    async def _write(self, frame: bytes | bytearray) -> None:
        try:
            self._writer.write(frame)
            await self._writer.drain()
        except (OSError, RuntimeError) as exc:  # RuntimeError: transport already closing
            self._mark_closed(CLOSE_ABNORMAL, "")
            raise self._exception() from exc

    def _mark_closed(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self._closed.set()
        self._readable.set()
        if self._pong is not None and not self._pong.done():
            self._pong.cancel()

    async def _teardown(self) -> None:
        self._mark_closed(CLOSE_ABNORMAL, "")
        for task in (self._reader_task, self._ping_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), self._close_timeout)

    async def _fail(self, code: int, reason: str) -> None:
        """Our side ends the connection (bad data from the server, a message over the limit,
        a dead link): tell the server why if we still can, then drop the connection."""
        if self._ws.state is ConnectionState.OPEN:
            with contextlib.suppress(ConnectionClosed):
                await self._send(CloseConnection(code, reason[:120]))
        self._mark_closed(code, reason)
        self._writer.close()

    async def _deliver(self, message: str | bytes) -> None:
        self._messages.append(message)
        self._readable.set()
        if len(self._messages) >= self._max_queue:
            self._room.clear()
            await self._room.wait()

    async def _read_loop(self) -> None:
        parts: list[bytes] = []  # the message so far; text as UTF-8, to count its size in bytes
        size = 0
        data = b"-"  # events first: frames may have come in the same read as the upgrade
        try:
            while True:
                for event in self._ws.events():
                    if isinstance(event, Message):
                        chunk = event.data.encode() if isinstance(event, TextMessage) else bytes(event.data)
                        parts.append(chunk)
                        size += len(chunk)
                        if size > self._max_size:
                            await self._fail(CLOSE_TOO_BIG, f"message over the {self._max_size} limit")
                            return
                        if event.message_finished:
                            whole = b"".join(parts)
                            parts, size = [], 0
                            # wsproto checked the UTF-8 (1007 otherwise), so decode() cannot fail
                            await self._deliver(whole.decode() if isinstance(event, TextMessage) else whole)
                    elif isinstance(event, Ping):
                        with contextlib.suppress(ConnectionClosed):
                            await self._send(event.response())
                    elif isinstance(event, Pong):
                        if self._pong is not None and not self._pong.done():
                            self._pong.set_result(None)
                    elif isinstance(event, CloseConnection):
                        if self._ws.state is ConnectionState.OPEN:
                            # wsproto reports a frame it could not parse (masked by the server,
                            # reserved bits, bad UTF-8, ...) as this event without a close frame
                            await self._fail(event.code, event.reason or "")
                            return
                        if self._ws.state is ConnectionState.REMOTE_CLOSING:
                            with contextlib.suppress(ConnectionClosed):
                                await self._send(event.response())
                        self._mark_closed(event.code, event.reason or "")
                        return
                if not data:
                    self._mark_closed(CLOSE_ABNORMAL, "")
                    return
                data = await self._reader.read(READ_SIZE)
                self._ws.receive_data(data or None)  # None: the server closed the TCP stream
        except (OSError, RemoteProtocolError, LocalProtocolError):
            self._mark_closed(CLOSE_ABNORMAL, "")

    async def _keepalive(self, interval: float, timeout: float) -> None:
        """Ping every ``interval``; no pong within ``timeout`` means a dead link: close 1011."""
        while not self._closed.is_set():
            await asyncio.sleep(interval)
            self._pong = asyncio.get_running_loop().create_future()
            try:
                await self._send(Ping(os.urandom(4)))
                await asyncio.wait_for(self._pong, timeout)
            except ConnectionClosed:
                return
            except TimeoutError:
                await self._fail(CLOSE_INTERNAL, "keepalive ping timeout")
                return
            except asyncio.CancelledError:
                if self._closed.is_set():
                    return
                raise


async def _handshake(ws: WSConnection, reader: asyncio.StreamReader) -> None:
    """Read until wsproto has the server's answer: accepted, or refused (InvalidStatus)."""
    while True:
        data = await reader.read(READ_SIZE)
        try:
            ws.receive_data(data or None)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    return
                if isinstance(event, RejectConnection):
                    headers = _Headers(
                        (name.decode("latin-1").lower(), value.decode("latin-1"))
                        for name, value in event.headers
                    )
                    raise InvalidStatus(Response(event.status_code, headers))
        except RemoteProtocolError as exc:
            raise InvalidHandshake(f"the server's answer is not a WebSocket upgrade: {exc}") from None
        if not data:
            raise InvalidHandshake("the server did not answer the upgrade")


class connect:  # noqa: N801 - named like websockets.asyncio.client.connect, used the same way
    """``async with connect(url, ...) as ws``: TCP (TLS for wss://), the upgrade, a connection."""

    def __init__(
        self,
        url: str,
        *,
        ssl: Any = None,
        open_timeout: float = 10.0,
        close_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        max_size: int = 1 << 20,
        max_queue: int = MAX_QUEUE,
        user_agent_header: str | None = None,
    ) -> None:
        self.url = url
        self.ssl = ssl
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_size = max_size
        self.max_queue = max_queue
        self.user_agent = user_agent_header
        self.connection: ClientConnection | None = None

    async def _open(self) -> ClientConnection:
        parts = urlsplit(self.url)
        secure = parts.scheme.lower() == "wss"
        if parts.scheme.lower() not in ("ws", "wss") or not parts.hostname:
            raise InvalidHandshake(f"not a ws:// or wss:// URL: {self.url!r}")
        port = parts.port or (443 if secure else 80)
        reader, writer = await asyncio.open_connection(
            parts.hostname, port, ssl=(self.ssl or True) if secure else None
        )
        try:
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            if parts.port is not None:
                host += f":{parts.port}"
            ws = WSConnection(ConnectionType.CLIENT)
            extra = [(b"user-agent", self.user_agent.encode())] if self.user_agent else []
            target = f"{parts.path or '/'}{'?' + parts.query if parts.query else ''}"
            writer.write(ws.send(Request(host=host, target=target, extra_headers=extra)))
            await writer.drain()
            await _handshake(ws, reader)
        except BaseException:
            writer.close()
            raise
        return ClientConnection(
            ws,
            reader,
            writer,
            max_size=self.max_size,
            max_queue=self.max_queue,
            close_timeout=self.close_timeout,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
        )

    async def __aenter__(self) -> ClientConnection:
        async with asyncio.timeout(self.open_timeout):
            self.connection = await self._open()
        return self.connection

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.connection is not None:
            await self.connection.close()
