"""Error mapping by one table per transport, and the last line of defence against a 500.

Every transport answers failures in its own format, but the decision "which kind of failure is
this" is made once: an ``ErrorTable`` maps exception classes (core's tree in
``core/errors.py``, plus the kit's and the dialect's own) onto whatever that transport renders,
and a lookup walks the exception's MRO, so a subclass gets its parent's entry unless it has its
own (Starlette picks exception handlers the same way). No ``isinstance`` chains per dialect.

``InternalErrors`` turns an exception nobody handled into the transport's own "internal error"
answer and logs the traceback once; the client never sees a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetdeck.api.limits import BodyTooLarge

log = logging.getLogger("fleetdeck.api")

T = TypeVar("T")


class ErrorTable(Generic[T]):
    """Exception class -> what a transport renders for it (a status, a code, a class name...).

    ``default`` is used for exceptions no entry covers; those are unexpected, so ``lookup``
    says so (``expected=False``) and the caller logs them with their traceback.
    """

    def __init__(self, entries: Mapping[type[BaseException], T], default: T) -> None:
        self._entries = dict(entries)
        self.default = default

    def lookup(self, exc: BaseException) -> tuple[T, bool]:
        """(entry, expected): the entry of the nearest class in ``type(exc).__mro__``."""
        for cls in type(exc).__mro__:
            if cls in self._entries:
                return self._entries[cls], True
        return self.default, False

    def __getitem__(self, exc: BaseException) -> T:
        entry, expected = self.lookup(exc)
        if not expected:
            log.error("unexpected error", exc_info=exc)
        return entry


ErrorRenderer = Callable[[Request, Exception], Awaitable[Response] | Response]


class InternalErrors:
    """ASGI middleware: an unhandled exception becomes ``render(request, exc)``, logged once.

    Starlette's own ``ServerErrorMiddleware`` answers a plain-text 500 and re-raises, so the
    server logs the error a second time and the client gets no envelope of its dialect; this one
    sits inside it and does neither. ``BodyTooLarge`` passes through: the size limit outside
    answers 413.
    """

    def __init__(self, app: ASGIApp, render: ErrorRenderer) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except BodyTooLarge:
            raise
        except Exception as exc:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = self.render(Request(scope, receive), exc)
            if not isinstance(response, Response):
                response = await response
            await response(scope, receive, send)
