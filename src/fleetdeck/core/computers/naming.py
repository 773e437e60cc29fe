"""A computer's fully qualified name, as dialects that identify hosts by FQDN need it.

The agent reports ``fqdn`` as the machine resolves it, which is often just ``localhost``, the
bare host name or ``host.lan``. A name only counts as qualified when it has at least two dots
(host.domain.tld, what opsi requires of a host id) and is not a loopback name; otherwise it is
``<hostname>.<default domain>`` (the settings store's domain, ``fleetdeck.local`` when unset).
The result is lower case, so it is stable across spellings.
"""

from __future__ import annotations

FALLBACK_DOMAIN = "fleetdeck.local"
_LOOPBACK = {"localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6"}


def is_qualified(fqdn: str) -> bool:
    name = (fqdn or "").strip().lower().rstrip(".")
    return name.count(".") >= 2 and name not in _LOOPBACK


def qualified_name(hostname: str, fqdn: str, default_domain: str) -> str:
    fqdn = (fqdn or "").strip().lower().rstrip(".")
    if is_qualified(fqdn):
        return fqdn
    host = (hostname or "").strip().lower().split(".")[0]
    domain = (default_domain or "").strip().lower().strip(".") or FALLBACK_DOMAIN
    return f"{host}.{domain}"
