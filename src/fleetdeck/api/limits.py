"""Request body size limit, enforced before any handler reads the body.

Checks ``Content-Length`` up front and counts streamed chunks for chunked uploads, so an
oversized body is refused with 413 without being buffered.

Routes that stream a body to disk as it arrives (payload uploads) declare themselves in
``STREAMING``: their bodies may be as large as ``max_payload_bytes``, and the route checks the
exact size against what was announced before it keeps a byte; every other body keeps the small
``max_body_bytes`` limit (JSON is parsed whole).
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# (method, path) of the routes that stream their body to disk (api/v1/routes/uploads.py).
STREAMING: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("PATCH", re.compile(r"/api/v1/uploads/[^/]+")),
    ("PUT", re.compile(r"/api/v1/packages/[^/]+/payload")),
    ("POST", re.compile(r"/api/v1/packages/[^/]+/payload")),
    # rportd's file push: the dialect caps it itself (api.max_filepush_size, 10 MiB)
    ("POST", re.compile(r"/rport/api/v1/files")),
)


def is_streaming(method: str, path: str) -> bool:
    return any(method == m and pattern.fullmatch(path) for m, pattern in STREAMING)


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_stream_bytes: int | None = None,
        setting: str = "max_body_bytes",
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_stream_bytes = max_stream_bytes
        self.setting = setting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.max_stream_bytes is not None and is_streaming(scope["method"], scope["path"]):
            # The route reads the body in pieces and checks sizes itself (core's uploads); the
            # ceiling here only stops a body beyond any payload, with the route's limit.
            await BodySizeLimit(self.app, self.max_stream_bytes, setting="max_payload_bytes")(
                scope, receive, send
            )
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "body_too_large",
                    "message": f"request body exceeds {self.max_bytes} bytes (the setting {self.setting})",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
