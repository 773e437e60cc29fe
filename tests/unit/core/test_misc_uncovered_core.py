"""Small parts of core that no test of the mutation subset ran (issue #9): the CA's pins and its
refusal of a foreign key, a computer's capabilities, checking an enrollment token, the credential
a computer was enrolled with, an end user's scope, the report catalogue, an end user's group
list, a file push to no tags, the payload store's ZIP checks, the SMTP mailer against a real
local SMTP server, and housekeeping's rounds that lose a lease or a duty. Real database, real
files, a clock the test moves."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
import smtplib
import socket
import ssl
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import create_engine, select

from fleetdeck.core.authz import Actor, Perm, Role
from fleetdeck.core.certs.authority import (
    CA_KEY,
    CertificateAuthority,
    certificate_pins,
    create_ca,
    ensure_server_certificate,
)
from fleetdeck.core.computers.entities import CAPABILITIES, NATIVE_AGENT
from fleetdeck.core.enrollment.agent_secrets import bound_name, credential_of
from fleetdeck.core.errors import (
    AuthenticationFailed,
    PermissionDenied,
    TooManyAttempts,
    Unavailable,
    ValidationFailed,
)
from fleetdeck.core.housekeeping import Duty, Housekeeping
from fleetdeck.core.jobs.entities import TagTarget
from fleetdeck.core.jobs.files import FilePutRequest
from fleetdeck.core.leases import LeaseService
from fleetdeck.core.mail import settings as mail_keys
from fleetdeck.core.mail.mailer import Mail, SmtpMailer
from fleetdeck.core.packages import payloads
from fleetdeck.core.people.scope import assigned_to, visible
from fleetdeck.core.query import Query
from fleetdeck.core.reports.postgres_runner import PostgresRunner
from fleetdeck.core.reports.service import make_runner
from fleetdeck.core.reports.sqlite_runner import SqliteRunner
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.runtime import Runtime
from fleetdeck.settings import Settings
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    config = CoreConfig(payload_dir=settings.data_dir / "payloads", files_dir=settings.data_dir / "files")
    return build_services(runtime.db, SECRET, config, clock=clock)


@pytest.fixture
def admin(svc: Services) -> Actor:
    return factories.user(svc, Role.ADMIN, "boss")


# ------------------------------------------------------------------ certificates


def test_a_certificates_pins_are_its_fingerprint_and_its_public_keys_digest(tmp_path: Path) -> None:
    cert_path, _ = ensure_server_certificate(tmp_path, "fleet.example", ["10.0.0.1"])
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    der = cert.public_bytes(serialization.Encoding.DER)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fingerprint, pin = certificate_pins(cert_path)
    assert fingerprint == "sha256:" + hashlib.sha256(der).hexdigest()
    assert pin == "sha256//" + base64.b64encode(hashlib.sha256(spki).digest()).decode()
    assert len(fingerprint) == 7 + 64 and pin.endswith("=")


def test_a_ca_whose_key_is_no_ec_key_issues_nothing(tmp_path: Path) -> None:
    create_ca(tmp_path, "fleet CA")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / CA_KEY).write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ca = CertificateAuthority(tmp_path)
    assert ca.available
    with pytest.raises(ValueError, match=r"^the CA key is not an EC key$"):
        ca.issue("agent", [], server=False, days=30)


# ------------------------------------------------------------------ computers and enrollment


def test_a_computers_capabilities_are_those_of_its_agent_kind(svc: Services, admin: Actor) -> None:
    cid = factories.computer(svc, admin, "pc")
    summary = svc.computers.get(admin, cid).summary
    assert summary.agent_kind == NATIVE_AGENT
    assert summary.capabilities == (
        "inventory",
        "packages",
        "commands",
        "actions",
        "ping",
        "live_output",
        "files",
    )
    assert summary.capabilities == CAPABILITIES[NATIVE_AGENT]


def test_checking_a_token_names_it_and_uses_nothing_up(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    made = svc.enrollment.create_token(admin, expires_in=timedelta(hours=1), max_uses=1, note="lab")
    assert svc.enrollment.check_token(made.token) == made.info
    assert svc.enrollment.check_token(made.token).uses == 0  # checked twice, not used
    clock.now = T0 + timedelta(hours=1) - timedelta(microseconds=1)
    assert svc.enrollment.check_token(made.token).note == "lab"
    clock.now = T0 + timedelta(hours=1)  # the moment it expires
    for token in (made.token, made.token + "x", ""):
        with pytest.raises(AuthenticationFailed) as bad:
            svc.enrollment.check_token(token)
        assert bad.value.message == "invalid, expired or used-up enrollment token"
    clock.now = T0
    svc.enrollment.revoke_token(admin, made.info.id)
    with pytest.raises(AuthenticationFailed):
        svc.enrollment.check_token(made.token)


def test_a_host_login_that_succeeds_clears_its_failures_from_that_address(
    svc: Services, admin: Actor
) -> None:
    token = svc.enrollment.create_token(admin, expires_in=None).token
    pc = svc.enrollment.enroll(token, hostname="pc1", machine_id="m1", agent_version="1", source="")
    login = svc.enrollment.authenticate_host

    def fail(times: int, source: str) -> None:
        for _ in range(times):
            with pytest.raises(AuthenticationFailed) as wrong:
                login("pc1.corp.example", "0" * 32, "corp.example", source=source)
            assert type(wrong.value) is AuthenticationFailed

    fail(4, "10.0.0.9")  # one short of the limit (login_max_failures = 5)
    assert login("pc1.corp.example", pc.key, "corp.example", source="10.0.0.9").computer_id == pc.computer_id
    fail(4, "10.0.0.9")  # counted from zero again
    assert login("pc1.corp.example", pc.key, "corp.example", source="10.0.0.9").computer_id == pc.computer_id
    fail(5, "10.0.0.8")
    with pytest.raises(TooManyAttempts) as throttled:  # without a success in between: throttled
        login("pc1.corp.example", pc.key, "corp.example", source="10.0.0.8")
    assert throttled.value.message == "too many failed logins; try again later"
    assert throttled.value.retry_after > 0


def test_a_retried_attempt_with_a_revoked_token_gets_nothing_back(svc: Services, admin: Actor) -> None:
    made = svc.enrollment.create_token(admin, expires_in=None, max_uses=2)
    first = svc.enrollment.enroll(
        made.token, hostname="pc1", machine_id="m1", agent_version="1", source="", attempt="att-1"
    )
    svc.enrollment.revoke_token(admin, made.info.id)
    with pytest.raises(AuthenticationFailed) as revoked:
        svc.enrollment.enroll(
            made.token, hostname="pc1", machine_id="m1", agent_version="1", source="", attempt="att-1"
        )
    assert revoked.value.message == "invalid, expired or used-up enrollment token"
    assert (
        svc.enrollment.authenticate_agent(first.uid, first.key).computer_id == first.computer_id
    )  # key kept


def test_the_credential_a_computer_was_enrolled_with_is_read_back_from_its_creator() -> None:
    assert bound_name("lab-7") == "client-auth:lab-7"
    assert credential_of(bound_name("lab-7")) == "lab-7"
    assert credential_of("client-auth:") == ""
    assert credential_of("alice") == ""
    assert credential_of("xclient-auth:lab") == ""
    assert credential_of("client-auth:client-auth:a") == "client-auth:a"


# ------------------------------------------------------------------ an end user's part of the fleet


def test_an_end_users_scope_is_the_computers_assigned_to_them(
    svc: Services, admin: Actor, runtime: Runtime
) -> None:
    ada = svc.people.create(
        admin, first_name="Ada", last_name="L", email="ada@example.org", password="secret-1"
    )
    bob = svc.people.create(
        admin, first_name="Bob", last_name="M", email="bob@example.org", password="secret-1"
    )
    pcs = [factories.computer(svc, admin, f"pc-{n}") for n in range(3)]
    svc.people.assign(admin, "ada@example.org", ["pc-0", "pc-2"])
    svc.people.assign(admin, "bob@example.org", ["pc-1"])
    me = Actor(user_id=ada.user_id, username="ada@example.org", role=Role.END_USER)
    assert visible(admin, Perm.READ, Computer.id) is None
    assert visible(factories.user(svc, Role.VIEWER), Perm.READ, Computer.id) is None
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert sorted(uow.session.scalars(assigned_to(ada.user_id))) == [pcs[0], pcs[2]]
        assert sorted(uow.session.scalars(assigned_to(bob.user_id))) == [pcs[1]]
        for perm in (Perm.READ, Perm.RUN_COMMANDS):
            condition = visible(me, perm, Computer.id)
            assert condition is not None
            assert sorted(uow.session.scalars(select(Computer.id).where(condition))) == [pcs[0], pcs[2]]
    with pytest.raises(PermissionDenied) as denied:
        visible(me, Perm.MANAGE_COMPUTERS, Computer.id)
    assert denied.value.message == "ada@example.org (end_user) lacks permission manage_computers"
    nobody = Actor(user_id=None, username="anon", role=Role.END_USER)
    with pytest.raises(PermissionDenied):
        visible(nobody, Perm.READ, Computer.id)


def test_an_end_user_sees_no_groups(svc: Services, admin: Actor) -> None:
    factories.group(svc, admin, "office")
    me = Actor(user_id=12345, username="ada@example.org", role=Role.END_USER)
    page = svc.groups.find(me, Query())
    assert (page.items, page.total) == ([], 0)
    assert svc.groups.find(admin, Query()).total == 1


def test_adding_to_a_flat_group_takes_members_out_of_the_other_and_tells_the_hooks_of_both(
    svc: Services, admin: Actor
) -> None:
    pcs = {n: factories.computer(svc, admin, n) for n in ("pc-1", "pc-2", "pc-3")}
    office = svc.flat_groups.create(admin, "Office", ["pc-1", "pc-2"])
    home = svc.flat_groups.create(admin, "Home")
    told: list[tuple[int, list[int]]] = []
    svc.groups.membership_hooks.append(lambda s, gid, ids: told.append((gid, sorted(ids))))
    mark = factories.audit_mark(svc)
    assert svc.groups.add_members(admin, home, [pcs["pc-1"], pcs["pc-3"]]) == sorted(
        [pcs["pc-1"], pcs["pc-3"]]
    )
    assert told == [(home, sorted([pcs["pc-1"], pcs["pc-3"]])), (office, [pcs["pc-1"]])]
    assert svc.groups.member_ids([office]) == {pcs["pc-2"]}
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_id, row.detail) == (
        "group.add_members",
        str(home),
        {"added": sorted([pcs["pc-1"], pcs["pc-3"]]), "left": {str(office): [pcs["pc-1"]]}},
    )


# ------------------------------------------------------------------ reports


def test_the_report_catalogue_names_each_reports_group_by_id(svc: Services, admin: Actor) -> None:
    security = svc.reports.groups.create(admin, "Security")
    second = svc.reports.create(admin, "open ports", "SELECT 1", group_id=security.id)
    first = svc.reports.create(admin, "all computers", "SELECT 2")
    third = svc.reports.create(admin, "updates", "SELECT 3", group_id=security.id)
    viewer = factories.user(svc, Role.VIEWER)
    assert svc.reports.with_groups(viewer) == [(second, "Security"), (first, ""), (third, "Security")]
    with pytest.raises(PermissionDenied) as denied:
        svc.reports.with_groups(Actor(user_id=None, username="ada", role=Role.END_USER))
    assert denied.value.message == "ada (end_user) lacks permission read"


def test_reports_read_the_database_file_and_refuse_a_database_in_memory(tmp_path: Path) -> None:
    runner = make_runner(Database(f"sqlite:///{tmp_path / 'x.db'}"))
    assert isinstance(runner, SqliteRunner)
    assert runner._uri == f"file:{quote(str((tmp_path / 'x.db').resolve()))}?mode=ro"
    # fleetdeck's Database refuses to be made in memory (its pool options), so the engine of
    # one is set on it here: the runner must still refuse it rather than read an empty file
    for url in ("sqlite://", "sqlite:///:memory:"):
        memory = Database.__new__(Database)
        memory.engine = create_engine(url)
        with pytest.raises(ValueError, match=r"^reports need a file-based SQLite database$"):
            make_runner(memory)


def test_reports_on_postgresql_run_on_its_engine(runtime: Runtime) -> None:
    runner = make_runner(runtime.db)
    if runtime.db.dialect == "sqlite":
        assert isinstance(runner, SqliteRunner)
    else:
        assert isinstance(runner, PostgresRunner) and runner._engine is runtime.db.engine


# ------------------------------------------------------------------ pushed files


def test_a_push_to_an_empty_tag_list_is_refused(svc: Services, admin: Actor, settings: Settings) -> None:
    factories.computer(svc, admin, "pc")
    mark = factories.audit_mark(svc)
    with pytest.raises(ValidationFailed) as empty:
        svc.file_pushes.push(admin, io.BytesIO(b"data"), FilePutRequest("/tmp/x"), tags=TagTarget(()))
    assert (empty.value.message, empty.value.field) == ("please specify tags in the tags list", "tags")
    assert factories.audit_since(svc, mark) == []
    assert not [p for p in (settings.data_dir / "files").rglob("*") if p.is_file() and p.name != ".lock"]


# ------------------------------------------------------------------ the payload store's ZIP checks


def test_only_a_readable_archive_counts_as_a_zip(tmp_path: Path) -> None:
    good = factories.zip_payload(**{"a.txt": b"a"})
    empty = factories.zip_payload()
    assert payloads.is_zip(good) and payloads.is_zip(empty)
    assert not payloads.is_zip(b"PK\x03\x04 but no archive")
    assert not payloads.is_zip(b"MZ" + good)
    for name, data in {
        "good": good,
        "empty": empty,
        "broken": b"PK\x03\x04 but no archive",
        "exe": b"MZ",
    }.items():
        (tmp_path / name).write_bytes(data)
    assert payloads.is_zip_file(tmp_path / "good") and payloads.is_zip_file(tmp_path / "empty")
    assert not payloads.is_zip_file(tmp_path / "broken")
    assert not payloads.is_zip_file(tmp_path / "exe")
    assert not payloads.is_zip_file(tmp_path / "missing")


def test_a_payload_the_store_has_already_is_not_replaced_and_the_source_goes(tmp_path: Path) -> None:
    store = payloads.PayloadStore(tmp_path / "store")
    data = factories.zip_payload(**{"a.txt": b"a"})
    digest, size = store.put(data)
    target = store.path(digest)
    before = target.stat().st_mtime_ns
    source = tmp_path / "upload.part"
    source.write_bytes(data)
    store.adopt(source, digest, size)
    assert not source.exists()
    assert target.read_bytes() == data and target.stat().st_mtime_ns == before


def test_a_failed_write_leaves_neither_the_target_nor_a_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "ab" / "payload.zip"

    def broken(out: Any) -> None:
        out.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        payloads._write_atomically(target, broken)
    assert list(target.parent.iterdir()) == []


# ------------------------------------------------------------------ mail through a real SMTP server


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        return AuthResult(success=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=inbox.authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def point_at(svc: Services, admin: Actor, port: int, tls: str, username: str = "") -> None:
    svc.settings.set(admin, mail_keys.HOST, "127.0.0.1")
    svc.settings.set(admin, mail_keys.PORT, port)
    svc.settings.set(admin, mail_keys.TLS, tls)
    svc.settings.set(admin, mail_keys.SENDER, "fleet@mail.example.org")
    svc.settings.set(admin, mail_keys.USERNAME, username)
    svc.settings.set(admin, mail_keys.PASSWORD, "smtp-pass")


MAIL = Mail(("a@example.org", "b@example.org"), "Hello", "the text\n")


def test_a_mail_is_sent_with_its_headers_and_a_login_when_a_user_is_set(
    svc: Services, admin: Actor, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    point_at(svc, admin, port, mail_keys.TLS_NONE, username="mailer")
    mailer = SmtpMailer(svc.settings)
    try:
        assert mailer.configured()
        assert mailer.send(MAIL).result(timeout=30) is None
    finally:
        mailer.close()
    [msg] = inbox.messages
    assert (msg["From"], msg["To"], msg["Subject"]) == (
        "fleet@mail.example.org",
        "a@example.org, b@example.org",
        "Hello",
    )
    assert msg["Message-ID"].endswith("@mail.example.org>")
    assert msg.get_payload().replace("\r\n", "\n") == "the text\n"
    assert inbox.logins == [(b"mailer", b"smtp-pass")]


def send_one(svc: Services) -> None:
    """``MAIL`` through a mailer of its own, closed after."""
    mailer = SmtpMailer(svc.settings)
    try:
        mailer.send(MAIL).result(timeout=30)
    finally:
        mailer.close()


def test_a_mail_names_its_headers_in_their_usual_spelling(
    svc: Services, admin: Actor, smtp_server: tuple[Inbox, int]
) -> None:
    """The header names on the wire are spelled as RFC 5322 writes them (``Subject``, not
    ``subject``): some mail filters and clients match them case-sensitively."""
    inbox, port = smtp_server
    point_at(svc, admin, port, mail_keys.TLS_NONE)
    send_one(svc)
    [msg] = inbox.messages
    assert [k for k, _ in msg.items() if k in ("From", "To", "Subject", "Message-ID")] == [
        "From",
        "To",
        "Subject",
        "Message-ID",
    ]


def test_without_a_user_no_login_is_tried(
    svc: Services, admin: Actor, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    point_at(svc, admin, port, mail_keys.TLS_NONE)
    send_one(svc)
    assert len(inbox.messages) == 1 and inbox.logins == []


@pytest.mark.parametrize(
    ("tls", "error"),
    [(mail_keys.TLS_STARTTLS, smtplib.SMTPNotSupportedError), (mail_keys.TLS_IMPLICIT, ssl.SSLError)],
)
def test_a_server_without_tls_gets_no_mail_when_tls_is_asked_for(
    svc: Services,
    admin: Actor,
    smtp_server: tuple[Inbox, int],
    caplog: pytest.LogCaptureFixture,
    tls: str,
    error: type[Exception],
) -> None:
    inbox, port = smtp_server
    point_at(svc, admin, port, tls)
    mailer = SmtpMailer(svc.settings)
    try:
        with caplog.at_level(logging.WARNING, logger="fleetdeck.mail"):
            failed = mailer.send(MAIL).exception(timeout=30)
    finally:
        mailer.close()
    assert isinstance(failed, error)
    assert inbox.messages == []
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records if r.name == "fleetdeck.mail"] == [
        ("fleetdeck.mail", logging.WARNING, f"e-mail to a@example.org, b@example.org not sent: {failed}")
    ]


def test_an_unreachable_or_unconfigured_server_fails_the_mails_future(svc: Services, admin: Actor) -> None:
    mailer = SmtpMailer(svc.settings, workers=1)
    try:
        assert not mailer.configured()
        failed = mailer.send(MAIL).exception(timeout=30)
        assert isinstance(failed, Unavailable)
        assert failed.message == "no SMTP server or sender configured (smtp.host, smtp.sender)"
        svc.settings.set(admin, mail_keys.HOST, "127.0.0.1")
        assert not mailer.configured()  # a server, but no sender
        assert isinstance(mailer.send(MAIL).exception(timeout=30), Unavailable)
        point_at(svc, admin, free_port(), mail_keys.TLS_NONE)
        assert mailer.configured()
        assert isinstance(mailer.send(MAIL).exception(timeout=30), ConnectionRefusedError)
    finally:
        mailer.close()


# ------------------------------------------------------------------ housekeeping's rounds


def test_a_round_that_only_renews_runs_nothing_and_a_failing_duty_counts_no_run(
    svc: Services, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []
    quiet = Duty("test.quiet", 60, lambda: ran.append("quiet"))

    def explode() -> None:
        raise RuntimeError("boom")

    broken = Duty("test.broken", 60, explode)
    keeper = Housekeeping(svc.leases, [quiet, broken], "node:1")

    async def rounds() -> list[bool]:
        return [
            await keeper.run_once(quiet, run=False),
            await keeper.run_once(quiet),
            await keeper.run_once(broken),
        ]

    with caplog.at_level(logging.INFO, logger="fleetdeck.housekeeping"):
        assert asyncio.run(rounds()) == [True, True, False]
    assert ran == ["quiet"]
    assert keeper.runs == {"test.quiet": 1}
    assert keeper.held == {"test.quiet", "test.broken"}  # the lease is held, the run failed
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failures] == ["test.broken failed"]


def test_a_lease_lost_to_another_process_is_said_once_and_let_go(
    svc: Services, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []
    duty = Duty("test.shared", 60, lambda: ran.append("x"), lease_sec=30)
    a = Housekeeping(svc.leases, [duty], "node-a:1")
    b = Housekeeping(LeaseService(svc.leases._db, clock), [duty], "node-b:2")
    assert asyncio.run(a.run_once(duty))
    assert not asyncio.run(b.run_once(duty))  # a holds it
    assert b.held == set()
    clock.now = T0 + timedelta(seconds=31)  # a stalled: its lease ran out
    assert asyncio.run(b.run_once(duty))
    with caplog.at_level(logging.WARNING, logger="fleetdeck.housekeeping"):
        assert not asyncio.run(a.run_once(duty))
        assert not asyncio.run(a.run_once(duty))
    assert a.held == set() and b.held == {"test.shared"}
    assert [r.getMessage() for r in caplog.records] == [
        "lost the lease of test.shared to another server process"
    ]
    assert ran == ["x", "x"] and (a.runs["test.shared"], b.runs["test.shared"]) == (1, 1)


def test_a_node_name_is_renewed_kept_and_released(svc: Services) -> None:
    moved: list[str] = []

    async def on_move(name: str) -> None:
        moved.append(name)

    async def scenario() -> None:
        keeper = Housekeeping(svc.leases, [], "proc-1", nodes=svc.nodes, node_renew_sec=3600)
        await keeper.release_node()  # nothing claimed: nothing to release
        assert keeper.node is None
        assert await keeper.claim_node("web-1", on_move) == "web-1"
        await keeper.start()
        assert len(keeper._tasks) == 1  # the node's renewal loop
        await keeper.renew_node()
        assert keeper.node == "web-1" and moved == []
        await keeper.stop()
        await keeper.release_node()
        assert keeper.node is None
        other = Housekeeping(svc.leases, [], "proc-2", nodes=svc.nodes)
        assert await other.claim_node("web-1", on_move) == "web-1"  # free at once

    asyncio.run(scenario())
