"""opsi hosts: every fleetdeck computer is an ``OpsiClient``; the fleetdeck server itself is the
one ``OpsiConfigserver`` (which is also the only depot).

A client's id is the computer's qualified name (core's ``qualified_name``), its ``opsiHostKey``
is the agent key (shown to admins and operators only, and to the client itself), its
addresses come from the live inventory. Creating an OpsiClient through opsi pre-registers a
fleetdeck computer that the agent of that name takes over when it enrolls.

Not stored (accepted at creation and answered as empty): ``description``, ``inventoryNumber``,
``oneTimePassword``, ``systemUUID``; a given ``opsiHostKey`` is ignored at creation (the agent
makes its own). An update of an existing client may change ``notes`` only: one that sets any
attribute in ``UNCHANGEABLE`` to another value than it has (or another ``type``) answers
BackendBadValueError naming it and changes nothing, rather than success for a dropped value.
"""

from __future__ import annotations

import ipaddress
import re
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
from fleetdeck.api.dialects.opsi.render import EMPTY_TIME, opsi_time
from fleetdeck.api.dialects.opsi.settings import configured_domain
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
_NOT_STORED = "fleetdeck does not store it"
UNCHANGEABLE = {
    "opsiHostKey": "it is the agent key, which the agent makes at enrollment",
    "hardwareAddress": "it comes from the agent's inventory",
    "ipAddress": "it comes from the agent's inventory",
    "created": "fleetdeck sets it",
    "lastSeen": "fleetdeck sets it when the agent connects",
    "description": _NOT_STORED,
    "inventoryNumber": _NOT_STORED,
    "oneTimePassword": _NOT_STORED,
    "systemUUID": _NOT_STORED,
}


def domain(ctx: Context) -> str:
    configured = configured_domain(ctx.services.settings)
    if configured:
        return configured
    found = socket.getfqdn().lower().partition(".")[2]
    return found if "." in found else FALLBACK_DOMAIN


def server_host_id(ctx: Context) -> str:
    return qualified_name(socket.gethostname(), socket.getfqdn(), domain(ctx))


def host_id(c: ComputerSummary, dom: str) -> str:
    return qualified_name(c.hostname, c.fqdn, dom)


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
    if not is_host_id(text):
        raise OpsiValueError(f"Bad host id: '{value}'")
    return text


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
                query = Query(where=(AnyOf(conds),), limit=None)
        page = ctx.services.computers.find(ctx.actor, query)
        found = {host_id(c, dom): c for c in page.items}
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
        dom = domain(ctx)
        page = ctx.services.computers.find(ctx.actor, Query(where=where, limit=None))
        return {host_id(c, dom): c for c in page.items}

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        # only the hosts the filter can match: no key decryption nor row for the others
        by_id = self.clients(ctx, flt)
        # every computer: read addresses and keys of all, not through an IN of 10,000 ids
        ids = None if len(by_id) > NARROW_LIMIT else [c.id for c in by_id.values()]
        net = ctx.services.computers.network_identities(ctx.actor, ids)
        keys = (
            ctx.services.enrollment.agent_keys(ctx.actor, ids) if ctx.actor.can(Perm.MANAGE_COMPUTERS) else {}
        )
        own_key = (ctx.extras or {}).get("host_key")
        rows = [self._server(ctx)]
        for hid, c in by_id.items():
            n = net.get(c.id)
            row: Row = {
                "id": hid,
                "opsiHostKey": keys.get(c.id),
                "description": "",
                "notes": c.notes,
                "hardwareAddress": n.macs[0] if n and n.macs else None,
                "ipAddress": n.ipv4[0] if n and n.ipv4 else (c.remote_address or None),
                "inventoryNumber": "",
                "oneTimePassword": "",
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
        hid = server_host_id(ctx)
        row: Row = dict.fromkeys(DEPOT_ATTRS)
        row.update(
            {
                "id": hid,
                "description": "fleetdeck server",
                "notes": "",
                "inventoryNumber": "",
                "depotWebdavUrl": None,
                "isMasterDepot": True,
                "maxBandwidth": 0,
                "type": "OpsiConfigserver",
            }
        )
        return row

    # ------------------------------------------------------------ writing

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        kind = obj.get("type") or "OpsiClient"
        if kind not in self.family and kind != "Host":
            raise OpsiValueError(f"Invalid host type '{kind}'")
        out: Row = {"type": kind, "id": force_host_id(obj.get("id"))}
        for key in ("description", "notes", "inventoryNumber", "oneTimePassword"):
            if obj.get(key) is not None:
                out[key] = str(obj[key])
        if "hardwareAddress" in obj:
            out["hardwareAddress"] = force_mac(obj["hardwareAddress"])
        if "ipAddress" in obj:
            out["ipAddress"] = force_ip(obj["ipAddress"])
        for key in ("opsiHostKey", "created", "lastSeen", "systemUUID", "ident"):
            if obj.get(key) is not None:  # only checked against the stored values on update
                out[key] = obj[key] if key == "ident" else str(obj[key])
        return out

    def refuse_changes(self, ctx: Context, rows: list[Row]) -> None:
        ids = [row["id"] for row in rows]
        current = {r["id"]: r for r in self.fetch(ctx, {"id": ids}) if r["id"] in ids}
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
            refuse_unchangeable("host", row["id"], row, have, UNCHANGEABLE)

    def _refuse_servers(self, ctx: Context, obj: Row) -> None:
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
            ctx.actor, obj["id"], default_domain=domain(ctx), notes=obj.get("notes") or ""
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
        )

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        if ctx.is_client:
            raise BackendPermissionDeniedError("clients may not delete hosts")
        _, by_id = self.computers(ctx)
        done = 0
        for ident in idents:
            c = by_id.get(str(ident["id"]).lower())
            if c is not None:
                ctx.services.computers.delete(ctx.actor, c.id)
                done += 1
        return done
