"""Answers to the server's requests: small questions answered at once, outside the job journal.

A request is not a job: nothing is recorded, nothing is resent after a reconnect, and the server
gives up after its own timeout. A kind this agent does not know, or a handler that fails, is
answered with an error reply, so the server hears "no" at once instead of waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import psutil

from fleetdeck.agent.pending_updates import updates_status
from fleetdeck.protocol import messages as m

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def ping(_body: dict[str, Any]) -> dict[str, Any]:
    """Proof of life, with this machine's clock (for clock skew) and its uptime."""
    now = time.time()
    return {"time": now, "uptime": max(0.0, now - psutil.boot_time())}


HANDLERS: dict[str, Handler] = {m.PING: ping, m.UPDATES_STATUS: updates_status}
# kinds whose handler may take long (a subprocess): answered from a worker thread
SLOW = {m.UPDATES_STATUS}


def answer(request: m.Request) -> m.Reply:
    handler = HANDLERS.get(request.kind)
    if handler is None:
        return m.Reply(ref_id=request.id, ok=False, error=f"unknown request kind {request.kind!r}")
    try:
        body = handler(request.body)
    except Exception as exc:  # a daemon answers "failed", it does not die of its own bug
        log.exception("request %s (%s) failed", request.id, request.kind)
        return m.Reply(ref_id=request.id, ok=False, error=f"{type(exc).__name__}: {exc}")
    return m.Reply(ref_id=request.id, body=body)
