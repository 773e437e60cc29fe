"""``GET /agent/v1/payload/{package_id}``: agents download package payloads here.

Authentication: ``Authorization: Bearer <uid>:<key>`` (the agent's own credentials). A computer
may fetch a payload only while it has a pending job for that package. The ZIP is streamed with
Range support (resumable downloads); ``X-Payload-SHA256`` carries its digest.

``PayloadThrottle`` keeps a thousand agents from saturating the server's link: a cap on the
downloads served at once (``payload_max_downloads``) and one bandwidth budget shared by every
download of this process (``payload_bandwidth_bytes_per_sec``), paced per body chunk so no
download stalls while others run. A download beyond the cap waits for a slot in line (first
come, first served) for up to ``QUEUE_WAIT_SEC``, well inside the agent's read timeout, so the
link stays busy; one that still finds none is answered 503 with ``Retry-After``, which the
agent waits out without failing its job. Both are off (0) by default.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from fleetdeck.core.errors import AuthenticationFailed, NotFound, PermissionDenied
from fleetdeck.core.services import Services

log = logging.getLogger("fleetdeck.agents")

PATH = "/agent/v1/payload/{package_id:int}"
FILE_PATH = "/agent/v1/files/{job_id:int}"
RELEASE_PATH = "/agent/v1/update/{version}"
SHA_HEADER = "X-Payload-SHA256"


def _credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    uid, sep, key = value.strip().partition(":")
    if scheme.lower() != "bearer" or not sep or not uid or not key:
        return None
    return uid, key


# A download beyond the cap waits this long for a slot before it is told to come back later.
QUEUE_WAIT_SEC = 20.0
# ... after 1..RETRY_SPREAD_SEC s (spread, so that they do not all return at once).
RETRY_SPREAD_SEC = 3
# Bytes a download may send ahead of the shared budget (smooths the pacing of 64 KiB chunks).
BURST_SEC = 0.05


class PayloadThrottle:
    """The cap on concurrent payload downloads and their shared bandwidth, for one server
    process (used only from its event loop: no lock)."""

    def __init__(self, max_downloads: int = 0, bytes_per_sec: int = 0) -> None:
        self.max_downloads = max_downloads
        self.bytes_per_sec = bytes_per_sec
        self.active = 0
        self.waiting = 0
        self.refused = 0
        self._slots = asyncio.Semaphore(max_downloads) if max_downloads else None  # FIFO waiters
        self._next = 0.0  # when the budget has room for the next byte (monotonic)

    async def acquire(self) -> bool:
        """A download slot, waiting in line up to ``QUEUE_WAIT_SEC``; False: none came free."""
        if self._slots is not None:
            self.waiting += 1
            try:
                await asyncio.wait_for(self._slots.acquire(), QUEUE_WAIT_SEC)
            except TimeoutError:
                self.refused += 1
                return False
            finally:
                self.waiting -= 1
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1
        if self._slots is not None:
            self._slots.release()

    @staticmethod
    def busy() -> Response:
        wait = str(random.randint(1, RETRY_SPREAD_SEC))  # noqa: S311 - spreading, not secrecy
        return PlainTextResponse(
            "too many payload downloads at once; retry later", 503, {"Retry-After": wait}
        )

    async def pace(self, size: int) -> None:
        """Wait until ``size`` more bytes fit in the shared budget."""
        if not self.bytes_per_sec or not size:
            return
        now = time.monotonic()
        self._next = max(self._next, now - BURST_SEC) + size / self.bytes_per_sec
        if self._next > now:
            await asyncio.sleep(self._next - now)


class _Throttled(Response):
    """``inner`` sent with its body paced by the throttle; the download's slot is freed when it
    ends (finished, failed or cut off)."""

    def __init__(self, inner: Response, throttle: PayloadThrottle) -> None:
        self.inner = inner
        self.throttle = throttle
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def paced(message: Message) -> None:
            if message["type"] == "http.response.body":
                await self.throttle.pace(len(message.get("body", b"")))
            await send(message)

        try:
            await self.inner(scope, receive, paced)
        finally:
            self.throttle.release()


def payload_route(services: Services, throttle: PayloadThrottle | None = None) -> Route:
    def lookup(computer_id: int, request: Request) -> tuple[str, str, str, str]:
        package_id = int(request.path_params["package_id"])
        ref = services.packages.payload_for_agent(computer_id, package_id)
        return ref.path, ref.sha256, "application/zip", f"package-{package_id}.zip"

    return Route(PATH, _endpoint(services, throttle or PayloadThrottle(), lookup), methods=["GET", "HEAD"])


def file_route(services: Services, throttle: PayloadThrottle | None = None) -> Route:
    """``GET /agent/v1/files/{job_id}``: the file of a pending file job of this agent's
    computer (``core/jobs/files.py``), with ``Range``, under the same throttle as payloads."""

    def lookup(computer_id: int, request: Request) -> tuple[str, str, str, str]:
        job_id = int(request.path_params["job_id"])
        stored = services.file_pushes.file_for_agent(computer_id, job_id)
        return str(stored.path), stored.sha256, "application/octet-stream", f"file-{job_id}.bin"

    return Route(
        FILE_PATH, _endpoint(services, throttle or PayloadThrottle(), lookup), methods=["GET", "HEAD"]
    )


def release_route(services: Services, throttle: PayloadThrottle | None = None) -> Route:
    """``GET /agent/v1/update/{version}``: the agent release rolled out to this agent's computer
    (``core/agentupdates.py``), with ``Range``, under the same throttle as payloads."""

    def lookup(computer_id: int, request: Request) -> tuple[str, str, str, str]:
        version = str(request.path_params["version"])
        path, sha256 = services.agent_updates.file_for_agent(computer_id, version)
        return str(path), sha256, "application/octet-stream", path.name

    return Route(
        RELEASE_PATH, _endpoint(services, throttle or PayloadThrottle(), lookup), methods=["GET", "HEAD"]
    )


def _endpoint(
    services: Services, throttle: PayloadThrottle, lookup: Callable[[int, Request], tuple[str, str, str, str]]
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        creds = _credentials(request)
        if creds is None:
            return PlainTextResponse("agent credentials required", 401, {"WWW-Authenticate": "Bearer"})
        try:
            ident = await asyncio.to_thread(services.enrollment.authenticate_agent, *creds)
            path, sha256, media_type, filename = await asyncio.to_thread(lookup, ident.computer_id, request)
        except AuthenticationFailed:
            return PlainTextResponse("authentication failed", 401, {"WWW-Authenticate": "Bearer"})
        except PermissionDenied as exc:
            return PlainTextResponse(exc.message, 403)
        except NotFound as exc:
            return PlainTextResponse(exc.message, 404)
        if not await throttle.acquire():
            return throttle.busy()
        return _Throttled(
            FileResponse(path, media_type=media_type, filename=filename, headers={SHA_HEADER: sha256}),
            throttle,
        )

    return endpoint
