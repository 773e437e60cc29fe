"""fleetdeck's own certificate authority (``core/certs``), called directly: what the CA, the
server's certificate and a computer's client certificate say (names, usages, lifetimes, who
signed them), that private keys are written for the owner only, and who may have a certificate
issued. The opsi dialect tests fetch the same through HTTP; these are the ones the mutation
subset runs (docs/testing.md, "Mutation testing": core's CA had no test there)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.certs.authority import (
    CA_CERT,
    CA_KEY,
    SERVER_CERT,
    SERVER_KEY,
    CertificateAuthority,
    create_ca,
    ensure_server_certificate,
)
from fleetdeck.core.certs.service import NO_CA
from fleetdeck.core.errors import NotFound, PermissionDenied, Unavailable, ValidationFailed
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.settings import Settings
from tests import factories
from tests.conftest import SECRET


def _cert(pem: str | bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem if isinstance(pem, bytes) else pem.encode())


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))  # raises if not
    return cert.issuer == ca.subject


def _host(computer_id: int, hostname: str) -> Actor:
    """A computer acting as itself, as the opsi dialect makes one of a host login."""
    return Actor(user_id=None, username=hostname, role=Role.VIEWER, computer_id=computer_id)


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _about(when: datetime.datetime, days: int) -> bool:
    expected = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)
    return abs((when - expected).total_seconds()) < 120


def test_a_new_tls_directory_gets_a_ca_that_signs_the_servers_certificate(tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    cert_path, key_path = ensure_server_certificate(tls, "fleet.example.org", ["127.0.0.1", "fleet"])
    assert (cert_path, key_path) == (tls / SERVER_CERT, tls / SERVER_KEY)
    for private in (tls / CA_KEY, tls / SERVER_KEY):
        assert private.stat().st_mode & 0o777 == 0o600

    ca = _cert((tls / CA_CERT).read_bytes())
    assert _cn(ca) == "fleetdeck CA fleet.example.org"
    assert ca.subject == ca.issuer and _signed_by(ca, ca)
    assert ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "fleetdeck"
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert usage.value.digital_signature and not usage.value.key_encipherment
    assert ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert _about(ca.not_valid_after_utc, 3650)
    assert ca.not_valid_before_utc < datetime.datetime.now(datetime.UTC)

    server = _cert(cert_path.read_bytes())
    assert _signed_by(server, ca) and _cn(server) == "fleet.example.org"
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["fleet.example.org", "fleet"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert _about(server.not_valid_after_utc, 825)
    key = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)

    before = cert_path.read_bytes(), (tls / CA_CERT).read_bytes()
    assert ensure_server_certificate(tls, "other.example.org", []) == (cert_path, key_path)
    assert (cert_path.read_bytes(), (tls / CA_CERT).read_bytes()) == before  # agents pinned them


def test_an_existing_self_signed_certificate_is_kept_and_there_is_no_ca(tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    tls.mkdir()
    (tls / SERVER_CERT).write_text("pinned")
    (tls / SERVER_KEY).write_text("key")
    ensure_server_certificate(tls, "fleet", [])
    assert (tls / SERVER_CERT).read_text() == "pinned"
    assert not CertificateAuthority(tls).available
    (tls / CA_CERT).write_text("half a CA")
    assert not CertificateAuthority(tls).available  # the key is missing too


def test_a_certificate_never_outlives_its_ca(tmp_path: Path) -> None:
    create_ca(tmp_path, "x" * 80)
    ca = CertificateAuthority(tmp_path)
    assert _cn(_cert(ca.ca_pem())) == ("fleetdeck CA " + "x" * 80)[:64]
    issued = ca.issue("long-lived", [], server=False, days=100_000)
    cert = _cert(issued.cert_pem)
    assert issued.not_after == _cert(ca.ca_pem()).not_valid_after_utc == cert.not_valid_after_utc
    assert cert.serial_number == issued.serial
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


@pytest.fixture
def certs(runtime: Runtime, settings: Settings, tmp_path: Path) -> Services:
    tls = tmp_path / "tls"
    ensure_server_certificate(tls, "fleet", [])
    return build_services(runtime.db, SECRET, CoreConfig(payload_dir=settings.data_dir / "p", tls_dir=tls))


def test_a_computer_gets_a_client_certificate_from_the_ca_and_the_issue_is_audited(
    certs: Services, admin: Actor
) -> None:
    cid = factories.computer(certs, admin, "pc1")
    ca = _cert(certs.certificates.ca_certificate(admin))
    mark = factories.audit_mark(certs)
    issued = certs.certificates.issue_for_computer(admin, cid, "pc1.example.org")
    cert = _cert(issued.cert_pem)
    assert _signed_by(cert, ca) and _cn(cert) == "pc1.example.org"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["pc1.example.org"]
    assert _about(issued.not_after, 365) and "PRIVATE KEY" in issued.key_pem
    [row] = [r for r in factories.audit_since(certs, mark) if r.action == "certificate.issue"]
    assert (row.object_type, row.object_id, row.result) == ("computer", str(cid), "ok")
    assert row.detail == {
        "name": "pc1.example.org",
        "serial": format(issued.serial, "x"),
        "not_after": issued.not_after.isoformat(),
    }
    assert issued.key_pem not in str(row.detail)

    itself = _host(cid, "pc1")
    assert _cn(_cert(certs.certificates.issue_for_computer(itself, cid, "pc1").cert_pem)) == "pc1"


def test_who_may_have_a_certificate_issued_and_for_what_name(certs: Services, admin: Actor) -> None:
    cid = factories.computer(certs, admin, "pc1")
    other = factories.computer(certs, admin, "pc2")
    with pytest.raises(PermissionDenied, match="only for itself"):
        certs.certificates.issue_for_computer(_host(other, "pc2"), cid, "pc1")
    with pytest.raises(PermissionDenied):
        certs.certificates.issue_for_computer(factories.user(certs, Role.VIEWER), cid, "pc1")
    for bad in ("", "-pc1", "pc1-", "pc 1", "pc1/x"):
        with pytest.raises(ValidationFailed) as err:
            certs.certificates.issue_for_computer(admin, cid, bad)
        assert (err.value.field, err.value.message) == ("name", f"invalid certificate name {bad!r}")
    with pytest.raises(NotFound):
        certs.certificates.issue_for_computer(admin, 10**6, "pc9")
    operator = factories.user(certs, Role.OPERATOR)
    assert certs.certificates.issue_for_computer(operator, cid, "a").cert_pem


def test_without_a_ca_the_calls_say_so(svc: Services, admin: Actor, tmp_path: Path, runtime: Runtime) -> None:
    cid = factories.computer(svc, admin, "pc1")
    with pytest.raises(Unavailable) as err:
        svc.certificates.ca_certificate(admin)
    assert err.value.message == NO_CA
    with pytest.raises(Unavailable):
        svc.certificates.issue_for_computer(admin, cid, "pc1")
    empty = build_services(
        runtime.db, SECRET, CoreConfig(payload_dir=tmp_path / "p", tls_dir=tmp_path / "none")
    )
    with pytest.raises(Unavailable):
        empty.certificates.ca_certificate(admin)
