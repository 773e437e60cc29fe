"""opsi hosts: every fleetdeck computer is an ``OpsiClient``; the fleetdeck server itself is the
one ``OpsiConfigserver`` (which is also the only depot).

A client's id is the computer's qualified name (core's ``qualified_name``); a computer whose
qualified name is the config server's own (an agent on the server's machine) is the client
``<host>-<computer id>.<domain>`` instead, so the two never share an id. Creating an
OpsiClient through opsi pre-registers a fleetdeck computer that the agent of that name takes
over when it enrolls.

Stored as opsi stores them (core's host record): ``description``, ``notes``,
``inventoryNumber``, ``oneTimePassword`` (encrypted), ``hardwareAddress``, ``ipAddress``,
``created``, ``lastSeen`` and ``opsiHostKey`` (a random 32-hex key when none is given). For an
agent-managed (enrolled) computer the agent's facts win: its ``opsiHostKey`` is the agent key,
its ``hardwareAddress`` / ``ipAddress`` come from its inventory (the recorded ones show while
the inventory has none) and its ``lastSeen`` is when the agent was last connected; an update
that sets one of those to another value answers BackendBadValueError naming it and changes
nothing. ``systemUUID`` is not stored (accepted at creation, answered as null).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import socket
from collections.abc import Iterable, Mapping
from typing import Any

from fleetdeck.api.dialects.opsi.errors import (
    BackendBadValueError,
    BackendPermissionDeniedError,
    OpsiValueError,
)
from fleetdeck.api.dialects.opsi.objects.crud import refuse_unchangeable
from fleetdeck.api.dialects.opsi.objects.filters import (
    IN_LIST_ABOVE,
    sql_conditions,
    type_matches,
)
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.api.dialects.opsi.render import EMPTY_TIME, opsi_time, parse_time
from fleetdeck.api.dialects.opsi.settings import SERVER_KEY, configured_domain
from fleetdeck.core.authz import Perm
from fleetdeck.core.computers.entities import ComputerSummary
from fleetdeck.core.computers.naming import FALLBACK_DOMAIN, qualified_name
from fleetdeck.core.query import AnyOf, Cond, Expr, Op, Query

Row = dict[str, Any]

# opsi's host id rule was the regex ``^[a-z0-9][a-z0-9\-]{,63}\.((\w+\-+)|(\w+\.))*\w{1,63}\.\w{2,16}\.?$``.
# Its nested quantifier backtracks on user input, so ``is_host_id`` checks the same language label
# by label (after a length bound), with patterns that cannot backtrack: see ``is_host_id``.
HOST_ID_MAX = 255  # a DNS name has at most 253 characters (+ the root dot)
_FIRST_LABEL = re.compile(r"[a-z0-9][a-z0-9\-]{0,63}")
_LABEL = re.compile(r"\w+(?:-+\w+)*")  # each repetition must start at a "-": one way to match
_TOP_LABEL = re.compile(r"\w{2,16}")
# fixed length, no nested quantifier: at most 17 characters are ever looked at
MAC_RE = re.compile(
    r"^([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})$"
)
NARROW_LIMIT = 200  # up to this many host ids, read just those computers; beyond, read all
SQL_COLUMNS = {"notes": "notes"}  # opsi attribute -> core computer field, filtered in SQL

CLIENT_ATTRS = (
    "id",
    "opsiHostKey",
    "description",
    "notes",
    "hardwareAddress",
    "ipAddress",
    "inventoryNumber",
    "oneTimePassword",
    "created",
    "lastSeen",
    "systemUUID",
)
DEPOT_ATTRS = (
    "id",
    "opsiHostKey",
    "depotLocalUrl",
    "depotRemoteUrl",
    "depotWebdavUrl",
    "repositoryLocalUrl",
    "repositoryRemoteUrl",
    "description",
    "notes",
    "hardwareAddress",
    "ipAddress",
    "inventoryNumber",
    "networkAddress",
    "maxBandwidth",
    "isMasterDepot",
    "masterDepotId",
    "workbenchLocalUrl",
    "workbenchRemoteUrl",
    "systemUUID",
)
# what a client sees of hosts other than itself (opsiconfd's acl.conf)
HIDDEN_FROM_CLIENTS = (
    "opsiHostKey",
    "oneTimePassword",
    "description",
    "lastSeen",
    "notes",
    "hardwareAddress",
    "inventoryNumber",
)

# What an update of an existing client cannot change, and why.
UNCHANGEABLE = {
    "created": "fleetdeck sets it when the computer is created",
    "systemUUID": "fleetdeck does not store it",
}
# ... and what it cannot change of an agent-managed (enrolled) computer: the agent's facts win.
AGENT_OWNED = {
    "opsiHostKey": "it is the agent key, which the agent makes at enrollment",
    "hardwareAddress": "it comes from the agent's inventory",
    "ipAddress": "it comes from the agent's inventory",
    "lastSeen": "fleetdeck sets it when the agent connects",
}
# opsi attribute -> core host record field (``ComputerService.put``'s ``record``)
RECORD = {
    "description": "description",
    "inventoryNumber": "inventory_number",
    "oneTimePassword": "one_time_password",
    "hardwareAddress": "mac",
    "ipAddress": "ip",
    "opsiHostKey": "host_key",
}
_ALIAS = re.compile(r"^(.+)-([0-9]{1,18})$")  # the first label of a client aliased off the server id


def domain(ctx: Context) -> str:
    configured = configured_domain(ctx.services.settings)
    if configured:
        return configured
    found = socket.getfqdn().lower().partition(".")[2]
    return found if "." in found else FALLBACK_DOMAIN


def server_host_id(ctx: Context) -> str:
    return qualified_name(socket.gethostname(), socket.getfqdn(), domain(ctx))


def host_id(c: ComputerSummary, dom: str, server: str) -> str:
    """The client id of ``c``: its qualified name, unless that is the config server's id."""
    return client_id(c.id, c.hostname, c.fqdn, dom, server)


