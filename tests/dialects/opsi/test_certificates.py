"""fleetdeck's own CA through ``/rpc`` (``--tls auto``): ``getOpsiCACert``/``getCACerts`` answer
the CA that signed the server's certificate, ``host_getTLSCertificate`` issues a client a key and
a certificate signed by it (for itself, or for an admin), audited without the key; without a
CA the calls say why."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi.testclient import TestClient

from fleetdeck.app import Runtime, build_runtime, create_app
from fleetdeck.cli.tls import ensure_self_signed
from fleetdeck.core.authz import Actor
from fleetdeck.settings import Settings
from tests.conftest import CHEAP_ARGON2, SECRET
from tests.factories import audit_mark, audit_since

from .conftest import Rpc, enroll


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    s = Settings(
        data_dir=tmp_path / "data", database_url=db_url, secret_key=SECRET, tls="auto", **CHEAP_ARGON2
    )
    ensure_self_signed(s.data_dir)  # what `fleetdeck server --tls auto` does before it starts
    return s


def pem_certs(text: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(text.encode())


def test_the_ca_signed_the_servers_certificate(rpc: Rpc, settings: Settings) -> None:
    (ca,) = pem_certs(rpc.ok("getOpsiCACert"))
    assert [c.fingerprint(ca.signature_hash_algorithm) for c in pem_certs(rpc.ok("getCACerts"))] == [  # type: ignore[arg-type]
        ca.fingerprint(ca.signature_hash_algorithm)  # type: ignore[arg-type]
    ]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    server = x509.load_pem_x509_certificate((settings.data_dir / "tls" / "cert.pem").read_bytes())
    server.verify_directly_issued_by(ca)
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert oct((settings.data_dir / "tls" / "ca-key.pem").stat().st_mode & 0o777) == "0o600"


def test_a_client_gets_its_own_certificate_and_no_other(
    rpc: Rpc, client: TestClient, runtime: Runtime, admin: Actor
) -> None:
    cid, key = enroll(runtime, admin, "pc-1")
    enroll(runtime, admin, "pc-2")
    mark = audit_mark(runtime.services)
    me = Rpc(client, "pc-1.fleetdeck.local", key)
    answer = me.ok("host_getTLSCertificate", "pc-1.fleetdeck.local")
    private = serialization.load_pem_private_key(answer.encode(), password=None)
    (cert,) = pem_certs(answer[answer.index("-----BEGIN CERTIFICATE-----") :])
    assert answer.index("PRIVATE KEY") < answer.index("CERTIFICATE")  # key first, as opsiconfd
    (ca,) = pem_certs(rpc.ok("getOpsiCACert"))
    cert.verify_directly_issued_by(ca)
    assert cert.public_key() == private.public_key()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pc-1.fleetdeck.local"
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    err = me.error("host_getTLSCertificate", "pc-2.fleetdeck.local")
    assert err["class"] == "BackendPermissionDeniedError"
    # An administrator may get one for any client; the server's own is never handed out.
    other = rpc.ok("host_getTLSCertificate", "pc-2.fleetdeck.local")
    assert (
        "pc-2.fleetdeck.local"
        in pem_certs(other[other.index("-----BEGIN CERTIFICATE") :])[0].subject.rfc4514_string()
    )
    server_id = rpc.ok("host_getIdents", "str", {"type": "OpsiConfigserver"})[0]
    assert rpc.error("host_getTLSCertificate", server_id)["class"] == "BackendPermissionDeniedError"
    assert rpc.error("host_getTLSCertificate", "nope.fleetdeck.local")["class"] == "BackendMissingDataError"
    issued = [r for r in audit_since(runtime.services, mark) if r.action == "certificate.issue"]
    assert [(r.object_id, r.result) for r in issued] == [(str(cid), "ok"), (str(cid + 1), "ok")]
    assert all("PRIVATE" not in str(r.detail) and r.detail["serial"] for r in issued)


def test_a_viewer_gets_the_ca_but_no_client_certificate(
    viewer_rpc: Rpc, runtime: Runtime, admin: Actor
) -> None:
    enroll(runtime, admin, "pc-1")
    assert "BEGIN CERTIFICATE" in viewer_rpc.ok("getOpsiCACert")
    assert viewer_rpc.error("host_getTLSCertificate", "pc-1.fleetdeck.local")["class"] == (
        "BackendPermissionDeniedError"
    )


def test_without_a_ca_the_calls_say_why(tmp_path: Path, db_url: str, admin: Actor) -> None:
    for tls in ("off", "auto"):
        s = Settings(data_dir=tmp_path / tls, database_url=db_url, secret_key=SECRET, tls=tls, **CHEAP_ARGON2)
        if tls == "auto":  # a data directory whose certificate predates the CA keeps it: no CA
            (s.data_dir / "tls").mkdir(parents=True)
            (s.data_dir / "tls" / "cert.pem").write_text("old")
            (s.data_dir / "tls" / "key.pem").write_text("old")
            assert ensure_self_signed(s.data_dir) == (
                s.data_dir / "tls" / "cert.pem",
                s.data_dir / "tls" / "key.pem",
            )
            assert (s.data_dir / "tls" / "cert.pem").read_text() == "old"
        rt = build_runtime(s, migrate_db=False)
        try:
            with TestClient(create_app(s, runtime=rt)) as c:
                token = rt.services.users.create_token(admin, f"t-{tls}", "read+write", None).token
                err = Rpc(c, "admin", token).error("getOpsiCACert")
            assert err["class"] == "BackendMissingDataError" and "--tls auto" in err["message"], err
        finally:
            rt.db.dispose()
