"""The WebSocket endpoint agents connect to: ``/agent/v1/ws``.

Decoding and ordering rules come from ``protocol.session``; this module only moves frames
between the socket, the hub and the core services.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from fleetdeck.api.agent import terminals
from fleetdeck.api.agent.hub import AgentConn, AgentHub
from fleetdeck.core.authz import Actor
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.core.errors import AuthenticationFailed, FleetdeckError, PermissionDenied
from fleetdeck.protocol import messages as m
from fleetdeck.protocol.binary import StreamFault
from fleetdeck.protocol.session import ProtocolViolation, ServerSession

log = logging.getLogger("fleetdeck.agents")

PATH = "/agent/v1/ws"
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
RETRY_AFTER_SEC = 10.0
# Features of an agent's hello this server takes up, answered in Welcome.features.
TAKEN_UP = (m.FEATURE_BINARY_STREAMS, m.FEATURE_TERM_INPUT_ACK)


async def _receive_frame(ws: WebSocket) -> bytes | str | None:
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        return None
    data: bytes | None = message.get("bytes")
    if data is not None:
        return data
    text: str = message.get("text") or ""
    return text


def agent_websocket_route(hub: AgentHub) -> WebSocketRoute:
    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        remote = ws.client.host if ws.client else ""
        try:
            await _serve(hub, ws, remote)
        except WebSocketDisconnect:
            pass
        except ProtocolViolation as exc:
            log.info("agent at %s: protocol violation: %s", remote, exc)
            with contextlib.suppress(Exception):
                await ws.send_bytes(m.encode(m.Error(code=exc.code, message=str(exc))))
                await ws.close(POLICY_VIOLATION)
        except Exception as exc:
            # The database (or something else the server needs) failed. Say so in the
            # protocol's terms, so the agent comes back later, instead of dropping the TCP
            # connection without a close frame.
            log.error(
                "agent at %s: cannot serve it now (%s: %s)",
                remote,
                type(exc).__name__,
                exc,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            with contextlib.suppress(Exception):
                await _unavailable(ws, "the server cannot serve agents now; try again later")

    return WebSocketRoute(PATH, endpoint)


JobFrame = m.JobOutput | m.JobResult | m.JobUpdate


async def _own_job(hub: AgentHub, conn: AgentConn, actor: Actor, msg: JobFrame) -> bool:
    """Is the job ``msg`` names this computer's? Asked once per job and connection (JobRun frames
    sent on this connection are known already); PermissionDenied for another computer's job."""
    frame = str(type(msg).__struct_config__.tag)
    mine = await asyncio.to_thread(
        hub.services.jobs.agent_may_report, actor, conn.computer_id, msg.job_id, frame
    )
    if mine:
        conn.jobs.add(msg.job_id)
    return mine


async def _refuse_foreign_job(ws: WebSocket, conn: AgentConn, msg: JobFrame, exc: PermissionDenied) -> None:
    """An agent named another computer's job: a forged or confused agent. Nothing of the frame
    reaches the job or its viewers (core recorded the attempt); the connection ends, so nothing
    else it sends is believed either."""
    log.warning(
        "computer %s (%s at %s) sent a %s for job %s, which is another computer's; frame dropped, "
        "connection closed",
        conn.computer_id,
        conn.hostname,
        conn.remote,
        type(msg).__name__,
        msg.job_id,
    )
    with contextlib.suppress(Exception):
        await ws.send_bytes(m.encode(m.Error(code="forbidden", message=exc.message)))
        await ws.close(POLICY_VIOLATION, "frame for another computer's job")


async def _unavailable(ws: WebSocket, message: str) -> None:
    await ws.send_bytes(m.encode(m.Error(code="unavailable", message=message, retry_after=RETRY_AFTER_SEC)))
    await ws.close(TRY_AGAIN_LATER)