def client_id(computer_id: int, hostname: str, fqdn: str, dom: str, server: str) -> str:
    """``host_id`` from the computer's facts alone (a change announcement carries them)."""
    hid = qualified_name(hostname, fqdn, dom)
    if hid != server:
        return hid
    first, _, rest = hid.partition(".")
    return f"{first}-{computer_id}.{rest}"


def _alias_ids(names: Iterable[str]) -> tuple[int, ...]:
    """Computer ids named by client ids of the aliased form ``<host>-<id>.<domain>``."""
    found = (_ALIAS.match(n.split(".")[0]) for n in names)
    return tuple(int(m.group(2)) for m in found if m)


def is_host_id(text: str) -> bool:
    """opsi's host id rule in linear time. The first label is ``[a-z0-9][a-z0-9-]{0,63}``;
    the rest, split at dots, is at least two labels: the last ``\\w{2,16}``, the others word
    runs joined by runs of ``-`` (the one before the last with at most 63 characters after its
    last ``-``). That is exactly what the old regex accepted (a property test compares them),
    but each pattern here has one way to match, and nothing longer than a DNS name is read."""
    if len(text) > HOST_ID_MAX:
        return False
    first, dot, rest = text.removesuffix(".").partition(".")
    if not dot or not _FIRST_LABEL.fullmatch(first):
        return False
    labels = rest.split(".")
    if len(labels) < 2:
        return False
    *middle, second, top = labels
    return (
        _TOP_LABEL.fullmatch(top) is not None
        and _LABEL.fullmatch(second) is not None
        and len(second.rpartition("-")[2]) <= 63
        and all(_LABEL.fullmatch(label) for label in middle)
    )


def force_host_id(value: Any) -> str:
    text = str(value or "").strip().lower().rstrip(".")
    if not is_host_id(text):  # opsi's forceFqdn, word for word: clients match on it
        raise OpsiValueError(f"Bad fqdn: '{str('' if value is None else value).lower()}'")
    return text


def _own_address() -> str | None:
    """This machine's address by its name (when the transport's local address is no IP)."""
    try:
        return force_ip(socket.gethostbyname(socket.gethostname())) or None
    except OSError:
        return None


def force_host_key(value: Any) -> str:
    """opsi's forceOpsiHostKey: 32 hex characters, lower case."""
    text = str(value).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{32}", text):
        raise OpsiValueError(f"Bad opsi host key: '{value}'")
    return text


def _record(obj: Row) -> dict[str, Any]:
    """The host record fields an opsi object sets: core's names and values."""
    out: dict[str, Any] = {RECORD[k]: v for k, v in obj.items() if k in RECORD and v is not None}
    for key, field in (("created", "created_at"), ("lastSeen", "last_seen")):
        if obj.get(key) is not None:
            out[field] = parse_time(obj[key])
    return out


