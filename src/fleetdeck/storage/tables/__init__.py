"""All tables, one module per aggregate. Import from here."""

from fleetdeck.storage.tables.agentupdates import AgentRelease, AgentReleaseKeySecret, AgentUpdateStatus
from fleetdeck.storage.tables.alerting import (
    AlertNotification,
    AlertProblem,
    AlertRuleset,
    NotificationTemplate,
)
from fleetdeck.storage.tables.audit import AuditEntry
from fleetdeck.storage.tables.base import Base
from fleetdeck.storage.tables.cmdb import CmdbDialogItem, CmdbEntry, CmdbObject
from fleetdeck.storage.tables.computers import (
    Computer,
    ComputerEvent,
    ComputerFilesystem,
    ComputerInterface,
    ComputerLogin,
    ComputerPassword,
    ComputerSoftware,
    ComputerTag,
    ReportedAudit,
)
from fleetdeck.storage.tables.configs import (
    ConfigEntry,
    ConfigOverride,
    PackageProperty,
    PackagePropertyValue,
)
from fleetdeck.storage.tables.deployments import DeploymentRule
from fleetdeck.storage.tables.enrollment import EnrollToken
from fleetdeck.storage.tables.groups import AgentSecret, Group, GroupMember, RuleGroup
from fleetdeck.storage.tables.jobs import Job, JobBatch, LibraryEntry, SavedCommand, Schedule
from fleetdeck.storage.tables.leases import Lease
from fleetdeck.storage.tables.licenses import (
    LicenseAssignment,
    LicenseContract,
    LicensePool,
    LicensePoolMember,
    LicensePoolSoftware,
    SoftwareLicense,
)
from fleetdeck.storage.tables.monitoring import Measurement
from fleetdeck.storage.tables.packages import (
    Installation,
    Package,
    PackageDependency,
    PackageFamily,
    PackageGroupMember,
    PackageState,
    PayloadUpload,
)
from fleetdeck.storage.tables.people import ComputerAssignment, ComputerComment, EndUser, Invitation
from fleetdeck.storage.tables.reports import Report
from fleetdeck.storage.tables.settings import SettingValue
from fleetdeck.storage.tables.tunnels import StoredTunnel, Tunnel, TunnelCounter
from fleetdeck.storage.tables.users import (
    ApiToken,
    LoginFailure,
    OidcLoginSecret,
    User,
    UserGroup,
    UserGroupMember,
    UserMailCodeSecret,
    UserTotpSecret,
    WebSession,
)
from fleetdeck.storage.tables.vault import VaultSecretEntry, VaultSecretState

__all__ = [
    "AgentRelease",
    "AgentReleaseKeySecret",
    "AgentSecret",
    "AgentUpdateStatus",
    "AlertNotification",
    "AlertProblem",
    "AlertRuleset",
    "ApiToken",
    "AuditEntry",
    "Base",
    "CmdbDialogItem",
    "CmdbEntry",
    "CmdbObject",
    "Computer",
    "ComputerAssignment",
    "ComputerComment",
    "ComputerEvent",
    "ComputerFilesystem",
    "ComputerInterface",
    "ComputerLogin",
    "ComputerPassword",
    "ComputerSoftware",
    "ComputerTag",
    "ConfigEntry",
    "ConfigOverride",
    "DeploymentRule",
    "EndUser",
    "EnrollToken",
    "Group",
    "GroupMember",
    "Installation",
    "Invitation",
    "Job",
    "JobBatch",
    "Lease",
    "LibraryEntry",
    "LicenseAssignment",
    "LicenseContract",
    "LicensePool",
    "LicensePoolMember",
    "LicensePoolSoftware",
    "LoginFailure",
    "Measurement",
    "NotificationTemplate",
    "OidcLoginSecret",
    "Package",
    "PackageDependency",
    "PackageFamily",
    "PackageGroupMember",
    "PackageProperty",
    "PackagePropertyValue",
    "PackageState",
    "PayloadUpload",
    "Report",
    "ReportedAudit",
    "RuleGroup",
    "SavedCommand",
    "Schedule",
    "SettingValue",
    "SoftwareLicense",
    "StoredTunnel",
    "Tunnel",
    "TunnelCounter",
    "User",
    "UserGroup",
    "UserGroupMember",
    "UserMailCodeSecret",
    "UserTotpSecret",
    "VaultSecretEntry",
    "VaultSecretState",
    "WebSession",
]
