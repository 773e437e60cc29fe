"""Opening websocket connections to the server, with certificate pinning.

Agents do not rely on the system's CAs: most fleetdeck servers use a certificate of their own.
Instead the agent pins at enrollment (checked with ``--server-fingerprint``, else trust on first
use) either the SHA-256 of the server's DER certificate or, when the server runs its own CA
(``--tls auto``) and says so in ``Enrolled.ca_pem``, that CA: then only certificates it signed
for a server are accepted (OpenSSL checks the chain and the server-auth key usage, so a client
certificate of the same CA does not pass), which survives the server renewing its certificate.
Either is checked on every connection *before* the agent sends its key, so the key is never
disclosed to another server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

from fleetdeck.agent import AGENT_VERSION
from fleetdeck.agent.config import cert_fingerprint
from fleetdeck.agent.wsclient import ClientConnection, connect

PING_INTERVAL_SEC = 20.0
OPEN_TIMEOUT_SEC = 15.0
CLOSE_TIMEOUT_SEC = 5.0
MAX_FRAME = 4 * 1024 * 1024  # a JobRun with a long script must fit


class PinMismatchError(Exception):
    """The server's certificate is not the one this agent trusts."""


def ssl_context(url: str, ca_pem: str | None = None) -> ssl.SSLContext | None:
    """With a pinned CA, a context that accepts only certificates it signed; else one that
    accepts any certificate: trust then comes from the pin, checked after the handshake by
    :func:`check_pin`."""
    if not url.lower().startswith("wss:"):
        return None
    return ca_tls_context(ca_pem) if ca_pem else pinned_tls_context()


def ca_tls_context(ca_pem: str) -> ssl.SSLContext:
    """TLS that trusts only the pinned CA. No hostname check: the admin may give the server by
    any name or address, and this CA signs nothing but fleetdeck's own certificates."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cadata=ca_pem)
    return ctx


async def signed_by(url: str, ca_pem: str, fingerprint: str) -> bool:
    """Whether the server at ``url`` presents the certificate ``fingerprint`` (the one the
    agent enrolled over) and ``ca_pem`` signed it: one handshake. An agent pins a CA only
    after this, so a wrong CA cannot lock it out."""
    parts = urlsplit(url)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or 443, ssl=ca_tls_context(ca_pem)),
            OPEN_TIMEOUT_SEC,
        )
    except (OSError, TimeoutError, ValueError):
        return False
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return der is not None and cert_fingerprint(der) == fingerprint


def pinned_tls_context() -> ssl.SSLContext:
    """TLS without CA or hostname checks; the caller checks the certificate pin."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def open_connection(
    url: str, *, ping_interval: float | None = PING_INTERVAL_SEC, ca_pem: str | None = None
) -> connect:
    """``async with open_connection(url) as ws`` - the agent's WebSocket client (:mod:`.wsclient`,
    which never goes through a proxy) with agent defaults."""
    kwargs: dict[str, Any] = {}
    ctx = ssl_context(url, ca_pem)
    if ctx is not None:
        kwargs["ssl"] = ctx
    return connect(
        url,
        open_timeout=OPEN_TIMEOUT_SEC,
        close_timeout=CLOSE_TIMEOUT_SEC,
        ping_interval=ping_interval,
        ping_timeout=ping_interval,
        max_size=MAX_FRAME,
        user_agent_header=f"fleetdeck-agent/{AGENT_VERSION}",
        **kwargs,
    )


def peer_fingerprint(ws: ClientConnection) -> str | None:
    """``sha256:hex`` of the server certificate, or None on a plain ws:// connection."""
    ssl_object = ws.transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return cert_fingerprint(der) if der else None


def check_pin(url: str, ws: ClientConnection, expected: str | None) -> str | None:
    """Raise PinMismatchError unless a wss:// peer presents the expected certificate.

    With ``expected`` None (trust on first use at enrollment) any certificate is accepted and
    its fingerprint returned so that it can be stored.
    """
    if not url.lower().startswith("wss:"):
        return None
    seen = peer_fingerprint(ws)
    if seen is None:
        raise PinMismatchError("the server presented no certificate")
    if expected is not None and seen != expected:
        raise PinMismatchError(f"server certificate {seen} does not match the pinned {expected}")
    return seen


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from an HTTP Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # only for the rare HTTP-date form: the email package is ~1 MiB resident

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
