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
from fleetdeck.core.certs.authority import CertificateAuthority, create_ca
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


# ---------------------------------------------------------------- a pinned CA (--tls auto)


def _ca(directory: Path) -> CertificateAuthority:
    create_ca(directory, "test")
    return CertificateAuthority(directory)


def _context(ca: CertificateAuthority, directory: Path, *, server: bool = True) -> ssl.SSLContext:
    issued = ca.issue("127.0.0.1", ["127.0.0.1"], server=server, days=1)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "c.pem").write_text(issued.cert_pem)
    (directory / "k.pem").write_text(issued.key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(directory / "c.pem", directory / "k.pem")
    return ctx


async def _enroll_with_ca(ctx: ssl.SSLContext, ca_pem: str) -> AgentState:
    server = FakeServer()
    async with serve(server.handler, "127.0.0.1", 0, ssl=ctx) as srv:
        url = f"wss://127.0.0.1:{srv.sockets[0].getsockname()[1]}/agent/v1/ws"
        attempt = asyncio.create_task(enroll_once(url, "tok", None))
        c = await server.next()
        await c.expect(m.Enroll)
        await c.send(m.Enrolled(computer_id=1, uid="u", key="k", ca_pem=ca_pem))
        return await attempt


def test_enrollment_pins_the_ca_that_signed_the_certificate(tmp_path: Path) -> None:
    ours, other = _ca(tmp_path / "ca"), _ca(tmp_path / "other")
    ctx = _context(ours, tmp_path / "leaf")
    state = asyncio.run(_enroll_with_ca(ctx, ours.ca_pem()))
    assert state.ca_pem == ours.ca_pem() and state.fingerprint
    # A CA that did not sign the certificate is not pinned (it would lock the agent out).
    assert asyncio.run(_enroll_with_ca(ctx, other.ca_pem())).ca_pem is None


async def _connects(ctx: ssl.SSLContext, state_dir: Path, ca_pem: str, fingerprint: str) -> list[m.Message]:
    """What a real Agent with a pinned CA sends a server using ``ctx`` (its Hello, or nothing)."""
    server = FakeServer()
    async with serve(server.handler, "127.0.0.1", 0, ssl=ctx) as srv:
        url = f"wss://127.0.0.1:{srv.sockets[0].getsockname()[1]}/agent/v1/ws"
        stop = asyncio.Event()
        state = AgentState(server=url, uid="u", key="secret-key", computer_id=1, fingerprint=fingerprint)
        state.ca_pem = ca_pem
        agent = Agent(
            StateStore(state_dir),
            state,
            reconnect_min=0.05,
            reconnect_max=0.1,
            collect=lambda: m.Inventory(hostname="h"),
            stop=stop,
        )
        running = asyncio.create_task(agent.run())
        try:
            c = await asyncio.wait_for(server.next(), 5)
            hello = await asyncio.wait_for(c.expect(m.Hello), 5)
            return [hello]
        except (TimeoutError, AssertionError):
            return []
        finally:
            stop.set()
            await asyncio.wait_for(running, 5)


def test_a_pinned_ca_accepts_a_renewed_certificate_and_refuses_any_other(tmp_path: Path) -> None:
    ours, other = _ca(tmp_path / "ca"), _ca(tmp_path / "other")
    stale = WRONG  # the certificate pinned at enrollment has since been renewed
    renewed = _context(ours, tmp_path / "renewed")
    (hello,) = asyncio.run(_connects(renewed, tmp_path / "s1", ours.ca_pem(), stale))
    assert isinstance(hello, m.Hello) and hello.key == "secret-key"
    # Another CA's server certificate, or a client certificate of our own CA: no key is sent.
    assert (
        asyncio.run(
            _connects(_context(other, tmp_path / "other-leaf"), tmp_path / "s2", ours.ca_pem(), stale)
        )
        == []
    )
    client_cert = _context(ours, tmp_path / "client-leaf", server=False)
    assert asyncio.run(_connects(client_cert, tmp_path / "s3", ours.ca_pem(), stale)) == []
