"""The certificate for ``--tls auto``, created once in the data directory (``core/certs``)."""

from __future__ import annotations

import socket
from pathlib import Path

from fleetdeck.core.certs.authority import certificate_pins, ensure_server_certificate


def ensure_self_signed(data_dir: Path) -> tuple[Path, Path]:
    """The server certificate for ``--tls auto``: made once, signed by fleetdeck's own CA
    (``core/certs``), which is created with it. A certificate already there is kept."""
    host = socket.gethostname()
    return ensure_server_certificate(data_dir / "tls", host, ["localhost", "127.0.0.1", "::1"])


def fingerprint(cert_path: Path) -> str:
    return certificate_pins(cert_path)[0]