def force_mac(value: Any) -> str | None:
    if value in (None, ""):
        return None if value is None else ""
    first = value[0] if isinstance(value, list) and value else value
    m = MAC_RE.match(str(first).strip().lower())
    if not m:
        raise OpsiValueError(f"Bad hardware address: '{first}'")
    return ":".join(m.groups())


def force_ip(value: Any) -> str | None:
    if value in (None, ""):
        return value if value is None else ""
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return None  # opsi logs an invalid address and stores None


def _id_condition(wanted: Any) -> Expr | None:
    """A condition on host name and FQDN that keeps at least the computers whose host id
    (``qualified_name``: the FQDN when qualified, else ``<first label of hostname>.<domain>``)
    the opsi ``id`` filter can match; ``None`` when it cannot narrow (a pattern starting with
    ``*``, comparisons, non-text). The id itself is computed, so ``matches`` decides exactly."""
    items = wanted if isinstance(wanted, list | tuple) else [wanted]
    if wanted is None or not items or len(items) > NARROW_LIMIT:
        return None  # no restriction, or so many ids that reading every computer is cheaper
    plain = isinstance(wanted, list | tuple) and len(wanted) > IN_LIST_ABOVE
    conds: list[Expr] = []
    for item in items:
        if not isinstance(item, str) or (not plain and item[:1] in "<>"):
            return None
        text = item.lower()
        head = text if plain else text.split("*")[0]
        if not head:
            return None  # "*..." can be any host
        first = head.split(".")[0]
        if plain or "*" not in text:
            conds += [
                Cond("fqdn", Op.IIN, (text, text + ".")),
                Cond("hostname", Op.IEQ, first),
                Cond("hostname", Op.LIKE, first + ".*"),
            ]
            conds += [Cond("id", Op.IN, _alias_ids([text]))] if _alias_ids([text]) else []
        else:
            conds += [Cond("fqdn", Op.LIKE, head + "*"), Cond("hostname", Op.LIKE, first + "*")]
    return AnyOf(tuple(conds))


