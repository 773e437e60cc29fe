"""fleetdeck's own small certificate authority (``--tls auto``), as opsiconfd runs one: it signs
the server's certificate and issues certificates to clients (opsi's ``host_getTLSCertificate``),
and clients may fetch and pin its certificate (``getOpsiCACert``).

Files in the TLS directory (``<data_dir>/tls``): ``ca-cert.pem`` and ``ca-key.pem`` (0600), and the
server's ``cert.pem``/``key.pem``. A data directory whose server certificate was made before the
CA existed keeps that self-signed certificate (agents pin it): then there is no CA, and the
calls that need one say so.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT, CA_KEY = "ca-cert.pem", "ca-key.pem"
SERVER_CERT, SERVER_KEY = "cert.pem", "key.pem"
CA_DAYS, SERVER_DAYS, CLIENT_DAYS = 3650, 825, 365


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, both PEM."""

    cert_pem: str
    key_pem: str
    serial: int
    not_after: datetime.datetime


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _names(names: Sequence[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def create_ca(tls_dir: Path, common_name: str) -> None:
    """A new CA key and self-signed CA certificate (overwrites nothing: call when absent)."""
    tls_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"fleetdeck CA {common_name}"[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fleetdeck"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(tls_dir / CA_KEY, _key_pem(key))
    (tls_dir / CA_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class CertificateAuthority:
    """The CA in ``tls_dir``; ``available`` is False when it has none."""

    def __init__(self, tls_dir: Path) -> None:
        self.tls_dir = tls_dir

    @property
    def available(self) -> bool:
        return (self.tls_dir / CA_CERT).is_file() and (self.tls_dir / CA_KEY).is_file()

    def ca_pem(self) -> str:
        return (self.tls_dir / CA_CERT).read_text()

    def _ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        cert = x509.load_pem_x509_certificate((self.tls_dir / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((self.tls_dir / CA_KEY).read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the CA key is not an EC key")
        return cert, key

    def issue(self, common_name: str, alt_names: Sequence[str], *, server: bool, days: int) -> Issued:
        """A new key and a certificate for it, signed by the CA."""
        ca_cert, ca_key = self._ca()
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        not_after = min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc)
        usage = (
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            if server
            else [ExtendedKeyUsageOID.CLIENT_AUTH]
        )
        serial = x509.random_serial_number()
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fleetdeck"),
                    ]
                )
            )
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        )
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(_names(alt_names)), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return Issued(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            key_pem=_key_pem(key).decode(),
            serial=serial,
            not_after=not_after,
        )


def ensure_server_certificate(tls_dir: Path, host: str, names: Sequence[str]) -> tuple[Path, Path]:
    """The server's certificate for ``--tls auto``: in a new TLS directory, a CA is created and
    signs it; an existing certificate is kept as it is (agents pinned it)."""
    cert_path, key_path = tls_dir / SERVER_CERT, tls_dir / SERVER_KEY
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    ca = CertificateAuthority(tls_dir)
    if not ca.available:
        create_ca(tls_dir, host)
    issued = ca.issue(host, [host, *names], server=True, days=SERVER_DAYS)
    _write_private(key_path, issued.key_pem.encode())
    cert_path.write_text(issued.cert_pem)
    return cert_path, key_path


def certificate_pins(cert_path: Path) -> tuple[str, str]:
    """The certificate's ``sha256:HEX`` fingerprint (what agents pin) and its public key's
    ``sha256//BASE64`` pin (what ``curl --pinnedpubkey`` checks, for the install line)."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    fingerprint = "sha256:" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return fingerprint, "sha256//" + base64.b64encode(hashlib.sha256(spki).digest()).decode()
