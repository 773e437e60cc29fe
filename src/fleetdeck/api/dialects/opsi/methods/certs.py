"""opsi's ``getOpsiCACert``, ``getCACerts`` and ``host_getTLSCertificate`` over fleetdeck's own
CA (``core/certs``; it exists when the server runs with ``--tls auto``)."""

from __future__ import annotations

from fleetdeck.api.dialects.opsi.errors import BackendMissingDataError, BackendPermissionDeniedError
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter, force_host_id, server_host_id
from fleetdeck.api.dialects.opsi.registry import METHODS, Context
from fleetdeck.core.errors import Unavailable

_hosts = HostAdapter()


def _ca(ctx: Context) -> str:
    try:
        return ctx.services.certificates.ca_certificate(ctx.actor)
    except Unavailable as exc:
        raise BackendMissingDataError(str(exc)) from None


@METHODS.method("getOpsiCACert")
def get_opsi_ca_cert(ctx: Context) -> str:
    """The CA's certificate (PEM), for clients to trust or pin."""
    return _ca(ctx)


@METHODS.method("getCACerts")
def get_ca_certs(ctx: Context) -> str:
    """Every CA certificate the server trusts, PEM, concatenated: here the one CA."""
    return _ca(ctx)


@METHODS.method("host_getTLSCertificate")
def host_get_tls_certificate(ctx: Context, *, hostId: str) -> str:
    """A new private key and certificate (PEM, key first, as opsiconfd answers) for the client
    ``hostId``, signed by the CA: for the client itself, or an administrator/operator."""
    host = force_host_id(hostId)
    if ctx.is_client and host != ctx.host_id:
        raise BackendPermissionDeniedError(f"Access to host '{host}' denied for {ctx.host_id}")
    if host == server_host_id(ctx):
        raise BackendPermissionDeniedError("the server's own certificate is not handed out")
    if ctx.is_client and ctx.actor.computer_id is not None:
        computer_id = ctx.actor.computer_id
    else:
        found = _hosts.computers(ctx, [host])[1].get(host)
        if found is None:
            raise BackendMissingDataError(f"Host '{host}' not found")
        computer_id = found.id
    try:
        issued = ctx.services.certificates.issue_for_computer(ctx.actor, computer_id, host)
    except Unavailable as exc:
        raise BackendMissingDataError(str(exc)) from None
    return issued.key_pem + issued.cert_pem