class HostAdapter:
    ident: tuple[str, ...] = ("id",)
    attributes: tuple[str, ...] = tuple(dict.fromkeys(CLIENT_ATTRS + DEPOT_ATTRS))
    family: Mapping[str, tuple[str, ...]] = {
        "OpsiClient": ("OpsiClient", "Host"),
        "OpsiDepotserver": ("OpsiDepotserver", "Host"),
        "OpsiConfigserver": ("OpsiConfigserver", "OpsiDepotserver", "Host"),
    }

    # ------------------------------------------------------------ reading

    def computers(
        self, ctx: Context, only: Iterable[str] | None = None
    ) -> tuple[str, dict[str, ComputerSummary]]:
        """Host id -> computer; with ``only``, just those host ids, read from the database by
        name (host name or FQDN) instead of building every host id: a client asking for its
        own objects must not pay for 10,000 others."""
        dom = domain(ctx)
        query = Query(limit=None)
        names: set[str] | None = None
        if only is not None:
            names = {n.lower() for n in only}
            if not names:
                return dom, {}
            if len(names) <= NARROW_LIMIT:
                conds = tuple(Cond("hostname", Op.LIKE, n.split(".")[0]) for n in names)
                conds += tuple(Cond("fqdn", Op.LIKE, n) for n in names)
                aliased = _alias_ids(names)
                if aliased:
                    conds += (Cond("id", Op.IN, aliased),)
                query = Query(where=(AnyOf(conds),), limit=None)
        page = ctx.services.computers.find(ctx.actor, query)
        server = server_host_id(ctx)
        found = {host_id(c, dom, server): c for c in page.items}
        if names is not None:
            found = {hid: c for hid, c in found.items() if hid in names}
        return dom, found

    def clients(self, ctx: Context, flt: Mapping[str, Any]) -> dict[str, ComputerSummary]:
        """Host id -> computer for the clients the filter can match, narrowed in SQL: the
        stored columns (``SQL_COLUMNS``) exactly, the computed id by host name / FQDN."""
        if not type_matches("OpsiClient", flt.get("type"), self.family):
            return {}
        where = sql_conditions(flt, SQL_COLUMNS)
        by_id = _id_condition(flt.get("id"))
        if by_id is not None:
            where += (by_id,)
        dom, server = domain(ctx), server_host_id(ctx)
        page = ctx.services.computers.find(ctx.actor, Query(where=where, limit=None))
        return {host_id(c, dom, server): c for c in page.items}

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        # only the hosts the filter can match: no key decryption nor row for the others
        by_id = self.clients(ctx, flt)
        # every computer: read addresses and keys of all, not through an IN of 10,000 ids
        ids = None if len(by_id) > NARROW_LIMIT else [c.id for c in by_id.values()]
        net = ctx.services.computers.network_identities(ctx.actor, ids)
        keys = (
            ctx.services.enrollment.agent_keys(ctx.actor, ids) if ctx.actor.can(Perm.MANAGE_COMPUTERS) else {}
        )
        records = ctx.services.computers.host_records(ctx.actor, ids)
        own_key = (ctx.extras or {}).get("host_key")
        rows = [self._server(ctx)] if type_matches("OpsiConfigserver", flt.get("type"), self.family) else []
        for hid, c in by_id.items():
            n = net.get(c.id)
            rec = records.get(c.id)
            row: Row = {
                "id": hid,
                "opsiHostKey": keys.get(c.id) or (rec.host_key if rec else None),
                "description": rec.description if rec else "",
                "notes": c.notes,
                "hardwareAddress": n.macs[0] if n and n.macs else ((rec.mac if rec else "") or None),
                "ipAddress": n.ipv4[0]
                if n and n.ipv4
                else ((rec.ip if rec else "") or c.remote_address or None),
                "inventoryNumber": rec.inventory_number if rec else "",
                "oneTimePassword": rec.one_time_password if rec else None,
                "created": opsi_time(c.created_at),
                "lastSeen": opsi_time(c.last_seen) or EMPTY_TIME,
                "systemUUID": None,
                "type": "OpsiClient",
            }
            if ctx.is_client and hid != ctx.host_id:
                row.update(dict.fromkeys(HIDDEN_FROM_CLIENTS))
            elif ctx.is_client:
                row["opsiHostKey"] = own_key
            rows.append(row)
        return rows

    def _server(self, ctx: Context) -> Row:
        """fleetdeck itself as opsi's config server and only depot: its URLs are the URL the
        caller reached it at, its address the one it answered on (its network that address's
        /24, or /64), its host key a setting made on an admin's first read."""
        hid = server_host_id(ctx)
        extras = ctx.extras or {}
        url = str(extras.get("server_url") or f"https://{hid}:4447")
        address = force_ip(extras.get("server_address")) or _own_address()
        network = None
        if address:
            prefix = 24 if ipaddress.ip_address(address).version == 4 else 64
            network = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
        row: Row = dict.fromkeys(DEPOT_ATTRS)
        row.update(
            {
                "id": hid,
                "opsiHostKey": self._server_key(ctx),
                "description": "fleetdeck server",
                "notes": "",
                "inventoryNumber": "",
                "ipAddress": address,
                "networkAddress": network,
                "depotLocalUrl": "file:///var/lib/opsi/depot",
                "depotRemoteUrl": f"{url}/depot",
                "depotWebdavUrl": f"{url}/depot",
                "repositoryLocalUrl": "file:///var/lib/opsi/repository",
                "repositoryRemoteUrl": f"{url}/repository",
                "workbenchLocalUrl": "file:///var/lib/opsi/workbench",
                "workbenchRemoteUrl": f"{url}/workbench",
                "isMasterDepot": True,
                "maxBandwidth": 0,
                "type": "OpsiConfigserver",
            }
        )
        if ctx.is_client:
            row.update(dict.fromkeys(HIDDEN_FROM_CLIENTS))
        return row

    def _server_key(self, ctx: Context) -> str | None:
        """The server's host key, for those who may change settings (opsi shows it to admins);
        made (audited, once) the first time such a caller reads it."""
        if not ctx.actor.can(Perm.MANAGE_SETTINGS):
            return None
        key = ctx.services.settings.get_secret(SERVER_KEY)
        if not key:
            key = secrets.token_hex(16)
            ctx.services.settings.set(ctx.actor, SERVER_KEY, key)
        return str(key)

    # ------------------------------------------------------------ writing

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        kind = obj.get("type") or "OpsiClient"
        if kind not in self.family and kind != "Host":
            raise OpsiValueError(f"Invalid host type '{kind}'")
        out: Row = {"type": kind, "id": force_host_id(obj.get("id"))}
        for key in ("description", "notes", "inventoryNumber", "oneTimePassword"):
            if obj.get(key) is not None:
                out[key] = str(obj[key])
        if obj.get("hardwareAddress") is not None:
            out["hardwareAddress"] = force_mac(obj["hardwareAddress"])
        if obj.get("ipAddress") is not None:
            out["ipAddress"] = force_ip(obj["ipAddress"])
        if obj.get("opsiHostKey") is not None:
            out["opsiHostKey"] = force_host_key(obj["opsiHostKey"])
        for key in ("created", "lastSeen"):
            if obj.get(key) is not None:
                out[key] = opsi_time(parse_time(obj[key])) or EMPTY_TIME
        for key in ("systemUUID", "ident"):
            if obj.get(key) is not None:  # only checked against the stored values on update
                out[key] = obj[key] if key == "ident" else str(obj[key])
        return out

    def refuse_changes(self, ctx: Context, rows: list[Row]) -> None:
        ids = [row["id"] for row in rows]
        current = {r["id"]: r for r in self.fetch(ctx, {"id": ids}) if r["id"] in ids}
        enrolled = {hid for hid, c in self.clients(ctx, {"id": ids}).items() if c.enrolled}
        for row in rows:
            have = current.get(row["id"])
            if have is not None and have["type"] != "OpsiClient":
                continue  # the server: update refuses it
            if have is not None:
                self._client_may_write(ctx, row["id"])
            if have is not None and row["type"] != have["type"]:
                raise BackendBadValueError(
                    f"Attribute 'type' of host '{row['id']}' cannot be changed from 'OpsiClient' to"
                    f" '{row['type']}': fleetdeck's only depot is the server itself (nothing was changed)"
                )
            # no such host: updateObjects creates it, updateObject leaves it alone
            why = {**UNCHANGEABLE, **AGENT_OWNED} if row["id"] in enrolled else UNCHANGEABLE
            refuse_unchangeable("host", row["id"], row, have, why)

    def _refuse_servers(self, ctx: Context, obj: Row) -> None:
        """Only clients are created or changed; the server's record is fleetdeck's own."""
        if obj["type"] != "OpsiClient" or obj["id"] == server_host_id(ctx):
            raise BackendPermissionDeniedError(
                "fleetdeck has exactly one config server and depot, itself; it cannot be created or changed"
            )

    def _client_may_write(self, ctx: Context, host: str) -> None:
        if ctx.is_client and host != ctx.host_id:
            raise BackendPermissionDeniedError(f"Access to host '{host}' denied for {ctx.host_id}")

    def insert(self, ctx: Context, obj: Row) -> None:
        """insertObject: create the client, or replace its notes (absent notes: empty). One
        core put decides create or update in its own transaction."""
        self._refuse_servers(ctx, obj)
        self._client_may_write(ctx, obj["id"])
        ctx.services.computers.put(
            ctx.actor,
            obj["id"],
            default_domain=domain(ctx),
            notes=obj.get("notes") or "",
            record=_record(obj),
        )

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        """updateObject(s): change the notes of an existing client when given (null: kept); a
        missing client is created by updateObjects (``create``) and left alone otherwise."""
        self._refuse_servers(ctx, obj)
        self._client_may_write(ctx, obj["id"])
        ctx.services.computers.put(
            ctx.actor,
            obj["id"],
            default_domain=domain(ctx),
            notes=obj.get("notes"),
            create=create,
            record=_record(obj),
        )

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        if ctx.is_client:
            raise BackendPermissionDeniedError("clients may not delete hosts")
        server = server_host_id(ctx)
        if any(str(ident["id"]).lower() == server for ident in idents):
            raise BackendPermissionDeniedError(
                f"Host '{server}' is fleetdeck's config server and depot: it cannot be deleted"
                " (nothing was deleted)"
            )
        _, by_id = self.computers(ctx)
        done = 0
        for ident in idents:
            c = by_id.get(str(ident["id"]).lower())
            if c is not None:
                ctx.services.computers.delete(ctx.actor, c.id)
                done += 1
        return done
