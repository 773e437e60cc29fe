"""Certificates from fleetdeck's own CA (``authority.py``): its certificate for anyone who asks
(it is public), and client certificates for a computer, issued to the computer itself or to an
administrator/operator, audited (``certificate.issue``, with serial and expiry, never the key)."""

from __future__ import annotations

import re
from pathlib import Path

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.certs.authority import CLIENT_DAYS, CertificateAuthority, Issued
from fleetdeck.core.errors import NotFound, PermissionDenied, Unavailable, ValidationFailed
from fleetdeck.storage.tables import Computer

NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$")
NO_CA = (
    "fleetdeck runs no certificate authority here: it has one when the server runs with --tls auto"
    " (a data directory whose certificate was made before the CA keeps that certificate, and no CA)"
)


class CertificateService:
    def __init__(self, audit: AuditLog, tls_dir: Path | None) -> None:
        self._audit = audit
        self._ca = CertificateAuthority(tls_dir) if tls_dir is not None else None

    def _authority(self) -> CertificateAuthority:
        if self._ca is None or not self._ca.available:
            raise Unavailable(NO_CA)
        return self._ca

    def ca_certificate(self, actor: Actor) -> str:
        """The CA's certificate (PEM). Public: any logged-in caller may read it."""
        return self._authority().ca_pem()

    def served_ca_pem(self) -> str:
        """The CA's certificate for agents enrolling over this server's TLS (they pin it); empty
        when fleetdeck runs no CA (a certificate of the admin's, or made before the CA)."""
        if self._ca is None or not self._ca.available:
            return ""
        return self._ca.ca_pem()

    def issue_for_computer(self, actor: Actor, computer_id: int, name: str) -> Issued:
        """A new client certificate (and key) for the computer, named ``name`` (its fully
        qualified name). The computer itself, or someone who manages computers."""
        own = actor.computer_id is not None and actor.computer_id == computer_id
        if actor.computer_id is not None and not own:
            raise PermissionDenied("a computer may get a certificate only for itself")
        with self._audit.mutation(
            actor, "certificate.issue", "computer", computer_id, perm=None if own else Perm.MANAGE_COMPUTERS
        ) as m:
            if not NAME_RE.match(name):
                raise ValidationFailed(f"invalid certificate name {name!r}", field="name")
            if m.session.get(Computer, computer_id) is None:
                raise NotFound("computer", computer_id)
            issued = self._authority().issue(name, [name], server=False, days=CLIENT_DAYS)
            m.detail = {
                "name": name,
                "serial": format(issued.serial, "x"),
                "not_after": issued.not_after.isoformat(),
            }
            return issued
