"""Tunnels: a port on the server carried, through the computer's agent connection, to an
address the agent can reach (a service on the computer, or one in its network).

Core keeps what a tunnel is (table ``tunnels``, an id per computer from ``tunnel_counters``),
decides whether it may be made (the remote-access permission, the computer within the caller's
reach, ACL syntax, duplicates, a free port from the pool, the remote port open as the agent sees
it) and audits it (``tunnel.create``, ``tunnel.delete``, ``tunnel.acl``). The sockets are the
transport's: ``ports.TunnelListeners`` starts and stops them in the server process that holds
the agent, which also closes tunnels that idled or aged out (``expire``) and re-creates a
computer's tunnels when its agent reconnects (``plans``).

A tunnel needs its agent: it is made only while the computer is connected, and it serves only
while it is (rportd's rule; the listener is closed when the agent goes and opened again when it
comes back).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hmac
import ipaddress
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm, system_actor
from fleetdeck.core.errors import (
    AgentFailed,
    AgentUnreachable,
    Conflict,
    FleetdeckError,
    NotFound,
    NotImplementedYet,
    PermissionDenied,
    Reason,
    ValidationFailed,
)
from fleetdeck.core.groups.rules import reach, reaches
from fleetdeck.core.ports import (
    AgentAddress,
    AgentGateway,
    Clock,
    NullGateway,
    NullTunnelListeners,
    TunnelListeners,
    TunnelPlan,
)
from fleetdeck.core.secrets import Passwords
from fleetdeck.core.settings.service import SettingsService
from fleetdeck.protocol.messages import TUNNEL_CHECK
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer, Tunnel, TunnelCounter
from fleetdeck.storage.uow import UnitOfWork

PROTOCOLS = ("tcp", "udp", "tcp+udp")  # tcp+udp: both on the same local port, as rportd
CHECK_TIMEOUT_SEC = 2.0
MAX_IDLE_MINUTES = 10080
MAX_AUTO_CLOSE_SEC = 744 * 3600
MAX_ACL_ITEMS = 100
MAX_POOL_TRIES = 5  # ports of the pool tried when the one picked cannot be bound
DEFAULT_IDLE_MINUTES = 5
PROXY_SCHEMES = ("http", "https")  # what the HTTPS reverse proxy speaks to the remote
PROXY_SCHEMES_NOT_BUILT = ("vnc", "rdp")  # rportd's noVNC and guacd proxies
MAX_AUTH_FIELD = 150
_HOST_HEADER = re.compile(r"[A-Za-z0-9.\-]{1,253}(:\d{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?")


@dataclass(frozen=True, slots=True)
class TunnelRequest:
    """A tunnel to make. ``local_port`` None: one from the pool; ``local_host`` "": the setting
    ``tunnels.listen_host``. ``idle_timeout_minutes`` 0: never closed for idleness."""

    remote_host: str
    remote_port: int
    local_host: str = ""
    local_port: int | None = None
    protocol: str = "tcp"
    scheme: str = ""
    acl: tuple[str, ...] = ()
    name: str = ""
    check_port: bool = True
    idle_timeout_minutes: int = DEFAULT_IDLE_MINUTES
    auto_close_sec: int = 0
    http_proxy: bool = False
    host_header: str = ""
    auth_user: str = ""
    auth_password: str = field(default="", repr=False)  # hashed at once; never stored or shown


@dataclass(frozen=True, slots=True)
class TunnelInfo:
    computer_id: int
    computer_uid: str
    key: str
    name: str
    protocol: str
    local_host: str
    local_port: int
    local_port_random: bool
    remote_host: str
    remote_port: int
    scheme: str
    acl: tuple[str, ...]
    idle_timeout_minutes: int
    auto_close_sec: int
    created_at: datetime
    owner: str
    http_proxy: bool = False
    host_header: str = ""
    auth_user: str = ""  # its password is kept only as a hash and never shown


def parse_acl(items: Iterable[str]) -> tuple[str, ...]:
    """Addresses and networks (IPv4, IPv6, CIDR), normalised; 0.0.0.0 (and ::) is refused, as
    "everyone" is said by no ACL at all."""
    out: list[str] = []
    for raw in items:
        text = raw.strip()
        if not text:
            continue
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValidationFailed(f"invalid ACL entry {text!r}", "acl", reason=Reason.INVALID) from None
        if net.network_address.is_unspecified:
            raise ValidationFailed(f"ACL entry {text!r} is not allowed", "acl", reason=Reason.INVALID)
        out.append(str(net) if net.num_addresses > 1 else str(net.network_address))
    if len(out) > MAX_ACL_ITEMS:
        raise ValidationFailed(f"at most {MAX_ACL_ITEMS} ACL entries", "acl", reason=Reason.TOO_MANY)
    return tuple(out)


def acl_allows(acl: Sequence[str], address: str) -> bool:
    """Whether a connection from ``address`` may use a tunnel with ``acl`` (empty: anyone).
    An IPv4 address mapped into IPv6 counts as the IPv4 address."""
    if not acl:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in _networks(tuple(acl)))


@functools.lru_cache(maxsize=256)
def _networks(acl: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """An ACL parsed once (a UDP tunnel checks it for every datagram)."""
    return tuple(ipaddress.ip_network(item, strict=False) for item in acl)


def _overlapping(protocol: str) -> tuple[str, ...]:
    if protocol == "tcp+udp":
        return PROTOCOLS
    return (protocol, "tcp+udp")


def parse_ranges(items: Iterable[str]) -> set[int]:
    ports: set[int] = set()
    for item in items:
        low, _, high = item.partition("-")
        a, b = int(low), int(high or low)
        ports.update(range(max(1, a), min(65535, b) + 1))
    return ports


def _info(row: Tunnel, uid: str) -> TunnelInfo:
    return TunnelInfo(
        computer_id=row.computer_id,
        computer_uid=uid,
        key=row.short_id,
        name=row.name,
        protocol=row.protocol,
        local_host=row.local_host,
        local_port=row.local_port,
        local_port_random=row.local_port_random,
        remote_host=row.remote_host,
        remote_port=row.remote_port,
        scheme=row.scheme,
        acl=tuple(a for a in row.acl.split(",") if a),
        idle_timeout_minutes=row.idle_timeout_minutes,
        auto_close_sec=row.auto_close_sec,
        created_at=row.created_at,
        owner=row.owner,
        http_proxy=row.http_proxy,
        host_header=row.host_header,
        auth_user=row.auth_user,
    )


def _plan(row: Tunnel) -> TunnelPlan:
    return TunnelPlan(
        computer_id=row.computer_id,
        key=row.short_id,
        local_host=row.local_host,
        local_port=row.local_port,
        remote_host=row.remote_host,
        remote_port=row.remote_port,
        acl=tuple(a for a in row.acl.split(",") if a),
        idle_timeout_sec=row.idle_timeout_minutes * 60,
        expires_at=row.expires_at.timestamp() if row.expires_at else None,
        protocol=row.protocol,
        http_proxy=row.http_proxy,
        scheme=row.scheme,
        host_header=row.host_header,
        auth_user=row.auth_user,
        auth_password_hash=row.auth_password_hash,
    )


_VERIFIER = Passwords()  # verifies with the cost written in each hash


def basic_auth_allows(plan: TunnelPlan, username: str, password: str) -> bool:
    """Whether a tunnel proxy's basic auth accepts these credentials (argon2: slow on purpose;
    callers run it in a worker thread and remember a success)."""
    if not plan.auth_user:
        return True
    name_ok = hmac.compare_digest(plan.auth_user.encode(), username.encode())
    return _VERIFIER.verify(plan.auth_password_hash, password) and name_ok


class TunnelService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        settings: SettingsService,
        gateway: AgentGateway | None = None,
        listeners: TunnelListeners | None = None,
        passwords: Passwords | None = None,
    ) -> None:
        self._passwords = passwords or Passwords()
        self._db = db
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._gateway: AgentGateway = gateway or NullGateway()
        self.listeners: TunnelListeners = listeners or NullTunnelListeners()

    # ------------------------------------------------------------ reads

    def find(self, actor: Actor, computer: int | str | None = None) -> list[TunnelInfo]:
        """The tunnels of the computers the caller reaches (of one computer, if given; NotFound
        for one out of reach): two statements at most."""
        actor.require(Perm.REMOTE_ACCESS)
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            stmt = select(Tunnel, Computer.uid).join(Computer, Computer.id == Tunnel.computer_id)
            if computer is not None:
                computer_id, _uid = self._reached(s, actor, computer)
                stmt = stmt.where(Tunnel.computer_id == computer_id)
            else:
                scope = reach(s, actor, Perm.REMOTE_ACCESS, Computer.id)
                if scope is not None:
                    stmt = stmt.where(scope)
            rows = s.execute(stmt.order_by(Tunnel.computer_id, Tunnel.id)).all()
            return [_info(row, uid) for row, uid in rows]

    def of_computers(self, actor: Actor, computer_ids: Iterable[int]) -> dict[int, list[TunnelInfo]]:
        """The open tunnels of these computers (the page of a client list the caller was given,
        so already within reach), by computer id: one statement, whatever the number. A caller
        without the remote-access permission sees none (an empty mapping, no error: a list of
        computers does not need it)."""
        ids = sorted(set(computer_ids))
        if not ids or not actor.can(Perm.REMOTE_ACCESS):
            return {}
        with UnitOfWork(self._db, readonly=True) as uow:
            stmt = (
                select(Tunnel, Computer.uid)
                .join(Computer, Computer.id == Tunnel.computer_id)
                .where(Tunnel.computer_id.in_(ids))
                .order_by(Tunnel.computer_id, Tunnel.id)
            )
            found: dict[int, list[TunnelInfo]] = {}
            for row, uid in uow.session.execute(stmt):
                found.setdefault(row.computer_id, []).append(_info(row, uid))
            return found

    def plans(self, computer_id: int) -> list[TunnelPlan]:
        """What the agent's server process serves for this computer (when its agent connects)."""
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.scalars(
                select(Tunnel).where(Tunnel.computer_id == computer_id).order_by(Tunnel.id)
            )
            return [_plan(row) for row in rows]

    def _reached(self, s: Session, actor: Actor, computer: int | str) -> tuple[int, str]:
        """The computer (by id, or by uid when a text) as (id, uid); NotFound when it does not
        exist or the caller's groups do not reach it."""
        by = Computer.uid == computer if isinstance(computer, str) else Computer.id == computer
        row = s.execute(select(Computer.id, Computer.uid).where(by)).first()
        if row is None or not reaches(s, actor, Perm.REMOTE_ACCESS, row[0]):
            raise NotFound("computer", computer)
        return row[0], row[1]

    def _address(self, computer_id: int) -> AgentAddress:
        with UnitOfWork(self._db, readonly=True) as uow:
            node = uow.session.scalar(
                select(Computer.node_id).where(Computer.id == computer_id, Computer.online.is_(True))
            )
        if not node:
            raise AgentUnreachable(f"computer {computer_id} is not connected", computer_id=computer_id)
        return AgentAddress(computer_id, node)

    # ------------------------------------------------------------ changes

    def create(self, actor: Actor, computer: int | str, request: TunnelRequest) -> TunnelInfo:
        """Make a tunnel and start serving it. The checks that need no write run first (the
        remote port check waits up to 2 s for the agent, outside any transaction); a refusal
        among them is audited as a failed ``tunnel.create`` too."""
        actor.require(Perm.REMOTE_ACCESS)
        computer_id: int | str = computer
        try:
            request = self._checked(request)
            with UnitOfWork(self._db, readonly=True) as uow:
                computer_id, _uid = self._reached(uow.session, actor, computer)
                self._duplicates(uow.session, computer_id, request)
            address = self._address(computer_id)
            if request.check_port:
                self._check_remote(address, request)
        except FleetdeckError as exc:
            self._audit.record(actor, "tunnel.create", "computer", computer_id, "failed", error=exc.message)
            raise
        with self._audit.mutation(
            actor, "tunnel.create", "computer", computer_id, perm=Perm.REMOTE_ACCESS
        ) as m:
            s = m.session
            computer_id, uid = self._reached(s, actor, computer_id)
            self._duplicates(s, computer_id, request)
            key = self._next_key(s, computer_id)
            now = self._clock()
            row = Tunnel(
                computer_id=computer_id,
                short_id=key,
                name=request.name,
                protocol=request.protocol,
                local_host=request.local_host or str(self._settings.value("tunnels.listen_host")),
                local_port=0,
                local_port_random=request.local_port is None,
                remote_host=request.remote_host,
                remote_port=request.remote_port,
                scheme=request.scheme,
                acl=",".join(request.acl),
                idle_timeout_minutes=request.idle_timeout_minutes,
                auto_close_sec=request.auto_close_sec,
                expires_at=now + timedelta(seconds=request.auto_close_sec)
                if request.auto_close_sec
                else None,
                created_at=now,
                owner=actor.username,
                http_proxy=request.http_proxy,
                host_header=request.host_header,
                auth_user=request.auth_user,
                auth_password_hash=self._passwords.hash(request.auth_password) if request.auth_user else "",
            )
            row.local_port = self._bind(s, address, row, request.local_port)
            try:
                s.add(row)
                s.flush()
            except IntegrityError:
                self._unlisten_quietly(address, key)
                raise Conflict(
                    f"local port {row.local_port} is in use", reason=Reason.LOCAL_PORT_IN_USE, field="local"
                ) from None
            m.object_id = f"{computer_id}/{key}"
            m.detail = {
                "remote": f"{row.remote_host}:{row.remote_port}",
                "local": f"{row.local_host}:{row.local_port}",
                "acl": row.acl,
                "protocol": row.protocol,
                "http_proxy": row.http_proxy,
                "host_header": row.host_header,
                "auth_user": row.auth_user,
            }
            return _info(row, uid)

    def _checked(self, r: TunnelRequest) -> TunnelRequest:
        if r.protocol not in PROTOCOLS:
            raise ValidationFailed(
                f"protocol {r.protocol!r} is not supported", "protocol", reason=Reason.INVALID
            )
        if not r.remote_host or len(r.remote_host) > 255:
            raise ValidationFailed("remote host is required", "remote", reason=Reason.REQUIRED_MISSING)
        for name, port in (("remote", r.remote_port), ("local", r.local_port)):
            if port is not None and not 0 < port < 65536:
                raise ValidationFailed(f"{name} port {port} is out of range", name, reason=Reason.INVALID)
        if r.local_host:
            try:
                ipaddress.ip_address(r.local_host)
            except ValueError:
                raise ValidationFailed(
                    f"invalid local address {r.local_host!r}", "local", reason=Reason.INVALID
                ) from None
        if len(r.scheme) > 15 or len(r.name) > 200:
            raise ValidationFailed("scheme or name too long", "scheme", reason=Reason.INVALID)
        if not 0 <= r.idle_timeout_minutes <= MAX_IDLE_MINUTES:
            raise ValidationFailed("idle timeout out of range", "idle-timeout-minutes", reason=Reason.INVALID)
        if not 0 <= r.auto_close_sec <= MAX_AUTO_CLOSE_SEC:
            raise ValidationFailed("auto-close out of range", "auto-close", reason=Reason.INVALID)
        scheme = r.scheme
        if r.http_proxy:
            scheme = self._checked_proxy(r)
        elif r.host_header or r.auth_user or r.auth_password:
            raise ValidationFailed(
                "host_header and basic auth need http_proxy", "http_proxy", reason=Reason.INVALID
            )
        return dataclasses.replace(r, scheme=scheme, acl=parse_acl(r.acl))

    @staticmethod
    def _checked_proxy(r: TunnelRequest) -> str:
        """The scheme the proxy speaks to the remote (http when none is given)."""
        scheme = (r.scheme or "http").lower()
        if scheme in PROXY_SCHEMES_NOT_BUILT:
            raise NotImplementedYet(f"the tunnel proxy for scheme {scheme} is not implemented")
        if scheme not in PROXY_SCHEMES:
            raise ValidationFailed(
                f"tunnel proxy not allowed with scheme {scheme}", "scheme", reason=Reason.INVALID
            )
        if r.protocol == "udp":  # tcp+udp: the proxy on the TCP half, as rportd's IsProtocol
            raise ValidationFailed(
                f"tunnel proxy not allowed with protocol {r.protocol}", "protocol", reason=Reason.INVALID
            )
        if r.host_header and (len(r.host_header) > 255 or not _HOST_HEADER.fullmatch(r.host_header)):
            raise ValidationFailed(
                f"invalid host_header {r.host_header!r}", "host_header", reason=Reason.INVALID
            )
        if bool(r.auth_user) != bool(r.auth_password):
            missing = "auth_password" if r.auth_user else "auth_user"
            raise ValidationFailed(
                f"{'auth_user' if r.auth_user else 'auth_password'} requires {missing}",
                missing,
                reason=Reason.REQUIRED_MISSING,
            )
        for name, value in (("auth_user", r.auth_user), ("auth_password", r.auth_password)):
            if len(value) > MAX_AUTH_FIELD or any(ord(ch) < 32 or ch == "\x7f" for ch in value):
                raise ValidationFailed(f"invalid {name}", name, reason=Reason.INVALID)
        if ":" in r.auth_user:
            raise ValidationFailed("auth_user may not contain ':'", "auth_user", reason=Reason.INVALID)
        return scheme

    def _duplicates(self, s: Session, computer_id: int, r: TunnelRequest) -> None:
        """rportd's rules; protocols overlap as rportd's ``IsProtocol``: tcp+udp is the same as
        tcp, and as udp."""
        same = s.execute(
            select(Tunnel.local_port, Tunnel.acl).where(
                Tunnel.computer_id == computer_id,
                Tunnel.remote_host == r.remote_host,
                Tunnel.remote_port == r.remote_port,
                Tunnel.protocol.in_(_overlapping(r.protocol)),
            )
        ).all()
        for local_port, acl in same:
            if acl != ",".join(r.acl):
                continue
            if r.local_port is None or r.local_port == local_port:
                raise Conflict("tunnel already exists", reason=Reason.TUNNEL_EXISTS)
            raise Conflict(
                f"tunnel to port {r.remote_port} already exists", reason=Reason.TUNNEL_TO_PORT_EXISTS
            )
        if (
            r.local_port is not None
            and s.scalar(select(Tunnel.id).where(Tunnel.local_port == r.local_port)) is not None
        ):
            raise Conflict(
                f"local port {r.local_port} is in use", reason=Reason.LOCAL_PORT_IN_USE, field="local"
            )

    def _check_remote(self, address: AgentAddress, r: TunnelRequest) -> None:
        """Can the agent connect to the remote? For tcp and tcp+udp a TCP connect (as rportd);
        for udp what UDP allows without sending the target anything: the name resolves and a
        UDP socket connects (a route exists), not whether anything listens."""
        body: dict[str, object] = {"host": r.remote_host, "port": r.remote_port, "timeout": CHECK_TIMEOUT_SEC}
        if r.protocol == "udp":
            body["protocol"] = "udp"
        try:
            answer = self._gateway.request(address, TUNNEL_CHECK, body, CHECK_TIMEOUT_SEC + 1.0)
        except AgentFailed as exc:
            if exc.detail.get("reason") != "unsupported":
                raise
            raise ValidationFailed(exc.message, "protocol", reason=Reason.INVALID) from None
        if not answer.get("open"):
            raise ValidationFailed(
                f"remote {r.remote_host}:{r.remote_port} is not open ({answer.get('error') or 'closed'})",
                "remote",
                reason=Reason.REMOTE_PORT_CLOSED,
            )

    def _next_key(self, s: Session, computer_id: int) -> str:
        counter = s.get(TunnelCounter, computer_id)
        if counter is None:
            counter = TunnelCounter(computer_id=computer_id, last_id=0)
            s.add(counter)
        counter.last_id += 1
        s.flush()
        return str(counter.last_id)

    def _bind(self, s: Session, address: AgentAddress, row: Tunnel, local_port: int | None) -> int:
        """Start the listener on the given port, or on a free one of the pool."""
        if local_port is not None:
            self.listeners.listen(address, self._plan_of(row, local_port))
            return local_port
        pool = parse_ranges(self._settings.value("tunnels.used_ports")) - parse_ranges(
            self._settings.value("tunnels.excluded_ports")
        )
        pool -= set(s.scalars(select(Tunnel.local_port)))
        candidates = random.sample(sorted(pool), min(MAX_POOL_TRIES, len(pool)))
        for port in candidates:
            try:
                self.listeners.listen(address, self._plan_of(row, port))
            except Conflict:
                continue
            return port
        raise Conflict("no free local port in the pool", reason=Reason.LOCAL_PORT_IN_USE, field="local")

    def _plan_of(self, row: Tunnel, local_port: int) -> TunnelPlan:
        return dataclasses.replace(_plan(row), local_port=local_port)

    def _unlisten_quietly(self, address: AgentAddress, key: str) -> None:
        with contextlib.suppress(FleetdeckError):
            self.listeners.unlisten(address, key, True)

    def delete(self, actor: Actor, computer: int | str, key: str, force: bool = False) -> None:
        """Stop and forget a tunnel. With connections open, Conflict (ACTIVE_CONNECTIONS) unless
        ``force``, which closes them. A computer whose agent is gone has no listener to stop."""
        with self._audit.mutation(
            actor, "tunnel.delete", "computer", f"{computer}/{key}", perm=Perm.REMOTE_ACCESS
        ) as m:
            s = m.session
            computer_id, _uid = self._reached(s, actor, computer)
            m.object_id = f"{computer_id}/{key}"
            row = s.scalar(select(Tunnel).where(Tunnel.computer_id == computer_id, Tunnel.short_id == key))
            if row is None:
                raise NotFound("tunnel", key)
            closed = 0
            with contextlib.suppress(AgentUnreachable):
                closed = self.listeners.unlisten(self._address(computer_id), key, force)
            s.delete(row)
            m.detail = {"force": force, "connections_closed": closed}

    def set_acl(self, actor: Actor, computer: int | str, key: str, acl: Iterable[str]) -> TunnelInfo:
        """Change who may connect; open connections stay, new ones are checked at once."""
        with self._audit.mutation(
            actor, "tunnel.acl", "computer", f"{computer}/{key}", perm=Perm.REMOTE_ACCESS
        ) as m:
            entries = parse_acl(acl)
            s = m.session
            computer_id, uid = self._reached(s, actor, computer)
            m.object_id = f"{computer_id}/{key}"
            row = s.scalar(select(Tunnel).where(Tunnel.computer_id == computer_id, Tunnel.short_id == key))
            if row is None:
                raise NotFound("tunnel", key)
            row.acl = ",".join(entries)
            m.detail = {"acl": row.acl}
            with contextlib.suppress(AgentUnreachable):
                self.listeners.set_acl(self._address(computer_id), key, entries)
            return _info(row, uid)

    def route(self, actor: Actor, computer_id: int, key: str) -> TunnelPlan:
        """A tunnel reached through the server's own HTTP port (``/tunnels/{computer}/{key}/``):
        the caller needs remote access to the computer (PermissionDenied otherwise, whether or
        not it exists: the route says nothing of computers out of reach); NotFound for a tunnel
        the computer does not have. Audited (``tunnel.route``), refusals too."""
        object_id = f"{computer_id}/{key}"
        try:
            actor.require(Perm.REMOTE_ACCESS)
            with UnitOfWork(self._db, readonly=True) as uow:
                s = uow.session
                try:
                    self._reached(s, actor, computer_id)
                except NotFound:
                    raise PermissionDenied(f"no remote access to computer {computer_id}") from None
                row = s.scalar(
                    select(Tunnel).where(Tunnel.computer_id == computer_id, Tunnel.short_id == key)
                )
                if row is None:
                    raise NotFound("tunnel", key)
                plan = _plan(row)
        except FleetdeckError as exc:
            self._audit.record(actor, "tunnel.route", "computer", object_id, "failed", error=exc.message)
            raise
        self._audit.record(
            actor, "tunnel.route", "computer", object_id, remote=f"{plan.remote_host}:{plan.remote_port}"
        )
        return plan

    def expire(self, computer_id: int, key: str, why: str) -> bool:
        """The serving process closed a tunnel that idled or reached its auto-close time: the
        tunnel is forgotten (audited as the system's ``tunnel.delete``). False if it was gone."""
        with self._audit.mutation(system_actor(), "tunnel.delete", "computer", f"{computer_id}/{key}") as m:
            done = m.session.execute(
                delete(Tunnel).where(Tunnel.computer_id == computer_id, Tunnel.short_id == key)
            )
            m.detail = {"why": why}
            return bool(getattr(done, "rowcount", 0))
