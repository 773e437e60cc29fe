"""Agent self-update: releases admins publish, their staged rollout, and each computer's update.

- A release is an agent wheel (``fleetdeck_agent-VERSION-py3-none-any.whl``, as ``make
  agent-wheel`` or :func:`fleetdeck.core.agentdist.build_agent_wheel` builds it): checked to be
  one, stored under ``releases_dir``, its SHA-256 computed and ``release_statement(version,
  sha256)`` signed with the server's Ed25519 release key.
- The release key is made on first use and kept in ``agent_release_key_secrets``, the private
  key encrypted under the server key (``SecretBox``), so a copy of the database alone signs
  nothing. Agents pin the public key at enrollment (``Enrolled.update_key``; agents enrolled
  before the key existed pin it at their next Welcome) and install only releases it verifies.
- Rollout: a release is published with rollout ``none``; ``rollout`` targets a computer group
  first (``group``) and then everyone (``all``), or withdraws it (``none``). A computer runs the
  most recently rolled-out release that targets it (an older release rolled out again wins).
- The agent reports each step (``UpdateReport``): kept per computer (version, state, error,
  running version) in ``agent_update_status``.

Publishing and rollout need ``Perm.MANAGE_SETTINGS`` (admins: the agent runs as root on every
computer); listing needs ``Perm.READ``. All of it is audited.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.ports import AgentAddress, AgentGateway, Clock, NullGateway
from fleetdeck.core.secrets import SecretBox
from fleetdeck.protocol.messages import UPDATE, UpdateOffer, release_statement
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import (
    AgentRelease,
    AgentReleaseKeySecret,
    AgentUpdateStatus,
    Computer,
    Group,
    GroupMember,
)
from fleetdeck.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_RELEASE_BYTES = 32 * 1024**2  # an agent wheel is ~200 KiB
ROLLOUTS = ("none", "group", "all")
NOTIFY_TIMEOUT_SEC = 5.0
STATES = ("downloading", "installing", "probing", "restarting", "done", "failed", "rolled_back")
_WHEEL = re.compile(r"^fleetdeck_agent-([0-9A-Za-z][0-9A-Za-z.+_]{0,49})-py3-none-any\.whl$")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,49}$")


@dataclass(frozen=True, slots=True)
class Release:
    id: int
    version: str
    filename: str
    sha256: str
    size: int
    signature: str
    rollout: str
    group_id: int | None
    created_at: datetime
    created_by: str
    rolled_out_at: datetime | None


@dataclass(frozen=True, slots=True)
class UpdateStatus:
    computer_id: int
    hostname: str
    agent_version: str  # what the computer's agent said in its last hello
    version: str  # the release of the last update
    state: str
    error: str
    updated_at: datetime


def _release(r: AgentRelease) -> Release:
    return Release(
        r.id,
        r.version,
        r.filename,
        r.sha256,
        r.size,
        r.signature,
        r.rollout,
        r.group_id,
        r.created_at,
        r.created_by,
        r.rolled_out_at,
    )


def wheel_version(filename: str, data: bytes) -> str:
    """The version of an agent wheel, after checking it is one; ValidationFailed otherwise."""
    match = _WHEEL.match(filename)
    if match is None:
        raise ValidationFailed(
            "an agent release is a fleetdeck_agent-VERSION-py3-none-any.whl wheel", field="filename"
        )
    version = match.group(1)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            meta_name = f"fleetdeck_agent-{version}.dist-info/METADATA"
            if meta_name not in names or "fleetdeck/agent/main.py" not in names:
                raise ValidationFailed("the wheel holds no fleetdeck agent", field="file")
            meta = zf.read(meta_name).decode("utf-8", "replace").splitlines()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        if isinstance(exc, ValidationFailed):
            raise
        raise ValidationFailed(f"not a wheel (ZIP): {exc}", field="file") from None
    if f"Version: {version}" not in meta:
        raise ValidationFailed("the wheel's METADATA names another version", field="file")
    return version


class AgentUpdateService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        box: SecretBox,
        releases_dir: Path | None,
        gateway: AgentGateway | None = None,
    ) -> None:
        self._gateway = gateway or NullGateway()
        self._db = db
        self._audit = audit
        self._clock = clock
        self._box = box
        self._dir = releases_dir
        self._public: str | None = None

    # ------------------------------------------------------------ the release key

    def public_key(self) -> str:
        """The release key agents pin (base64 of the raw 32 bytes); made on first use."""
        if self._public is None:
            self._public = self._key()[0]
        return self._public

    def _key(self) -> tuple[str, Ed25519PrivateKey]:
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.get(AgentReleaseKeySecret, 1)
            found = (row.public_key, row.private_key_enc) if row is not None else None
        if found is None:
            private = Ed25519PrivateKey.generate()
            raw = private.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            public = private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            found = (base64.b64encode(public).decode(), self._box.encrypt(base64.b64encode(raw).decode()))
            try:
                with UnitOfWork(self._db) as uow:
                    uow.session.add(
                        AgentReleaseKeySecret(
                            id=1, public_key=found[0], private_key_enc=found[1], created_at=self._clock()
                        )
                    )
            except IntegrityError:  # another process made it first: use that one
                return self._key()
        raw = base64.b64decode(self._box.decrypt(found[1]))
        return found[0], Ed25519PrivateKey.from_private_bytes(raw)

    def public_key_for(self, actor: Actor) -> str:
        actor.require(Perm.READ)
        return self.public_key()

    # ------------------------------------------------------------ releases

    def publish_built(self, actor: Actor, version: str | None = None) -> Release:
        """Build the agent wheel of this server's sources (``agentdist``) and publish it."""
        import tempfile

        from fleetdeck.core.agentdist import build_agent_wheel

        self._audit.require(actor, Perm.MANAGE_SETTINGS, "agent_release.publish", "agent_release", "")
        with tempfile.TemporaryDirectory(prefix="fleetdeck-agent-") as tmp:
            wheel = build_agent_wheel(Path(tmp), version) if version else build_agent_wheel(Path(tmp))
            return self.publish(actor, wheel.name, wheel.read_bytes())

    def publish(self, actor: Actor, filename: str, data: bytes) -> Release:
        """Store, hash and sign an agent wheel; its rollout is ``none`` until ``rollout``."""
        self._audit.require(actor, Perm.MANAGE_SETTINGS, "agent_release.publish", "agent_release", filename)
        if self._dir is None:
            raise ValidationFailed("this server has no directory for agent releases")
        if len(data) > MAX_RELEASE_BYTES:
            raise ValidationFailed(f"an agent release is at most {MAX_RELEASE_BYTES} bytes", field="file")
        version = wheel_version(filename, data)
        sha256 = hashlib.sha256(data).hexdigest()
        _public, private = self._key()
        signature = base64.b64encode(private.sign(release_statement(version, sha256))).decode()
        with self._audit.mutation(
            actor, "agent_release.publish", "agent_release", version, perm=Perm.MANAGE_SETTINGS
        ) as m:
            s = m.session
            if s.scalar(select(AgentRelease.id).where(AgentRelease.version == version)) is not None:
                raise Conflict(f"agent release {version} exists already")
            self._dir.mkdir(parents=True, exist_ok=True)
            path = self._dir / filename
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
            row = AgentRelease(
                version=version,
                filename=filename,
                sha256=sha256,
                size=len(data),
                signature=signature,
                rollout="none",
                group_id=None,
                created_at=self._clock(),
                created_by=actor.username,
                rolled_out_at=None,
            )
            s.add(row)
            s.flush()
            m.detail = {"version": version, "sha256": sha256, "size": len(data)}
            return _release(row)

    def rollout(self, actor: Actor, version: str, rollout: str, group_id: int | None = None) -> Release:
        """Target a group (``group``), every computer (``all``) or none (``none``)."""
        self._audit.require(actor, Perm.MANAGE_SETTINGS, "agent_release.rollout", "agent_release", version)
        if rollout not in ROLLOUTS:
            raise ValidationFailed(f"rollout is one of {', '.join(ROLLOUTS)}", field="rollout")
        if (rollout == "group") != (group_id is not None):
            raise ValidationFailed("a group rollout names a group_id, and only it does", field="group_id")
        with self._audit.mutation(
            actor, "agent_release.rollout", "agent_release", version, perm=Perm.MANAGE_SETTINGS
        ) as m:
            s = m.session
            row = s.scalar(select(AgentRelease).where(AgentRelease.version == version))
            if row is None:
                raise NotFound("agent release", version)
            if group_id is not None:
                group = s.get(Group, group_id)
                if group is None or group.kind != "computer":
                    raise NotFound("group", group_id)
            row.rollout, row.group_id = rollout, group_id
            row.rolled_out_at = self._clock() if rollout != "none" else None
            m.detail = {"rollout": rollout, "group_id": group_id}
            release = _release(row)
        if rollout != "none":
            self._tell_connected(release)
        return release

    def _tell_connected(self, release: Release) -> None:
        """Agents connected now learn of the release at once (an ``update`` request, all at once,
        NOTIFY_TIMEOUT_SEC at most); the others at their next Welcome."""
        with UnitOfWork(self._db, readonly=True) as uow:
            stmt = select(Computer.id, Computer.node_id).where(
                Computer.online.is_(True), Computer.node_id.is_not(None)
            )
            if release.rollout == "group":
                members = select(GroupMember.computer_id).where(GroupMember.group_id == release.group_id)
                stmt = stmt.where(Computer.id.in_(members))
            addresses = [AgentAddress(cid, node) for cid, node in uow.session.execute(stmt) if node]
        if not addresses:
            return
        offer = {"version": release.version, "sha256": release.sha256, "size": release.size}
        answers = self._gateway.request_many(
            addresses, UPDATE, {**offer, "signature": release.signature}, NOTIFY_TIMEOUT_SEC
        )
        told = sum(1 for a in answers.values() if isinstance(a, dict))
        log.info("agent release %s: told %d of %d connected agents", release.version, told, len(addresses))

    def releases(self, actor: Actor) -> list[Release]:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.scalars(select(AgentRelease).order_by(AgentRelease.id))
            return [_release(r) for r in rows]

    def statuses(self, actor: Actor) -> list[UpdateStatus]:
        """Every computer's last update, with the version its agent runs (one query)."""
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.execute(
                select(
                    AgentUpdateStatus.computer_id,
                    Computer.hostname,
                    Computer.agent_version,
                    AgentUpdateStatus.version,
                    AgentUpdateStatus.state,
                    AgentUpdateStatus.error,
                    AgentUpdateStatus.updated_at,
                )
                .join(Computer, Computer.id == AgentUpdateStatus.computer_id)
                .order_by(AgentUpdateStatus.computer_id)
            )
            return [UpdateStatus(*row) for row in rows]

    # ------------------------------------------------------------ agents

    def offer_for(self, computer_id: int) -> UpdateOffer | None:
        """The release this computer should run (one query), or None."""
        with UnitOfWork(self._db, readonly=True) as uow:
            row = self._target(uow.session, computer_id)
            if row is None:
                return None
            return UpdateOffer(version=row.version, sha256=row.sha256, size=row.size, signature=row.signature)

    @staticmethod
    def _target(s: Session, computer_id: int) -> AgentRelease | None:
        groups = select(GroupMember.group_id).where(GroupMember.computer_id == computer_id)
        return s.scalar(
            select(AgentRelease)
            .where(
                or_(
                    AgentRelease.rollout == "all",
                    (AgentRelease.rollout == "group") & AgentRelease.group_id.in_(groups),
                )
            )
            .order_by(AgentRelease.rolled_out_at.desc(), AgentRelease.id.desc())
            .limit(1)
        )

    def file_for_agent(self, computer_id: int, version: str) -> tuple[Path, str]:
        """The release file a computer may download: only the release that targets it."""
        if self._dir is None:
            raise NotFound("agent release", version)
        with UnitOfWork(self._db, readonly=True) as uow:
            row = self._target(uow.session, computer_id)
            if row is None or row.version != version:
                raise PermissionDenied(f"agent release {version} is not rolled out to this computer")
            return self._dir / row.filename, row.sha256

    def record_status(
        self, actor: Actor, computer_id: int, version: str, state: str, error: str, running: str
    ) -> None:
        """The agent's report of its update (``UpdateReport``); audited."""
        if state not in STATES:
            raise ValidationFailed(f"unknown update state {state!r}", field="state")
        if not _VERSION.match(version):
            raise ValidationFailed("invalid version", field="version")
        with self._audit.mutation(actor, "agent.update_report", "computer", computer_id) as m:
            s = m.session
            row = s.get(AgentUpdateStatus, computer_id)
            if row is None:
                row = AgentUpdateStatus(computer_id=computer_id)
                s.add(row)
            row.version, row.state, row.error = version, state, error[:2000]
            row.running, row.updated_at = running[:50], self._clock()
            m.detail = {"version": version, "state": state, "error": error[:500]}
