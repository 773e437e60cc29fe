"""Certificate pinning: the agent checks the server certificate before sending secrets."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.server import serve

from fleetdeck.agent.config import AgentState, StateStore
from fleetdeck.agent.connection import Agent
from fleetdeck.agent.enroll import enroll_once
from fleetdeck.agent.transport import PinMismatchError
from fleetdeck.protocol import messages as m

from .fakeserver import FakeServer

WRONG = "sha256:" + "00" * 32


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, str]:
    """A self-signed server context and the certificate's pin."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fleetdeck-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("tls")
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "cert.pem", d / "key.pem")
    pin = "sha256:" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return ctx, pin


async def _enrollment(ctx: ssl.SSLContext, pin: str) -> None:
    server = FakeServer()
    async with serve(server.handler, "127.0.0.1", 0, ssl=ctx) as srv:
        url = f"wss://127.0.0.1:{srv.sockets[0].getsockname()[1]}/agent/v1/ws"

        # Wrong expected fingerprint: refused, and the token never leaves the agent.
        with pytest.raises(PinMismatchError):
            await enroll_once(url, "secret-token", WRONG)
        assert await (await server.next()).frames_until_closed() == []

        # Trust on first use: the certificate seen is what gets pinned.
        for expected in (None, pin):
            attempt = asyncio.create_task(enroll_once(url, "tok", expected))
            c = await server.next()
            await c.expect(m.Enroll)
            await c.send(m.Enrolled(computer_id=1, uid="u", key="k"))
            state = await attempt
            assert state.fingerprint == pin


def test_enrollment_pins_the_certificate(tls: tuple[ssl.SSLContext, str]) -> None:
    asyncio.run(_enrollment(*tls))


async def _later_connections(ctx: ssl.SSLContext, pin: str, tmp_path: Path) -> None:
    server = FakeServer()
    async with serve(server.handler, "127.0.0.1", 0, ssl=ctx) as srv:
        url = f"wss://127.0.0.1:{srv.sockets[0].getsockname()[1]}/agent/v1/ws"
        inventory = m.Inventory(hostname="h")

        # A different certificate than the pinned one: no Hello (no key) is ever sent.
        stop = asyncio.Event()
        state = AgentState(server=url, uid="u", key="secret-key", computer_id=1, fingerprint=WRONG)
        agent = Agent(
            StateStore(tmp_path),
            state,
            reconnect_min=0.05,
            reconnect_max=0.1,
            collect=lambda: inventory,
            stop=stop,
        )
        running = asyncio.create_task(agent.run())
        for _ in range(2):  # it keeps retrying, and refuses every time
            assert await (await server.next()).frames_until_closed() == []
        stop.set()
        await asyncio.wait_for(running, 5)
        assert agent.connections == 0

        # The pinned certificate: hello goes out.
        stop = asyncio.Event()
        state = AgentState(server=url, uid="u", key="secret-key", computer_id=1, fingerprint=pin)
        agent = Agent(
            StateStore(tmp_path),
            state,
            reconnect_min=0.05,
            reconnect_max=0.1,
            collect=lambda: inventory,
            stop=stop,
        )
        running = asyncio.create_task(agent.run())
        c = await server.next()
        hello = await c.expect(m.Hello)
        assert hello.key == "secret-key"
        stop.set()
        await asyncio.wait_for(running, 5)


def test_later_connections_check_the_pin(tls: tuple[ssl.SSLContext, str], tmp_path: Path) -> None:
    asyncio.run(_later_connections(*tls, tmp_path))
