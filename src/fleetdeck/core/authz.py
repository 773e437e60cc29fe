"""Who is acting, and what they may do. Checked inside every service method."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from fleetdeck.core.errors import PermissionDenied


class Role(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


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
}

READ_ONLY_PERMS = frozenset({Perm.READ, Perm.READ_AUDIT})


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
        if self.read_only and perm not in READ_ONLY_PERMS:
            return False
        if perm in self.withheld:
            return False
        return perm in ROLE_PERMS[self.role] or perm in self.granted

    def require(self, perm: Perm) -> None:
        if not self.can(perm):
            why = "read-only token" if self.read_only and perm in ROLE_PERMS[self.role] else self.role.value
            if perm in self.withheld:
                why = "no group grants it"
            raise PermissionDenied(f"{self.username} ({why}) lacks permission {perm.value}", perm=perm.value)


def system_actor(via: str = "system") -> Actor:
    return Actor(user_id=None, username="system", role=Role.ADMIN, via=via)
