"""A small WebSocket client (RFC 6455) on asyncio streams: what the agent needs and no more.

Why not the ``websockets`` library (which the server side and the tests still use): importing
its client costs the agent ~5 MiB of its ~28 MiB resident set, because it pulls in
``importlib.metadata`` (for its version string), ``urllib.request`` (for proxies), ``email``
and ``http.client``, none of which an agent uses (issue #20: the agent should idle at a
fraction of that). The agent's needs are narrow: one client connection to its own server,
text frames of JSON, no extensions (the server turns permessage-deflate off), no proxies
(an agent must not go through one picked up from the environment), keepalive pings, a clean
close handshake, and the HTTP status and headers of a refused upgrade (``Retry-After``).

The names mirror websockets' (``connect``, ``ClientConnection.send/recv/close``,
``InvalidStatus.response``, ``ConnectionClosed``) so that the agent's code reads the same.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
MAX_HEADER_LINE = 8192
MAX_HEADERS = 100

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_PROTOCOL, CLOSE_TOO_BIG, CLOSE_INTERNAL = 1000, 1001, 1002, 1009, 1011
CLOSE_ABNORMAL = 1006  # never sent: the connection dropped without a close frame


class WebSocketException(Exception):
    """Anything that went wrong at the WebSocket layer (handshake, framing, close)."""


class InvalidHandshake(WebSocketException):
    """The server's answer to the upgrade request was not a valid WebSocket handshake."""


@dataclass
class Response:
    """The server's HTTP answer to the upgrade; header names are lower-cased."""

    status_code: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class _Headers(dict[str, str]):
    """Case-insensitive ``get`` so that ``response.headers.get("Retry-After")`` works."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


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
    """Closed with 1000 or 1001: an orderly end."""


class ConnectionClosedError(ConnectionClosed):
    """Closed with an error code, or dropped without a close frame."""


def _closed(code: int, reason: str) -> ConnectionClosed:
    cls = ConnectionClosedOK if code in (CLOSE_NORMAL, CLOSE_GOING_AWAY) else ConnectionClosedError
    return cls(code, reason)


def _accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode(), usedforsecurity=False).digest()).decode()


def encode_frame(opcode: int, payload: bytes, mask: bytes) -> bytes:
    """One final, masked frame (a client masks every frame, RFC 6455 section 5.3)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    if n:
        # XOR with the repeated 4-byte key, done on whole ints rather than byte by byte
        key = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    else:
        masked = b""
    return head + mask + masked


