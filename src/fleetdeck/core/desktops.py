"""Desktop views in the browser: who may open one, how many, their audit records, and one-time
links to the desktop page (RemotePC's "Web Viewer Connection URL").

A desktop view is noVNC in the browser talking RFB to a VNC server the computer runs (by default
``127.0.0.1:5900`` as the agent sees it), carried by a stream through the agent's connection
(``core.ports.StreamOpener``) and a WebSocket of the web UI. Core decides before any byte moves:
the caller needs ``Perm.REMOTE_ACCESS`` and must reach the computer; views are capped per user
and per computer; the start and the end are audited (``desktop.open``, ``desktop.close`` with
byte counts, never the bytes). The VNC server's own password, if it has one, is typed into
noVNC and travels inside RFB: fleetdeck never sees it in the clear nor keeps it.

A one-time link (``issue_link``) names a computer and a user; whoever opens it within
``LINK_TTL_SEC`` gets that one view as that user, once (``redeem``), after the same checks as a
view opened from the UI. Links and the caps live in this process (the view itself runs where the
agent's connection is).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import Conflict, NotFound, ValidationFailed
from fleetdeck.core.groups.rules import reaches
from fleetdeck.core.opensessions import OpenSessions, user_key
from fleetdeck.core.people.settings import PUBLIC_URL
from fleetdeck.core.settings.service import SettingsService
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer
from fleetdeck.storage.uow import UnitOfWork

VNC_HOST = "127.0.0.1"  # the VNC server is the computer's own, as its agent sees it
DEFAULT_PORT = 5900
MAX_PER_USER = 4
MAX_PER_COMPUTER = 4
IDLE_TIMEOUT_SEC = 900  # a view without a byte either way for this long is closed
LINK_TTL_SEC = 300
MAX_LINKS = 1000  # one-time links outstanding in this process


@dataclass(frozen=True, slots=True)
class DesktopGrant:
    """A view core allowed: the bridge opens a stream to ``port`` on the computer."""

    session_id: str
    computer_id: int
    hostname: str
    port: int
    user_key: str


@dataclass(frozen=True, slots=True)
class DesktopLink:
    url: str  # the desktop page with the one-time token
    computer_id: int
    port: int
    expires_in: int


@dataclass(frozen=True, slots=True)
class _Link:
    computer_id: int
    port: int
    actor: Actor
    expires: float


def check_port(port: int) -> int:
    if not 0 < port < 65536:
        raise ValidationFailed(f"port {port} is out of range (1-65535)", "port")
    return port


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class DesktopService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        max_per_user: int = MAX_PER_USER,
        max_per_computer: int = MAX_PER_COMPUTER,
        idle_timeout_sec: float = IDLE_TIMEOUT_SEC,
        settings: SettingsService | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._audit = audit
        self._sessions: OpenSessions[DesktopGrant] = OpenSessions(
            "desktop views", max_per_user, max_per_computer
        )
        self.idle_timeout_sec = idle_timeout_sec
        self._lock = threading.Lock()  # of the links
        self._links: dict[str, _Link] = {}  # by SHA-256 of the token: the token itself is not kept

    @staticmethod
    def _reached(s: Session, actor: Actor, computer: int | str) -> tuple[int, str]:
        """The computer (by id, or by uid when a text) as (id, host name); NotFound when it does
        not exist or is out of the caller's reach."""
        by = Computer.uid == computer if isinstance(computer, str) else Computer.id == computer
        row = s.execute(select(Computer.id, Computer.hostname).where(by)).first()
        if row is None or not reaches(s, actor, Perm.REMOTE_ACCESS, row[0]):
            raise NotFound("computer", computer)
        return row[0], row[1]

    def check(self, actor: Actor, computer_id: int) -> str:
        """The computer's host name if ``actor`` may view its desktop (for the button and the
        page); PermissionDenied or NotFound otherwise. Nothing is recorded."""
        actor.require(Perm.REMOTE_ACCESS)
        with UnitOfWork(self._db, readonly=True) as uow:
            return self._reached(uow.session, actor, computer_id)[1]

    def open(self, actor: Actor, computer_id: int, port: int = DEFAULT_PORT) -> DesktopGrant:
        """Allow a view (audited ``desktop.open``); the caller must ``close`` it."""
        check_port(port)
        with self._audit.mutation(
            actor, "desktop.open", "computer", computer_id, perm=Perm.REMOTE_ACCESS
        ) as m:
            _id, hostname = self._reached(m.session, actor, computer_id)
            grant = DesktopGrant(secrets.token_hex(8), computer_id, hostname, port, user_key(actor))
            self._sessions.admit(grant, hostname)
            m.detail = {"session": grant.session_id, "hostname": hostname, "port": port}
        return grant

    def close(
        self, actor: Actor, grant: DesktopGrant, *, reason: str, seconds: float, bytes_in: int, bytes_out: int
    ) -> None:
        """The view ended (audited ``desktop.close``; byte counts, never the bytes)."""
        if not self._sessions.release(grant.session_id):
            return
        self._audit.record(
            actor,
            "desktop.close",
            "computer",
            grant.computer_id,
            session=grant.session_id,
            reason=reason[:200],
            seconds=round(seconds, 1),
            bytes_in=bytes_in,
            bytes_out=bytes_out,
        )

    def count(self) -> int:
        return self._sessions.count()

    # ------------------------------------------------------------ one-time links

    def issue_link(
        self, actor: Actor, computer_uid: str, link_base: str, port: int = DEFAULT_PORT
    ) -> DesktopLink:
        """A one-time link to the desktop page of the computer ``computer_uid`` for ``actor``,
        valid ``LINK_TTL_SEC`` (audited ``desktop.link``); whoever opens it gets one view as
        ``actor``. The URL starts with the setting ``server.public_url``, else ``link_base``."""
        check_port(port)
        with self._audit.mutation(
            actor, "desktop.link", "computer", computer_uid, perm=Perm.REMOTE_ACCESS
        ) as m:
            computer_id, _hostname = self._reached(m.session, actor, computer_uid)
            m.object_id = str(computer_id)
            token = secrets.token_urlsafe(32)
            now = time.monotonic()
            with self._lock:
                for key in [k for k, v in self._links.items() if v.expires <= now]:
                    del self._links[key]
                if len(self._links) >= MAX_LINKS:
                    raise Conflict(f"{MAX_LINKS} desktop links are outstanding already; try again later")
                self._links[_digest(token)] = _Link(computer_id, port, actor, now + LINK_TTL_SEC)
            m.detail = {"port": port, "expires_in": LINK_TTL_SEC}  # never the token
        base = (str(self._settings.value(PUBLIC_URL)) if self._settings else "") or link_base
        url = f"{base.rstrip('/')}/computers/{computer_id}/desktop?link={token}"
        return DesktopLink(url, computer_id, port, LINK_TTL_SEC)

    def peek_link(self, token: str, computer_id: int) -> tuple[Actor, int] | None:
        """The link's viewer and port if the token is outstanding for this computer (the page
        shows; nothing is used up)."""
        with self._lock:
            link = self._links.get(_digest(token))
        if link is None or link.computer_id != computer_id or link.expires <= time.monotonic():
            return None
        return link.actor, link.port

    def redeem(self, token: str, computer_id: int) -> tuple[Actor, int] | None:
        """Use the link up (its viewer and port), or None: unknown, expired, used, another computer."""
        with self._lock:
            link = self._links.get(_digest(token))
            if link is None or link.computer_id != computer_id:
                return None
            del self._links[_digest(token)]
        if link.expires <= time.monotonic():
            return None
        return link.actor, link.port
