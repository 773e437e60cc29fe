"""First start: trade a one-time enrollment token for this agent's permanent credentials."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from fleetdeck.agent import AGENT_VERSION
from fleetdeck.agent.backoff import Backoff
from fleetdeck.agent.collectors.common import hardware_macs
from fleetdeck.agent.config import AgentState, read_hardware_uuid, read_machine_id
from fleetdeck.agent.transport import check_pin, open_connection, parse_retry_after, signed_by
from fleetdeck.agent.wsclient import InvalidStatus, WebSocketException
from fleetdeck.protocol import messages as m
from fleetdeck.protocol.session import AgentSession, ProtocolViolation

log = logging.getLogger(__name__)

ANSWER_TIMEOUT_SEC = 30.0


class EnrollmentRefusedError(Exception):
    """The server answered with an error (bad or expired token...): retrying will not help."""


class ServerBusyError(Exception):
    """The server could not enroll the agent now (``unavailable``): try again later."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


async def enroll_once(
    url: str,
    token: str,
    fingerprint: str | None,
    attempt: str = "",
    client_auth: tuple[str, str] | None = None,
) -> AgentState:
    """One try. Transport errors propagate; a refusal raises EnrollmentRefusedError.

    ``attempt`` is the same on every try of one enrollment (``StateStore.enroll_attempt``): if
    an earlier try's answer was lost, the server answers this one with the same computer and
    does not use the token again.

    With a ``fingerprint`` the server certificate must match it (PinMismatchError otherwise);
    without one the certificate seen now is trusted from here on.
    """
    # Windows and macOS run a tool for each (PowerShell takes a second): not on the event loop
    machine_id = await asyncio.to_thread(read_machine_id)
    hardware_uuid = await asyncio.to_thread(read_hardware_uuid)
    async with open_connection(url, ping_interval=None) as ws:
        seen = check_pin(url, ws, fingerprint)
        session = AgentSession()
        enroll = m.Enroll(
            token=token,
            hostname=socket.gethostname(),
            agent_version=AGENT_VERSION,
            machine_id=machine_id,
            hardware_uuid=hardware_uuid,
            macs=hardware_macs(),
            attempt=attempt,
            client_auth_id=client_auth[0] if client_auth else "",
            client_auth_password=client_auth[1] if client_auth else "",
        )
        await ws.send(m.encode(enroll), text=True)
        session.sent_enroll()
        async with asyncio.timeout(ANSWER_TIMEOUT_SEC):
            frame = await ws.recv()
        msg = session.receive(frame)
        if isinstance(msg, m.Enrolled):
            state = AgentState(
                server=url,
                uid=msg.uid,
                key=msg.key,
                computer_id=msg.computer_id,
                fingerprint=seen,
                update_key=msg.update_key,
            )
        elif isinstance(msg, m.Error) and msg.code == "unavailable":
            raise ServerBusyError(msg.message, msg.retry_after)
        elif isinstance(msg, m.Error):
            raise EnrollmentRefusedError(f"{msg.message} ({msg.code})")
        else:
            raise ProtocolViolation("unexpected", f"server answered enroll with {type(msg).__name__}")
    if msg.ca_pem and seen is not None:
        # The CA came over the connection just checked; pinned once this server's certificate
        # is shown to be one it signed (else the certificate pin stays, and the agent says so).
        if await signed_by(url, msg.ca_pem, seen):
            state.ca_pem = msg.ca_pem
            log.info("pinned the server's CA")
        else:
            log.warning("the server's certificate is not signed by the CA it sent; pinning the certificate")
    return state


async def enroll(
    url: str,
    token: str,
    fingerprint: str | None,
    backoff: Backoff,
    stop: asyncio.Event,
    *,
    attempt: str = "",
    client_auth: tuple[str, str] | None = None,
) -> AgentState | None:
    """Enroll, retrying transport failures (the server may not be up yet) until ``stop``.

    Returns None when stopped. EnrollmentRefusedError and PinMismatchError are not retried: both need
    the admin (a new token, or the right fingerprint / no man in the middle).
    """
    while not stop.is_set():
        delay: float | None = None
        task = asyncio.create_task(enroll_once(url, token, fingerprint, attempt, client_auth))
        stop_wait = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        if not task.done():  # stopped mid-attempt (SIGTERM): nothing to save
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            return None
        try:
            return task.result()
        except InvalidStatus as exc:
            log.warning("enrollment: server answered HTTP %s", exc.response.status_code)
            delay = parse_retry_after(exc.response.headers.get("Retry-After"))
        except ServerBusyError as exc:
            log.warning("enrollment: the server is busy: %s", exc)
            delay = exc.retry_after
        except (OSError, TimeoutError, WebSocketException, ProtocolViolation) as exc:
            log.warning("enrollment at %s failed: %s", url, exc or type(exc).__name__)
        wait = max(delay or 0.0, backoff.next_delay())
        log.info("retrying enrollment in %.1f s", wait)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
    return None


__all__ = ["EnrollmentRefusedError", "ServerBusyError", "enroll", "enroll_once"]