class ClientConnection:
    """An open client connection. ``recv()`` returns a text frame as str, a binary one as bytes;
    pings are answered and close frames handled by a reader task of its own."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_size: int,
        close_timeout: float,
        ping_interval: float | None,
        ping_timeout: float | None,
    ) -> None:
        self.transport = writer.transport
        self._reader = reader
        self._writer = writer
        self._max_size = max_size
        self._close_timeout = close_timeout
        self._messages: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._write_lock = asyncio.Lock()
        self._closed = asyncio.Event()
        self._close_sent = False
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
        """Send one message; a str goes as a text frame (``text=False`` forces binary)."""
        if isinstance(message, str):
            data, opcode = message.encode(), OP_TEXT
        else:
            data, opcode = bytes(message), OP_TEXT if text else OP_BINARY
        if text is False:
            opcode = OP_BINARY
        if self._closed.is_set() or self._close_sent:
            raise self._exception()
        await self._write(opcode, data)

    async def recv(self) -> str | bytes:
        """The next message; ConnectionClosed once the connection is closed."""
        if self._messages.empty() and self._closed.is_set():
            raise self._exception()
        msg = await self._messages.get()
        if msg is None:
            self._messages.put_nowait(None)  # every later recv() sees the close too
            raise self._exception()
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
        if not self._closed.is_set() and not self._close_sent:
            with contextlib.suppress(OSError, ConnectionClosed):
                await self._send_close(code, reason)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), self._close_timeout)
        await self._teardown()

    # -- internals -------------------------------------------------------------------------

    def _exception(self) -> ConnectionClosed:
        return _closed(self.close_code or CLOSE_ABNORMAL, self.close_reason)

    async def _write(self, opcode: int, data: bytes) -> None:
        async with self._write_lock:
            try:
                self._writer.write(encode_frame(opcode, data, os.urandom(4)))
                await self._writer.drain()
            except (OSError, RuntimeError) as exc:  # RuntimeError: transport already closing
                self._mark_closed(CLOSE_ABNORMAL, "")
                raise self._exception() from exc

    async def _send_close(self, code: int, reason: str) -> None:
        self._close_sent = True
        await self._write(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:123])

    def _mark_closed(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        if not self._closed.is_set():
            self._closed.set()
            self._messages.put_nowait(None)
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
        """A protocol error from the server: tell it why, then drop the connection."""
        if not self._close_sent:
            with contextlib.suppress(OSError, ConnectionClosed):
                await self._send_close(code, reason)
        self._mark_closed(code, reason)
        self._writer.close()

    async def _read_frame(self) -> tuple[bool, int, bytes]:
        b0, b1 = await self._reader.readexactly(2)
        if b1 & 0x80:
            raise _ProtocolError(CLOSE_PROTOCOL, "masked frame from the server")
        if b0 & 0x70:
            raise _ProtocolError(CLOSE_PROTOCOL, "reserved bits set (no extension was negotiated)")
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self._reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self._reader.readexactly(8))
        if n > self._max_size:
            raise _ProtocolError(CLOSE_TOO_BIG, f"frame of {n} bytes over the {self._max_size} limit")
        return bool(b0 & 0x80), b0 & 0x0F, await self._reader.readexactly(n) if n else b""

    async def _read_loop(self) -> None:
        parts: list[bytes] = []
        first_op = 0
        try:
            while True:
                fin, opcode, payload = await self._read_frame()
                if opcode == OP_PING:
                    if not self._close_sent:
                        await self._write(OP_PONG, payload)
                elif opcode == OP_PONG:
                    if self._pong is not None and not self._pong.done():
                        self._pong.set_result(None)
                elif opcode == OP_CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else CLOSE_NORMAL
                    reason = payload[2:].decode(errors="replace")
                    if not self._close_sent:
                        with contextlib.suppress(ConnectionClosed):
                            await self._send_close(code, "")
                    self._mark_closed(code, reason)
                    return
                elif opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                    if (opcode == OP_CONT) != bool(parts):
                        raise _ProtocolError(CLOSE_PROTOCOL, "unexpected continuation frame")
                    if opcode != OP_CONT:
                        first_op = opcode
                    parts.append(payload)
                    if sum(map(len, parts)) > self._max_size:
                        raise _ProtocolError(CLOSE_TOO_BIG, f"message over the {self._max_size} limit")
                    if fin:
                        data = b"".join(parts)
                        parts = []
                        try:
                            self._messages.put_nowait(data.decode() if first_op == OP_TEXT else data)
                        except UnicodeDecodeError:
                            raise _ProtocolError(1007, "text frame is not UTF-8") from None
                else:
                    raise _ProtocolError(CLOSE_PROTOCOL, f"unknown opcode {opcode}")
        except _ProtocolError as exc:
            await self._fail(exc.code, str(exc))
        except (OSError, asyncio.IncompleteReadError, ConnectionClosed):
            self._mark_closed(CLOSE_ABNORMAL, "")

    async def _keepalive(self, interval: float, timeout: float) -> None:
        """Ping every ``interval``; no pong within ``timeout`` means a dead link: close 1011."""
        while not self._closed.is_set():
            await asyncio.sleep(interval)
            self._pong = asyncio.get_running_loop().create_future()
            try:
                await self._write(OP_PING, os.urandom(4))
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


class _ProtocolError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


async def _read_response(reader: asyncio.StreamReader) -> Response:
    status_line = (await reader.readuntil(b"\r\n")).decode("latin-1").rstrip("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise InvalidHandshake(f"not an HTTP response: {status_line[:80]!r}")
    headers = _Headers()
    for _ in range(MAX_HEADERS + 1):
        line = await reader.readuntil(b"\r\n")
        if len(line) > MAX_HEADER_LINE:
            raise InvalidHandshake("response header line too long")
        if line == b"\r\n":
            return Response(int(code), reason, headers)
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise InvalidHandshake(f"malformed response header: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    raise InvalidHandshake("too many response headers")


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
        user_agent_header: str | None = None,
    ) -> None:
        self.url = url
        self.ssl = ssl
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_size = max_size
        self.user_agent = user_agent_header
        self.connection: ClientConnection | None = None

    async def _open(self) -> ClientConnection:
        parts = urlsplit(self.url)
        secure = parts.scheme.lower() == "wss"
        if parts.scheme.lower() not in ("ws", "wss") or not parts.hostname:
            raise InvalidHandshake(f"not a ws:// or wss:// URL: {self.url!r}")
        port = parts.port or (443 if secure else 80)
        reader, writer = await asyncio.open_connection(
            parts.hostname, port, ssl=(self.ssl or True) if secure else None, limit=MAX_HEADER_LINE * 2
        )
        try:
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            if parts.port is not None:
                host += f":{parts.port}"
            key = base64.b64encode(os.urandom(16)).decode()
            lines = [
                f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
                f"Host: {host}",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Key: {key}",
                "Sec-WebSocket-Version: 13",
            ]
            if self.user_agent:
                lines.append(f"User-Agent: {self.user_agent}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            await writer.drain()
            try:
                response = await _read_response(reader)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                raise InvalidHandshake("the server did not answer the upgrade") from exc
            if response.status_code != 101:
                raise InvalidStatus(response)
            if (response.header("upgrade") or "").lower() != "websocket" or "upgrade" not in (
                response.header("connection") or ""
            ).lower():
                raise InvalidHandshake("the server did not upgrade the connection to a WebSocket")
            if response.header("sec-websocket-accept") != _accept(key):
                raise InvalidHandshake("wrong Sec-WebSocket-Accept from the server")
            if response.header("sec-websocket-extensions"):
                raise InvalidHandshake("the server chose an extension this client did not offer")
        except BaseException:
            writer.close()
            raise
        # the stream reader's limit only bounds readuntil() in the handshake above
        return ClientConnection(
            reader,
            writer,
            max_size=self.max_size,
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