async def _serve(hub: AgentHub, ws: WebSocket, remote: str) -> None:
    session = ServerSession()
    if hub.stopping:
        await _unavailable(ws, "server shutting down")
        return
    try:
        first = await asyncio.wait_for(_receive_frame(ws), hub.config.hello_timeout_sec)
    except TimeoutError:
        raise ProtocolViolation("hello_timeout", "no hello within the time limit") from None
    if first is None:
        return
    hello = session.receive(first)
    services = hub.services
    if isinstance(hello, m.Enroll):
        try:
            creds = await asyncio.to_thread(
                services.enrollment.enroll,
                hello.token,
                hostname=hello.hostname,
                machine_id=hello.machine_id,
                agent_version=hello.agent_version,
                source=remote,
                hardware_uuid=hello.hardware_uuid,
                macs=hello.macs,
                attempt=hello.attempt,
                client_auth=(
                    (hello.client_auth_id, hello.client_auth_password) if hello.client_auth_id else None
                ),
            )
        except FleetdeckError as exc:
            code = "auth_failed" if isinstance(exc, AuthenticationFailed) else exc.code
            await ws.send_bytes(m.encode(m.Error(code=code, message=exc.message)))
            await ws.close(POLICY_VIOLATION)
            return
        if creds.replaced_enrollment is not None:
            log.warning(
                "computer %s (%s) re-enrolled from %s: its previous agent is locked out",
                creds.computer_id,
                hello.hostname,
                remote,
            )
            await hub.rekeyed(creds.computer_id, creds.replaced_enrollment.timestamp())
        elif creds.clone_of is not None:
            log.warning(
                "enrolled computer %s (%s) from %s as a computer of its own: it resembles computer %s "
                "(a clone, or a re-install nobody allowed to replace it)",
                creds.computer_id,
                hello.hostname,
                remote,
                creds.clone_of,
            )
        log.info("enrolled computer %s (%s) from %s", creds.computer_id, hello.hostname, remote)
        ca_pem = services.certificates.served_ca_pem() if ws.url.scheme == "wss" else ""
        update_key = await asyncio.to_thread(services.agent_updates.public_key)
        enrolled = m.Enrolled(
            computer_id=creds.computer_id, uid=creds.uid, key=creds.key, ca_pem=ca_pem, update_key=update_key
        )
        await ws.send_bytes(m.encode(enrolled))
        await ws.close()
        return
    assert isinstance(hello, m.Hello)
    try:
        ident = await asyncio.to_thread(services.enrollment.authenticate_agent, hello.uid, hello.key)
    except AuthenticationFailed as exc:
        log.warning("agent at %s failed to authenticate: %s", remote, exc.message)
        await ws.send_bytes(m.encode(m.Error(code="auth_failed", message=exc.message)))
        await ws.close(POLICY_VIOLATION)
        return
    session.authenticated()
    cid = ident.computer_id

    async def send(frame: bytes) -> None:
        await ws.send_bytes(frame)

    async def close(code: int, reason: str) -> None:
        await ws.close(code, reason)

    conn = AgentConn(
        computer_id=cid,
        hostname=ident.hostname,
        remote=remote,
        send=send,
        close=close,
        features=frozenset(hello.features),
        binary=m.FEATURE_BINARY_STREAMS in hello.features,
        enrolled_at=ident.enrolled_at.timestamp() if ident.enrolled_at else None,
    )
    await hub.attach(conn)
    try:
        cancels = await asyncio.to_thread(services.jobs.on_hello, cid, hello.known_jobs)
        hub.came_online(conn, hello.agent_version)
        digest = ident.inventory_digest
        interval = await asyncio.to_thread(services.monitoring.agent_interval)
        update_key, offer = "", None
        if m.FEATURE_UPDATE in conn.features:
            update_key = await asyncio.to_thread(services.agent_updates.public_key)
            offer = await asyncio.to_thread(services.agent_updates.offer_for, cid)
            if offer is not None and offer.version == hello.agent_version:
                offer = None
        await ws.send_bytes(
            m.encode(
                m.Welcome(
                    computer_id=cid,
                    heartbeat_sec=hub.config.heartbeat_sec,
                    server_version=hub.config.server_version,
                    want_inventory=not digest or digest != hello.inventory_digest,
                    reconnect_window_sec=hub.config.reconnect_window_sec,
                    monitoring_interval_sec=interval,
                    update_key=update_key,
                    update=offer,
                    features=[f for f in TAKEN_UP if f in conn.features],
                )
            )
        )
        for jid in cancels:
            await ws.send_bytes(m.encode(m.JobCancel(job_id=jid)))
        hub.want_dispatch(cid)
        hub.tunnels.agent_ready(conn)
        actor = agent_actor(cid, ident.hostname, remote)
        while True:
            frame = await _receive_frame(ws)
            if frame is None:
                return
            hub.heard_from(conn)
            msg = session.receive(frame)
            if isinstance(msg, m.Heartbeat):
                hub.heartbeat(conn)
            elif isinstance(msg, m.JobOutput | m.JobResult | m.JobUpdate):
                try:
                    mine = msg.job_id in conn.jobs or await _own_job(hub, conn, actor, msg)
                except PermissionDenied as exc:
                    await _refuse_foreign_job(ws, conn, msg, exc)
                    return
                if isinstance(msg, m.JobOutput):
                    if mine:  # output of a job that does not exist has no viewer
                        await hub.job_output(frame if isinstance(frame, bytes) else frame.encode(), msg)
                elif isinstance(msg, m.JobResult):
                    hub.job_result(cid, msg)  # an unknown job's result is acknowledged, not stored
                else:
                    hub.job_update(cid, msg)
            elif isinstance(msg, m.TunnelOpened | m.TunnelData | m.TunnelAck | m.TunnelClose):
                hub.tunnels.frame(conn, msg)
            elif isinstance(msg, StreamFault):
                hub.tunnels.fault(conn, msg)
            elif isinstance(msg, m.UdpData | m.UdpClose):
                hub.tunnels.datagram(conn, msg)
            elif isinstance(msg, m.Reply):
                await hub.agent_reply(conn, msg)
            elif isinstance(msg, m.TermOpened | m.TermOutput | m.TermTaken | m.TermExit):
                await terminals.agent_frame(conn, msg)
            elif isinstance(msg, m.UpdateReport):
                try:
                    await asyncio.to_thread(
                        services.agent_updates.record_status,
                        actor,
                        cid,
                        msg.version,
                        msg.state,
                        msg.error,
                        msg.running,
                    )
                except FleetdeckError as exc:
                    log.warning("update report from computer %s rejected: %s", cid, exc.message)
                else:
                    log.info("computer %s: agent update to %s: %s %s", cid, msg.version, msg.state, msg.error)
            elif isinstance(msg, m.Unknown):  # from a newer agent: nothing this server knows
                log.debug("computer %s sent a %r frame; ignored", cid, msg.type)
            elif isinstance(msg, m.Measurement):
                hub.measurement(cid, msg)  # stored in a batch (core.monitoring intake_batch)
            elif isinstance(msg, m.InventoryReport):
                try:
                    await asyncio.to_thread(
                        services.computers.record_inventory, actor, cid, msg.data, msg.digest
                    )
                except FleetdeckError as exc:
                    log.warning("inventory from computer %s rejected: %s", cid, exc.message)
    finally:
        await hub.detach(conn)
