"""End users: people who use computers rather than manage them.

An end user is a ``users`` row with the least role (``Role.END_USER``, e-mail address as user
name) and an ``end_users`` row with their names and 2FA flag. They come in two ways: created
with a password by an admin, or invited by e-mail and made when they accept the invitation and
choose a password. Computers are assigned to them (many to many); their actor then sees and
reaches only those (``core.people.scope``), through every transport.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import quote

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm, Role
from fleetdeck.core.computers.names import resolve
from fleetdeck.core.errors import Conflict, NotFound, Reason, Unavailable, ValidationFailed
from fleetdeck.core.mail.mailer import Mail, Mailer
from fleetdeck.core.people import rules
from fleetdeck.core.people.entities import DeleteResult, EndUserInfo, InviteResult
from fleetdeck.core.people.settings import INVITATION_HOURS, PUBLIC_URL
from fleetdeck.core.ports import Clock
from fleetdeck.core.query import Page
from fleetdeck.core.secrets import Passwords, SecretBox, random_token
from fleetdeck.core.settings.service import SettingsService
from fleetdeck.core.users.entities import UserInfo
from fleetdeck.storage.db import Database
from fleetdeck.storage.locks import Serial, serialize
from fleetdeck.storage.tables import ComputerAssignment, EndUser, Invitation, User, WebSession
from fleetdeck.storage.uow import UnitOfWork

MAX_INVITES = 500  # addresses in one invitation request: bounded work and mail per call
MAX_PAGE = 500
ACCEPT_PATH = "/invitations/"  # the web page that accepts an invitation: <public url>/invitations/<token>


def check_problems(problems: Sequence[rules.Problem]) -> None:
    """Raise one ValidationFailed that lists every problem (``detail["problems"]``)."""
    if problems:
        first = problems[0]
        raise ValidationFailed(
            "; ".join(f"{p.field}: {p.what}" for p in problems),
            field=first.field,
            reason=Reason.INVALID,
            problems=[(p.field, p.what) for p in problems],
        )


class PeopleService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        box: SecretBox,
        clock: Clock,
        settings: SettingsService,
        mailer: Mailer,
        passwords: Passwords,
    ) -> None:
        self._db = db
        self._audit = audit
        self._box = box
        self._clock = clock
        self._settings = settings
        self._mailer = mailer
        self._passwords = passwords

    # ------------------------------------------------------------ end users

    def create(
        self,
        actor: Actor,
        *,
        first_name: str,
        last_name: str,
        email: str,
        password: str,
        two_factor: bool = False,
    ) -> EndUserInfo:
        """An active end user with a password. Every rule is checked and every broken one
        reported; an address that is taken or invited is a Conflict (``NAME_EXISTS``), one that
        names an account of another kind (an admin, say) ``ACCOUNT_EXISTS``."""
        self._audit.require(actor, Perm.MANAGE_USERS, "end_user.create", "user")
        check_problems(
            [
                *rules.name_problems("first_name", first_name),
                *rules.name_problems("last_name", last_name),
                *rules.email_problems(email),
                *rules.password_problems(password),
            ]
        )
        address = rules.normal_email(email)
        with self._audit.mutation(actor, "end_user.create", "user", perm=Perm.MANAGE_USERS) as m:
            s = m.session
            serialize(s, Serial.USER_NAMES)
            self._check_free(s, address, invited_ok=False)
            user = self._insert(
                s, address, password, first_name.strip(), last_name.strip(), two_factor, actor
            )
            m.object_id = str(user.user_id)
            m.detail = {"username": address, "role": Role.END_USER.value, "two_factor": two_factor}
            return user

    def _check_free(self, s: Session, address: str, *, invited_ok: bool) -> None:
        role = s.scalar(select(User.role).where(func.lower(User.username) == address))
        if role is not None and role != Role.END_USER.value:
            raise Conflict(
                f"{address} is the name of another account", field="email", reason=Reason.ACCOUNT_EXISTS
            )
        if role is not None or (
            not invited_ok and s.scalar(select(Invitation.id).where(Invitation.email == address)) is not None
        ):
            raise Conflict(f"{address} is in use or invited", field="email", reason=Reason.NAME_EXISTS)

    def _insert(
        self, s: Session, address: str, password: str, first: str, last: str, two_factor: bool, by: Actor
    ) -> EndUserInfo:
        now = self._clock()
        user = User(
            username=address,
            password_hash=self._passwords.hash(password),
            role=Role.END_USER.value,
            email=address,
            full_name=f"{first} {last}".strip(),
            disabled=False,
            created_at=now,
            password_changed_at=now,
        )
        s.add(user)
        s.flush()
        s.add(
            EndUser(
                user_id=user.id,
                first_name=first,
                last_name=last,
                two_factor=two_factor,
                invited_by=by.username,
            )
        )
        s.execute(delete(Invitation).where(Invitation.email == address))
        return EndUserInfo(user.id, address, first, last, two_factor, False, now)

    def find(self, actor: Actor, limit: int, offset: int) -> Page[EndUserInfo]:
        """Active end users by id, one page (at most ``MAX_PAGE``): two queries."""
        actor.require(Perm.MANAGE_USERS)
        if not 0 <= limit <= MAX_PAGE or offset < 0:
            raise ValidationFailed(f"limit must be 0-{MAX_PAGE}, offset not negative", field="limit")
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            total = s.scalar(select(func.count()).select_from(EndUser)) or 0
            rows = s.execute(
                select(User, EndUser)
                .join(EndUser, EndUser.user_id == User.id)
                .order_by(User.id)
                .limit(limit)
                .offset(offset)
            )
            return Page(
                items=[
                    EndUserInfo(
                        u.id, u.username, e.first_name, e.last_name, e.two_factor, u.disabled, u.created_at
                    )
                    for u, e in rows
                ],
                total=total,
            )

    def delete(self, actor: Actor, active: Sequence[str], invited: Sequence[str]) -> DeleteResult:
        """Delete active end users and pending invitations by address, each on its own: an
        address that is no end user (or no pending invitation) is reported False, the others
        are deleted, all in one transaction."""
        with self._audit.mutation(actor, "end_user.delete", "user", perm=Perm.MANAGE_USERS) as m:
            s = m.session
            done_active: dict[str, bool] = {}
            for raw in active:
                address = rules.normal_email(raw)
                uid = s.scalar(
                    select(User.id)
                    .join(EndUser, EndUser.user_id == User.id)
                    .where(func.lower(User.username) == address)
                )
                if uid is not None:
                    s.execute(delete(WebSession).where(WebSession.user_id == uid))
                    s.execute(delete(User).where(User.id == uid))
                done_active[raw] = uid is not None
            done_invited: dict[str, bool] = {}
            for raw in invited:
                gone = s.execute(delete(Invitation).where(Invitation.email == rules.normal_email(raw)))
                done_invited[raw] = bool(getattr(gone, "rowcount", 0))
            m.detail = {"active": done_active, "invited": done_invited}
            return DeleteResult(done_active, done_invited)

    # ------------------------------------------------------------ invitations

    def invite(
        self, actor: Actor, emails: Sequence[str], *, two_factor: bool, link_base: str
    ) -> InviteResult:
        """Invite every usable address by e-mail; the others are ``invalid`` (malformed, or the
        name of an account already). Inviting a pending address again renews its invitation (a
        new link; the old one stops working). The mails go out after the commit, through the
        mail port; without a configured mail server nothing is invited (Unavailable)."""
        self._audit.require(actor, Perm.MANAGE_USERS, "end_user.invite", "invitation")
        if len(emails) > MAX_INVITES:
            raise ValidationFailed(
                f"at most {MAX_INVITES} addresses at once", field="email", reason=Reason.TOO_MANY
            )
        if not self._mailer.configured():
            raise Unavailable("no SMTP server or sender configured (smtp.host, smtp.sender)")
        hours = int(self._settings.value(INVITATION_HOURS))
        base = (str(self._settings.value(PUBLIC_URL)) or link_base).rstrip("/")
        links: dict[str, str] = {}
        invalid: list[str] = []
        with self._audit.mutation(actor, "end_user.invite", "invitation", perm=Perm.MANAGE_USERS) as m:
            s = m.session
            serialize(s, Serial.USER_NAMES)
            now = self._clock()
            for raw in emails:
                address = rules.normal_email(raw)
                if rules.email_problems(raw) or address in links:
                    invalid.append(raw)
                    continue
                if s.scalar(select(User.id).where(func.lower(User.username) == address)) is not None:
                    invalid.append(raw)
                    continue
                token = random_token(32)
                s.execute(delete(Invitation).where(Invitation.email == address))
                s.add(
                    Invitation(
                        email=address,
                        token_hash=self._box.keyed_hash(token),
                        two_factor=two_factor,
                        invited_by=actor.username,
                        created_at=now,
                        expires_at=now + timedelta(hours=hours),
                    )
                )
                links[address] = f"{base}{ACCEPT_PATH}{quote(token)}"
            m.detail = {"invited": sorted(links), "invalid": invalid, "two_factor": two_factor}
        for address, link in links.items():
            self._mailer.send(
                Mail(
                    to=(address,),
                    subject="You are invited to fleetdeck",
                    text=(
                        f"{actor.username} invited you to fleetdeck.\n\n"
                        f"Choose your password here to accept the invitation:\n{link}\n\n"
                        f"The link is valid for {hours} hours.\n"
                    ),
                )
            )
        return InviteResult(invited=list(links), invalid=invalid)

    def accept(self, token: str, password: str, source: str, via: str) -> UserInfo:
        """Accept an invitation with its link's token and choose a password: the end user's
        account is made and the invitation deleted. An unknown token is NotFound, an expired
        one ValidationFailed (``EXPIRED``); the password follows ``rules``."""
        anonymous = Actor(user_id=None, username="(invitation)", role=Role.END_USER, source=source, via=via)
        with self._audit.mutation(anonymous, "invitation.accept", "invitation") as m:
            check_problems(rules.password_problems(password))
            s = m.session
            serialize(s, Serial.USER_NAMES)
            row = s.scalar(select(Invitation).where(Invitation.token_hash == self._box.keyed_hash(token)))
            if row is None or len(token) > 200:
                raise NotFound("invitation", "(token)")
            m.object_id = str(row.id)
            if row.expires_at <= self._clock():
                raise ValidationFailed("the invitation has expired", field="token", reason=Reason.EXPIRED)
            self._check_free(s, row.email, invited_ok=True)
            inviter = Actor(user_id=None, username=row.invited_by, role=Role.ADMIN)
            info = self._insert(s, row.email, password, "", "", row.two_factor, inviter)
            m.detail = {"username": row.email, "user_id": info.user_id}
            return UserInfo(
                id=info.user_id,
                username=info.email,
                role=Role.END_USER,
                full_name="",
                email=info.email,
                disabled=False,
                created_at=info.created_at,
                last_login_at=None,
            )

    # ------------------------------------------------------------ assignments

    def assign(self, actor: Actor, email: str, hostnames: Sequence[str]) -> list[int]:
        """Assign the computers named ``hostnames`` (display names; an ambiguous or unknown one
        refuses the whole call) to the end user ``email``. Returns the computer ids; computers
        assigned already stay so."""
        return self._assignment(actor, "end_user.assign", email, hostnames, add=True)

    def unassign(self, actor: Actor, email: str, hostnames: Sequence[str]) -> list[int]:
        return self._assignment(actor, "end_user.unassign", email, hostnames, add=False)

    def _assignment(
        self, actor: Actor, action: str, email: str, hostnames: Sequence[str], *, add: bool
    ) -> list[int]:
        address = rules.normal_email(email)
        if not address:
            raise ValidationFailed("name the user", field="username", reason=Reason.REQUIRED_MISSING)
        if not hostnames:
            raise ValidationFailed(
                "name the computers", field="computer_names", reason=Reason.REQUIRED_MISSING
            )
        with self._audit.mutation(actor, action, "user", perm=Perm.MANAGE_USERS) as m:
            s = m.session
            uid = s.scalar(
                select(User.id)
                .join(EndUser, EndUser.user_id == User.id)
                .where(func.lower(User.username) == address)
            )
            if uid is None:  # computers are assigned to end users only
                raise NotFound("user", address)
            m.object_id = str(uid)
            ids = sorted(set(resolve(s, hostnames).values()))
            present = set(
                s.scalars(
                    select(ComputerAssignment.computer_id).where(
                        ComputerAssignment.user_id == uid, ComputerAssignment.computer_id.in_(ids)
                    )
                )
            )
            if add:
                now = self._clock()
                s.add_all(
                    ComputerAssignment(user_id=uid, computer_id=c, assigned_at=now)
                    for c in ids
                    if c not in present
                )
                m.detail = {"computers": ids, "added": sorted(set(ids) - present)}
            else:
                s.execute(
                    delete(ComputerAssignment).where(
                        ComputerAssignment.user_id == uid, ComputerAssignment.computer_id.in_(ids)
                    )
                )
                m.detail = {"computers": ids, "removed": sorted(present)}
            return ids

    def end_user_id(self, actor: Actor, email: str) -> int:
        """The id of the end user ``email`` (NotFound: no such end user)."""
        actor.require(Perm.MANAGE_USERS)
        address = rules.normal_email(email)
        with UnitOfWork(self._db, readonly=True) as uow:
            uid = uow.session.scalar(
                select(User.id)
                .join(EndUser, EndUser.user_id == User.id)
                .where(func.lower(User.username) == address)
            )
            if uid is None:
                raise NotFound("user", address)
            return uid

    def assigned(self, actor: Actor, user_id: int) -> list[int]:
        """The ids of the computers assigned to ``user_id`` (yourself, or anyone with
        ``manage_users``)."""
        if actor.user_id != user_id:
            actor.require(Perm.MANAGE_USERS)
        with UnitOfWork(self._db, readonly=True) as uow:
            if uow.session.get(User, user_id) is None:
                raise NotFound("user", user_id)
            return list(
                uow.session.scalars(
                    select(ComputerAssignment.computer_id)
                    .where(ComputerAssignment.user_id == user_id)
                    .order_by(ComputerAssignment.computer_id)
                )
            )
