"""The certificate for ``--tls auto``, created once in the data directory (``core/certs``)."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fleetdeck.core.certs.authority import ensure_server_certificate


def ensure_self_signed(data_dir: Path) -> tuple[Path, Path]:
    """The server certificate for ``--tls auto``: made once, signed by fleetdeck's own CA
    (``core/certs``), which is created with it. A certificate already there is kept."""
    host = socket.gethostname()
    return ensure_server_certificate(data_dir / "tls", host, ["localhost", "127.0.0.1", "::1"])


def fingerprint(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return "sha256:" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
