"""HTTP into tunnels: rportd's HTTPS reverse proxy on a tunnel's port (``http_proxy``), and the
route ``/tunnels/{computer}/{key}/...`` on the server's own port.

Both forward each request over a stream the tunnel's host (``TunnelHost.dial``) opens through
the agent to the tunnel's remote, speaking HTTP/1.1 with httpcore over that stream (TLS to the
remote when the tunnel's scheme is https, without verifying its certificate, as rportd: the
remote is typically a device's self-signed UI). Bodies stream both ways (nothing is buffered
whole); a request body is refused beyond ``MAX_REQUEST_BODY`` (413), the remote has
``CONNECT_TIMEOUT_SEC`` to accept and ``READ_TIMEOUT_SEC`` per read (504 otherwise); hop-by-hop
headers are dropped and X-Forwarded-* set. WebSocket upgrades are not carried (not
implemented: the route closes the socket, the proxy port answers as plain HTTP).

The proxy port: TLS with the server's certificate (``--tls auto``/``files``; with ``--tls off``
a certificate made once under ``data_dir/tunnel-proxy-tls`` by fleetdeck's own CA), served by
uvicorn on the tunnel's port in the process holding its agent. Its ACL is the tunnel's (checked
per request, 403 otherwise), basic auth when the tunnel has ``auth_user`` (its password as an
argon2 hash, verified in a worker thread; a success is remembered for the connection's
credentials for ``AUTH_CACHE_SEC``). ``Host`` is the client's unless ``host_header`` is set.

The route: the caller authenticates as for ``/api/v1`` (Bearer JWT or API token, or Basic) or
with the web UI's session cookie; core (``TunnelService.route``) checks remote access to the
computer and audits each request (``tunnel.route``). The caller's credentials (Authorization,
the session cookie) are never forwarded. It reaches tunnels served by this process only (the
one holding the agent): elsewhere 502.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import ssl
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

import httpcore
from starlette.concurrency import run_in_threadpool

from fleetdeck.api.kit.credentials import CredentialCache
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import (
    AgentUnreachable,
    AuthenticationFailed,
    FleetdeckError,
    NotFound,
    PermissionDenied,
)
from fleetdeck.core.ports import TunnelPlan
from fleetdeck.core.services import Services
from fleetdeck.core.tunnels.service import acl_allows, basic_auth_allows

log = logging.getLogger("fleetdeck.tunnels")

MAX_REQUEST_BODY = 64 * 1024 * 1024
CONNECT_TIMEOUT_SEC = 15.0
READ_TIMEOUT_SEC = 60.0
KEEPALIVE_SEC = 5.0  # requests ask for Connection: close; this bounds a remote that ignores it
MAX_CONNECTIONS = 32  # per tunnel and pool
AUTH_CACHE_SEC = 300.0
AUTH_CACHE_SIZE = 64
SESSION_COOKIE = "fleetdeck_session"  # the web UI's (web/sessions.py)
OWN_COOKIES = "fleetdeck_"  # the web UI's cookies' prefix: never passed to or set by a remote
# The route serves the remote's pages on fleetdeck's own origin: sandboxed (an opaque origin,
# without allow-same-origin), their scripts cannot read fleetdeck's pages or API with the
# user's cookie or cached Basic credentials.
SANDBOX = b"sandbox allow-scripts allow-forms allow-popups allow-downloads allow-modals"
VIA = "tunnel"
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
    }
)

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Dial = Callable[[int, str], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class _TooLarge(Exception):
    pass


class _Gone(Exception):
    pass


# ---------------------------------------------------------------- httpcore over tunnel streams


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return await asyncio.wait_for(self._reader.read(max_bytes), timeout)
        except TimeoutError:
            raise httpcore.ReadTimeout("the remote did not answer in time") from None
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            self._writer.write(buffer)
            await asyncio.wait_for(self._writer.drain(), timeout)
        except TimeoutError:
            raise httpcore.WriteTimeout("the remote did not take the request in time") from None
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from None

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            await asyncio.wait_for(
                self._writer.start_tls(ssl_context, server_hostname=server_hostname), timeout
            )
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            raise httpcore.ConnectError(f"TLS to the remote failed: {exc}") from None
        return self

    def get_extra_info(self, info: str) -> Any:
        if info in ("ssl_object", "client_addr", "server_addr"):
            return self._writer.get_extra_info(
                {"client_addr": "sockname", "server_addr": "peername"}.get(info, info)
            )
        return None


class _Backend(httpcore.AsyncNetworkBackend):
    """Connections to ``t<computer>-<key>.tunnel``: streams through that tunnel's agent."""

    def __init__(self, dial: Dial) -> None:
        self._dial = dial

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        computer, _, key = host.removesuffix(".tunnel").removeprefix("t").partition("-")
        try:
            reader, writer = await asyncio.wait_for(self._dial(int(computer), key), timeout)
        except TimeoutError:
            raise httpcore.ConnectTimeout("the agent did not open the stream in time") from None
        except (AgentUnreachable, ConnectionError, OSError) as exc:
            raise httpcore.ConnectError(str(exc)) from None
        return _Stream(reader, writer)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("no unix sockets through tunnels")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def remote_tls_context() -> ssl.SSLContext:
    """To https remotes: encrypted, not verified (rportd's InsecureSkipVerify)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


def make_pool(dial: Dial) -> httpcore.AsyncConnectionPool:
    return httpcore.AsyncConnectionPool(
        ssl_context=remote_tls_context(),
        max_connections=MAX_CONNECTIONS * 8,
        keepalive_expiry=KEEPALIVE_SEC,
        http1=True,
        http2=False,
        network_backend=_Backend(dial),
    )


# ---------------------------------------------------------------- one request


async def _plain(send: Send, status: int, text: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value)
    return None


def _strip_cookie(value: bytes, prefix: str) -> bytes | None:
    """The Cookie header without the cookies named ``prefix...`` (None if nothing is left)."""
    kept = [
        part.strip()
        for part in value.decode("latin-1").split(";")
        if part.strip() and not part.strip().split("=", 1)[0].strip().startswith(prefix)
    ]
    return "; ".join(kept).encode("latin-1") if kept else None


async def forward(
    pool: httpcore.AsyncConnectionPool,
    plan: TunnelPlan,
    scope: Scope,
    receive: Receive,
    send: Send,
    path: str,
    *,
    host: bytes | None,
    drop_authorization: bool,
    drop_cookie: str = "",
    prefix: str = "",
) -> None:
    """Carry one HTTP request to the tunnel's remote and its answer back. With ``drop_cookie``
    (a cookie name prefix: the route on fleetdeck's own origin) those cookies go neither to the
    remote nor come back from it, and the remote's pages are sandboxed (``SANDBOX``)."""
    length = _header(scope, b"content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_REQUEST_BODY):
        await _plain(send, 413, f"request body larger than {MAX_REQUEST_BODY} bytes")
        return
    chunked = (_header(scope, b"transfer-encoding") or b"").lower() == b"chunked"
    headers: list[tuple[bytes, bytes]] = []
    client = scope.get("client") or ("", 0)
    forwarded_for = _header(scope, b"x-forwarded-for")
    for key, value in scope["headers"]:
        name = key.lower()
        if name in HOP_BY_HOP or name.startswith(b"x-forwarded-"):
            continue
        if name == b"authorization" and drop_authorization:
            continue
        if name == b"cookie" and drop_cookie:
            stripped = _strip_cookie(value, drop_cookie)
            if stripped is not None:
                headers.append((key, stripped))
            continue
        headers.append((key, value))
    headers.append((b"Host", plan.host_header.encode() if plan.host_header else (host or b"localhost")))
    chain = (forwarded_for.decode("latin-1") + ", " if forwarded_for else "") + str(client[0])
    headers.append((b"X-Forwarded-For", chain.encode("latin-1")))
    headers.append((b"X-Forwarded-Proto", str(scope.get("scheme", "http")).encode()))
    if host:
        headers.append((b"X-Forwarded-Host", host))
    if prefix:
        headers.append((b"X-Forwarded-Prefix", prefix.encode()))
    if chunked:
        headers.append((b"Transfer-Encoding", b"chunked"))
    # One stream per request: a kept-alive idle stream would count as a connection and keep the
    # tunnel from ever idling out (httpcore expires idle connections only when next used).
    headers.append((b"Connection", b"close"))

    async def body() -> AsyncIterator[bytes]:
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Gone()
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > MAX_REQUEST_BODY:
                raise _TooLarge()
            if chunk:
                yield chunk
            if not message.get("more_body"):
                return

    query = scope.get("query_string", b"")
    target = path.encode() + (b"?" + query if query else b"")
    scheme = b"https" if plan.scheme == "https" else b"http"
    url = httpcore.URL(
        scheme=scheme,
        host=f"t{plan.computer_id}-{plan.key}.tunnel".encode(),
        port=plan.remote_port,
        target=target,
    )
    sni = (plan.host_header.split(":")[0] if plan.host_header else plan.remote_host) or None
    extensions: dict[str, Any] = {
        "timeout": {
            "connect": CONNECT_TIMEOUT_SEC,
            "read": READ_TIMEOUT_SEC,
            "write": READ_TIMEOUT_SEC,
            "pool": CONNECT_TIMEOUT_SEC,
        },
    }
    if sni and not sni.replace(".", "").isdigit():
        extensions["sni_hostname"] = sni
    has_body = length not in (None, b"0") or chunked
    started = False
    try:
        async with pool.stream(
            scope["method"], url, headers=headers, content=body() if has_body else None, extensions=extensions
        ) as response:
            out = [(k, v) for k, v in response.headers if k.lower() not in HOP_BY_HOP]
            if drop_cookie:
                out = [
                    (k, v)
                    for k, v in out
                    if k.lower() != b"set-cookie" or not v.decode("latin-1").lstrip().startswith(drop_cookie)
                ]
                out.append((b"content-security-policy", SANDBOX))
            if response.status in (204, 304) or scope["method"] == "HEAD":
                out = [(k, v) for k, v in out if k.lower() != b"transfer-encoding"]
            await send({"type": "http.response.start", "status": response.status, "headers": out})
            started = True
            async for chunk in response.aiter_stream():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
    except _TooLarge:
        if not started:
            await _plain(send, 413, f"request body larger than {MAX_REQUEST_BODY} bytes")
    except _Gone:
        return
    except httpcore.TimeoutException as exc:
        if not started:
            await _plain(send, 504, f"tunnel: {exc or 'the remote did not answer in time'}")
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        log.info("tunnel %s of computer %s: proxy request failed: %s", plan.key, plan.computer_id, exc)
        if not started:
            await _plain(send, 502, f"tunnel: the remote could not be reached ({exc or type(exc).__name__})")


# ---------------------------------------------------------------- the proxy port


class _AuthMemo:
    """Basic-auth headers verified lately (argon2 is slow on purpose): keyed hashes, bounded."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._items: OrderedDict[bytes, float] = OrderedDict()

    def _digest(self, header: bytes) -> bytes:
        return hmac.new(self._key, header, hashlib.sha256).digest()

    def known(self, header: bytes) -> bool:
        digest = self._digest(header)
        expires = self._items.get(digest)
        if expires is None or expires < time.monotonic():
            self._items.pop(digest, None)
            return False
        return True

    def remember(self, header: bytes) -> None:
        self._items[self._digest(header)] = time.monotonic() + AUTH_CACHE_SEC
        while len(self._items) > AUTH_CACHE_SIZE:
            self._items.popitem(last=False)


def _basic(header: bytes | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, encoded = header.partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep and "\x00" not in decoded else None


class ProxyApp:
    """The ASGI application on an ``http_proxy`` tunnel's port. ``plan`` and ``acl`` are read
    per request (an ACL change applies at once)."""

    def __init__(
        self, plan: TunnelPlan, acl: Callable[[], tuple[str, ...]], pool: httpcore.AsyncConnectionPool
    ):
        self.plan = plan
        self._acl = acl
        self._pool = pool
        self._auth = _AuthMemo()
        self._verifying = asyncio.Semaphore(2)  # argon2 checks at once, per tunnel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        client = scope.get("client") or ("", 0)
        if not acl_allows(self._acl(), str(client[0])):
            log.warning(
                "tunnel %s of computer %s: %s refused by the ACL",
                self.plan.key,
                self.plan.computer_id,
                client[0],
            )
            await _plain(send, 403, "Access denied")
            return
        if self.plan.auth_user and not await self._authorized(_header(scope, b"authorization")):
            await _plain(
                send,
                401,
                "Unauthorized",
                [(b"www-authenticate", b'Basic realm="restricted", charset="UTF-8"')],
            )
            return
        await forward(
            self._pool,
            self.plan,
            scope,
            receive,
            send,
            scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?", 1)[0] or "/",
            host=_header(scope, b"host"),
            drop_authorization=bool(self.plan.auth_user),
        )

    async def _authorized(self, header: bytes | None) -> bool:
        credentials = _basic(header)
        if credentials is None or header is None:
            return False
        if self._auth.known(header):
            return True
        async with self._verifying:
            ok = await run_in_threadpool(basic_auth_allows, self.plan, *credentials)
        if ok:
            self._auth.remember(header)
        return ok


# ---------------------------------------------------------------- the route on the main port


class TunnelRoute:
    """``/tunnels/{computer_id}/{key}/{path}`` on the server's own port (mounted at ``/tunnels``)."""

    def __init__(self, services: Services, dial: Dial) -> None:
        self._services = services
        self._pool = make_pool(dial)
        self._passwords = CredentialCache()  # Basic with a password: argon2 once, not per request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1003, "reason": "not implemented"})
            return
        if scope["type"] != "http":
            return
        rest = (
            scope["path"][len(scope.get("root_path", "")) :]
            if scope["path"].startswith(scope.get("root_path", "") + "/")
            else scope["path"]
        )
        parts = rest.lstrip("/").split("/", 2)
        if (
            len(parts) < 2
            or not parts[0].isdigit()
            or not parts[1]
            or len(parts[1]) > 20
            or len(parts[0]) > 18
        ):
            await _plain(send, 404, "no such tunnel route: use /tunnels/{computer id}/{tunnel id}/")
            return
        computer_id, key = int(parts[0]), parts[1]
        if len(parts) == 2:  # relative links of the remote's pages need the trailing slash
            await _plain(send, 308, "", [(b"location", f"/tunnels/{computer_id}/{key}/".encode())])
            return
        try:
            actor = await run_in_threadpool(self._actor, scope)
        except AuthenticationFailed as exc:
            await _plain(
                send,
                401,
                f"authentication required ({exc.message})",
                [(b"www-authenticate", b'Basic realm="fleetdeck"')],
            )
            return
        try:
            plan = await run_in_threadpool(self._services.tunnels.route, actor, computer_id, key)
        except PermissionDenied as exc:
            await _plain(send, 403, exc.message)
            return
        except NotFound as exc:
            await _plain(send, 404, exc.message)
            return
        except FleetdeckError as exc:
            await _plain(send, 502, exc.message)
            return
        await forward(
            self._pool,
            plan,
            scope,
            receive,
            send,
            "/" + parts[2],
            host=(plan.host_header or f"{plan.remote_host}:{plan.remote_port}").encode(),
            drop_authorization=True,
            drop_cookie=OWN_COOKIES,
            prefix=f"/tunnels/{computer_id}/{key}",
        )

    def _actor(self, scope: Scope) -> Actor:
        """As ``/api/v1`` (Bearer or Basic), or the web UI's session cookie. Worker thread."""
        source = str((scope.get("client") or ("", 0))[0])
        header = _header(scope, b"authorization")
        if header:
            scheme, _, credentials = header.decode("latin-1").partition(" ")
            credentials = credentials.strip()
            if scheme.lower() == "bearer" and credentials:
                return self._services.users.authenticate_bearer(credentials, source, via=VIA)
            basic = _basic(header)
            if basic is not None:
                return self._passwords.authenticate_basic(
                    self._services.users, basic[0], basic[1], source, VIA
                )
            raise AuthenticationFailed("malformed Authorization header")
        cookie = _header(scope, b"cookie")
        if cookie:
            try:
                jar = SimpleCookie(cookie.decode("latin-1"))
            except CookieError:
                jar = SimpleCookie()
            if SESSION_COOKIE in jar:
                actor, _session = self._services.sessions.resume(jar[SESSION_COOKIE].value, source, VIA)
                return actor
        raise AuthenticationFailed("no credentials")
