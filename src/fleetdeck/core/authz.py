"""Who is acting, and what they may do. Checked inside every service method."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from fleetdeck.core.errors import PermissionDenied


class Role(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"
    # People who use computers rather than manage them (invited by e-mail): they see and reach
    # only the computers assigned to them (``core.people``), nothing else.
    END_USER = "end_user"


class Perm(enum.StrEnum):
    READ = "read"  # inventory, groups, jobs, ...
    MANAGE_COMPUTERS = "manage_computers"  # create/update/delete computers and groups
    RUN_COMMANDS = "run_commands"  # jobs and remote commands
    MANAGE_ENROLLMENT = "manage_enrollment"
    MANAGE_USERS = "manage_users"
    MANAGE_SETTINGS = "manage_settings"
    MANAGE_REPORTS = "manage_reports"  # saved SQL reports and ad-hoc SQL (sandboxed, read-only)
    READ_AUDIT = "read_audit"
    MANAGE_PACKAGES = "manage_packages"  # packages, families, package groups, installation records
    DEPLOY = "deploy"  # deployments (job containers) and deployment rules
    READ_PASSWORDS = "read_passwords"  # local account passwords agents rotated (each read audited)
    # What user groups grant or withhold (core/users/groups.py), besides the role's permissions.
    RUN_SCRIPTS = "run_scripts"  # scripts sent to agents (commands are RUN_COMMANDS)
    REMOTE_ACCESS = "remote_access"  # tunnels and remote sessions to computers
    USE_VAULT = "use_vault"  # the secrets vault
    MANAGE_SCHEDULES = "manage_schedules"  # scheduled jobs
    READ_MONITORING = "read_monitoring"  # computers' measurements
    UPLOAD_FILES = "upload_files"  # files pushed to computers
    # READ and RUN_COMMANDS narrowed to the computers assigned to the actor (end users): core's
    # computer reads and job creation add the assignment as a condition (``computer_scope``).
    READ_ASSIGNED = "read_assigned"
    RUN_ASSIGNED = "run_assigned"


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.OPERATOR: frozenset(
        {
            Perm.READ,
            Perm.MANAGE_COMPUTERS,
            Perm.RUN_COMMANDS,
            Perm.MANAGE_ENROLLMENT,
            Perm.MANAGE_PACKAGES,
            Perm.DEPLOY,
            Perm.RUN_SCRIPTS,
            Perm.REMOTE_ACCESS,
            Perm.USE_VAULT,
            Perm.MANAGE_SCHEDULES,
            Perm.READ_MONITORING,
            Perm.UPLOAD_FILES,
        }
    ),
    Role.VIEWER: frozenset({Perm.READ}),
    Role.END_USER: frozenset({Perm.READ_ASSIGNED, Perm.RUN_ASSIGNED}),
}

CREDENTIALS_SCOPE = "credentials"  # an API token's scope for managing agents' credentials
READ_ONLY_PERMS = frozenset({Perm.READ, Perm.READ_AUDIT, Perm.READ_ASSIGNED})
# A permission over every computer -> the same permission over the actor's assigned computers.
ASSIGNED: dict[Perm, Perm] = {Perm.READ: Perm.READ_ASSIGNED, Perm.RUN_COMMANDS: Perm.RUN_ASSIGNED}


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a service method: a user (via some transport), the system, or an agent."""

    user_id: int | None
    username: str
    role: Role
    source: str = ""  # remote address
    via: str = "api"  # api | cli | agent | system | <dialect name>
    read_only: bool = False  # API token with scope "read"
    computer_id: int | None = None  # a computer acting as itself (authenticated by its agent key)
    # The user's groups (core/users/groups.py): permissions they add to the role's, and the
    # ones the role has that no group of the user grants. Empty for users in no group.
    granted: frozenset[Perm] = frozenset()
    withheld: frozenset[Perm] = frozenset()
    # The API token's scope when logged in with one ("read", "read+write", "credentials"):
    # a transport may confine a token to some of its routes (read_only already covers core).
    token_scope: str = ""

    def can(self, perm: Perm) -> bool:
        if self.read_only and perm not in READ_ONLY_PERMS and not self._credentials_work(perm):
            return False
        if perm in self.withheld:
            return False
        return perm in ROLE_PERMS[self.role] or perm in self.granted

    def _credentials_work(self, perm: Perm) -> bool:
        """A "credentials" token is read-only except for agents' credentials, which is its
        purpose (``core.enrollment.agent_secrets``)."""
        return self.token_scope == CREDENTIALS_SCOPE and perm is Perm.MANAGE_ENROLLMENT

    def require(self, perm: Perm) -> None:
        if not self.can(perm):
            why = "read-only token" if self.read_only and perm in ROLE_PERMS[self.role] else self.role.value
            if perm in self.withheld:
                why = "no group grants it"
            raise PermissionDenied(f"{self.username} ({why}) lacks permission {perm.value}", perm=perm.value)

    def computer_scope(self, perm: Perm) -> int | None:
        """For an operation on computers: None when ``perm`` covers every computer, or the
        user id whose assigned computers are all the actor may touch (an end user). Raises
        PermissionDenied when the actor has neither. Callers add the assignment as a condition
        to their query, so a scoped actor never learns that other computers exist."""
        if self.can(perm):
            return None
        narrowed = ASSIGNED.get(perm)
        if narrowed is not None and self.user_id is not None and self.can(narrowed):
            return self.user_id
        self.require(perm)
        return None  # not reached: require raised


def system_actor(via: str = "system") -> Actor:
    return Actor(user_id=None, username="system", role=Role.ADMIN, via=via)
