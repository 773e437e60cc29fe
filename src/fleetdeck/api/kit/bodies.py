"""JSON bodies, decoded strictly and encoded safely, for every dialect.

Python's ``json`` accepts what no JSON peer sends and what fleetdeck cannot store: ``NaN`` and
``Infinity``, numbers such as ``1e400`` (an infinite float), and strings with lone UTF-16
surrogates (``"\\ud800"``), which then fail deep inside (a settings comparison, the database
driver) as a 500. msgspec's decoder refuses all of them at the edge, and it is several times
faster. Encoding with msgspec writes a non-finite float as ``null`` instead of the invalid
``Infinity`` that ``json.dumps`` writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetdeck.api.limits import BodyTooLarge


class BodyInvalid(ValueError):
    """The body is not JSON fleetdeck accepts; the message says why, for the client."""


def decode_json(body: bytes | str) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.ValidationError as exc:  # a number out of range
        raise BodyInvalid(f"not valid JSON: {exc}") from None
    except msgspec.DecodeError as exc:
        reason = str(exc)
        if "truncated" in reason and _has_lone_surrogate(body):
            reason = "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)"
        raise BodyInvalid(f"not valid JSON: {reason}") from None


def encode_json(value: Any) -> bytes:
    return msgspec.json.encode(value)


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")  # no nested repetition: linear


def _has_lone_surrogate(body: bytes | str) -> bool:
    """Only to word the error: msgspec reports a lone surrogate as a truncated input."""
    data = body.encode("utf-8", "replace") if isinstance(body, str) else body
    return _SURROGATE.search(data) is not None


BadBody = Callable[[str], Response]


class StrictJsonBodies:
    """ASGI middleware for REST APIs: a JSON request body that ``decode_json`` refuses is answered
    by ``render(reason)`` before any route sees it, so a framework's lenient ``json.loads`` never
    lets NaN or a lone surrogate through to core. The body (already bounded by the size limit
    outside) is read once and replayed to the application."""

    def __init__(self, app: ASGIApp, render: BadBody, too_large: Callable[[], Response]) -> None:
        self.app = app
        self.render = render
        self.too_large = too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
        except BodyTooLarge:  # the size limit outside, counting a body sent without a length
            await self.too_large()(scope, receive, send)
            return
        body = b"".join(chunks)
        if body.strip():
            try:
                decode_json(body)
            except BodyInvalid as exc:
                await self.render(str(exc))(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return bool(scope.get("method") in ("POST", "PUT", "PATCH"))  # no type given: read as JSON
