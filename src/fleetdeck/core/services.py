"""``Services``: everything transports receive. Built once by the composition root.

Transports get services and plain values, never the database handle: a transport that could
reach the engine could bypass authorisation and audit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fleetdeck.core.agentupdates import AgentUpdateService
from fleetdeck.core.alerting.service import AlertingService
from fleetdeck.core.audit import AuditLog
from fleetdeck.core.certs.service import CertificateService
from fleetdeck.core.changes import ChangeFeed
from fleetdeck.core.changes import watch as watch_changes
from fleetdeck.core.cmdb import link as cmdb_link
from fleetdeck.core.cmdb.service import CmdbService
from fleetdeck.core.computers.attributes import ComputerAttributeService
from fleetdeck.core.computers.by_name import ComputersByName
from fleetdeck.core.computers.reported import ReportedAuditService
from fleetdeck.core.computers.service import ComputerService
from fleetdeck.core.deployments.service import DeploymentService
from fleetdeck.core.desktops import DesktopService
from fleetdeck.core.enrollment.agent_secrets import AgentSecretService
from fleetdeck.core.enrollment.service import EnrollmentService
from fleetdeck.core.groups.flat import FlatGroupService
from fleetdeck.core.groups.rules import RuleGroupService
from fleetdeck.core.groups.service import GroupService
from fleetdeck.core.jobs.files import FilePushService, FileStore
from fleetdeck.core.jobs.library import LibraryService
from fleetdeck.core.jobs.saved import SavedCommandService
from fleetdeck.core.jobs.schedules import ScheduleService
from fleetdeck.core.jobs.service import JobService
from fleetdeck.core.leases import LeaseService
from fleetdeck.core.licenses.service import LicenseService
from fleetdeck.core.logs.service import ClientLogService
from fleetdeck.core.mail.mailer import Mailer, SmtpMailer
from fleetdeck.core.mail.settings import MAIL_SETTINGS
from fleetdeck.core.monitoring.service import MonitoringService
from fleetdeck.core.monitoring.settings import MONITORING_SETTINGS
from fleetdeck.core.nodes import LEASE_SEC, NodeService
from fleetdeck.core.packages.properties import PropertyService
from fleetdeck.core.packages.service import PackageService
from fleetdeck.core.people.service import PeopleService
from fleetdeck.core.people.settings import PEOPLE_SETTINGS
from fleetdeck.core.polling.records import AgentRecordsService
from fleetdeck.core.polling.service import PollingAgentService
from fleetdeck.core.ports import (
    AgentGateway,
    Clock,
    JobNotifier,
    JobWatch,
    NullNotifier,
    TunnelListeners,
    Waker,
    utcnow,
)
from fleetdeck.core.reports.service import ReportService
from fleetdeck.core.secrets import Argon2Cost, Passwords, SecretBox
from fleetdeck.core.settings.configs import ConfigService
from fleetdeck.core.settings.registry import CORE_SETTINGS, SettingDef, SettingsRegistry
from fleetdeck.core.settings.service import SettingsService
from fleetdeck.core.terminals import TerminalService
from fleetdeck.core.tunnels.service import TunnelService
from fleetdeck.core.tunnels.settings import TUNNEL_SETTINGS
from fleetdeck.core.tunnels.stored import StoredTunnelService
from fleetdeck.core.users.groups import UserGroupService
from fleetdeck.core.users.mailcode import MailCodeService
from fleetdeck.core.users.oidc import OIDC_SETTINGS, OidcLoginService
from fleetdeck.core.users.service import UserService
from fleetdeck.core.users.sessions import SessionService
from fleetdeck.core.users.throttle import LoginThrottle
from fleetdeck.core.users.totp import SecondFactorService
from fleetdeck.core.vault import VaultService
from fleetdeck.core.wol.service import WolService
from fleetdeck.storage.db import Database


@dataclass(frozen=True)
class CoreConfig:
    token_lifetime_sec: int = 12 * 3600
    login_max_failures: int = 5
    login_window_sec: float = 300.0
    login_max_failures_per_address: int = 50
    max_output_bytes: int = 1024 * 1024
    payload_dir: Path | None = None  # package payloads (ZIPs); None = packages without payloads
    logs_dir: Path | None = None  # client logs; None = under a temporary directory
    files_dir: Path | None = None  # files pushed to computers (core/jobs/files.py); None = none
    max_pushed_file_bytes: int = 10 * 1024**2  # largest file pushed to computers
    argon2: Argon2Cost = field(default_factory=Argon2Cost)
    node_lease_sec: float = LEASE_SEC  # a server process silent this long is taken for dead
    tls_dir: Path | None = None  # the CA of --tls auto (core/certs); None = no CA
    max_payload_bytes: int = 64 * 1024**3  # largest streamed payload upload (core/packages/uploads)
    alert_scripts_dir: Path | None = None  # scripts alert notifications may run; None = none
    releases_dir: Path | None = None  # agent releases (core/agentupdates.py); None = none


@dataclass(frozen=True)
class Services:
    database: str  # which database this installation runs on ("sqlite", "postgresql"), for status pages
    audit: AuditLog
    users: UserService
    sessions: SessionService  # browser sessions of the web UI, in the database
    computers: ComputerService
    groups: GroupService
    enrollment: EnrollmentService
    jobs: JobService
    settings: SettingsService
    reports: ReportService
    wol: WolService
    packages: PackageService
    deployments: DeploymentService
    logs: ClientLogService
    configs: ConfigService
    properties: PropertyService
    licenses: LicenseService
    leases: LeaseService
    nodes: NodeService
    certificates: CertificateService
    reported_audit: ReportedAuditService
    saved_commands: SavedCommandService
    library: LibraryService
    file_pushes: FilePushService
    polling: PollingAgentService
    agent_records: AgentRecordsService
    cmdb: CmdbService
    user_groups: UserGroupService
    second_factor: SecondFactorService
    mail_codes: MailCodeService  # second factor by a code sent by e-mail
    oidc: OidcLoginService  # login through an OpenID Connect provider (oidc.* settings)
    people: PeopleService  # end users, invitations, computers assigned to them
    by_name: ComputersByName  # comments and removal of computers named by display name
    flat_groups: FlatGroupService  # groups a computer is in at most one of
    rule_groups: RuleGroupService  # groups defined by inventory rules, and the access they give
    agent_secrets: AgentSecretService  # credentials agents may connect with
    attributes: ComputerAttributeService  # tags and labels people give computers
    mail: Mailer
    vault: VaultService  # its key only in this process's memory: locked after a restart
    alerting: AlertingService  # rules over measurements, problems, notifications
    terminals: TerminalService  # who may open a terminal on a computer; audit of sessions
    desktops: DesktopService  # who may view a computer's desktop (VNC); audit; one-time links
    monitoring: MonitoringService  # agents' measurements (intake, lists, graphs, retention)
    schedules: ScheduleService  # commands and scripts on a cron schedule (the schedules.run duty)
    stored_tunnels: StoredTunnelService  # saved tunnel presets per computer
    tunnels: TunnelService  # ports carried through agents (listeners: ports.TunnelListeners)
    agent_updates: AgentUpdateService  # agent releases, their rollout, computers' updates


def build_services(
    db: Database,
    secret_key: str,
    config: CoreConfig | None = None,
    *,
    notifier: JobNotifier | None = None,
    clock: Clock = utcnow,
    waker: Waker | None = None,
    gateway: AgentGateway | None = None,
    watch: JobWatch | None = None,
    changes: ChangeFeed | None = None,
    settings_defs: Iterable[SettingDef] = (),
    mailer: Mailer | None = None,
    tunnel_listeners: TunnelListeners | None = None,
) -> Services:
    """``notifier``, ``gateway`` and ``watch`` connect core to the bus (the composition root
    passes the bus implementations); without them nothing leaves this process.
    ``changes`` hears committed changes of computers and package states (``core.changes``).
    ``settings_defs``: the settings the dialects declare, besides core's own. ``mailer``: how
    e-mail leaves (default: SMTP with the ``smtp.*`` settings). ``tunnel_listeners``: who opens
    tunnels' ports (the bus implementation reaches the process holding the agent)."""
    config = config or CoreConfig()
    if changes is not None:  # committed changes of computers and package states (core.changes)
        watch_changes(db.sessions, changes)
    cmdb_link.watch(db.sessions)  # every computer is a CMDB object (core.cmdb.link)
    box = SecretBox(secret_key)
    audit = AuditLog(db, clock)
    throttle = LoginThrottle(
        db, clock, config.login_max_failures, config.login_max_failures_per_address, config.login_window_sec
    )
    registry = SettingsRegistry(
        (
            *CORE_SETTINGS,
            *MAIL_SETTINGS,
            *PEOPLE_SETTINGS,
            *OIDC_SETTINGS,
            *MONITORING_SETTINGS,
            *TUNNEL_SETTINGS,
            *settings_defs,
        )
    )
    settings = SettingsService(db, audit, box, clock, registry)
    wol = WolService(db, audit, settings)
    notifier = notifier or NullNotifier()
    groups = GroupService(db, audit, clock)
    jobs = JobService(db, audit, clock, notifier, settings, config.max_output_bytes, watch)
    packages = PackageService(db, audit, clock, groups, config.payload_dir, config.max_payload_bytes)
    deployments = DeploymentService(db, audit, clock, notifier, waker or wol, settings)
    groups.membership_hooks.append(deployments.triggers.computer_group_changed)
    packages.group_hooks.append(deployments.triggers.package_group_changed)
    packages.installation_hooks.append(deployments.triggers.installations_changed)
    jobs.installation_hooks.append(deployments.triggers.installations_changed)
    passwords = Passwords(config.argon2)
    users = UserService(db, audit, box, clock, throttle, config.token_lifetime_sec, passwords)
    mail = mailer or SmtpMailer(settings)
    computers = ComputerService(db, audit, clock, gateway, notifier, box)
    sessions = SessionService(db, audit, users, box, clock, config.token_lifetime_sec)
    alerting = AlertingService(db, audit, clock, mail, config.alert_scripts_dir)
    monitoring = MonitoringService(db, audit, clock, settings)
    monitoring.intake_hooks.append(alerting.on_measurement)  # alert rules run on each measurement
    return Services(
        database=db.dialect,
        audit=audit,
        users=users,
        sessions=sessions,
        computers=computers,
        groups=groups,
        enrollment=EnrollmentService(db, audit, box, clock, throttle, passwords),
        jobs=jobs,
        settings=settings,
        reports=ReportService(db, audit, clock, settings),
        wol=wol,
        packages=packages,
        deployments=deployments,
        logs=ClientLogService(audit, config.logs_dir),
        configs=ConfigService(db, audit),
        properties=PropertyService(db, audit),
        licenses=LicenseService(db, audit, box, clock),
        leases=LeaseService(db, clock),
        nodes=NodeService(db, clock, config.node_lease_sec),
        certificates=CertificateService(audit, config.tls_dir),
        reported_audit=ReportedAuditService(db, audit, clock),
        saved_commands=SavedCommandService(db, audit, clock),
        library=LibraryService(db, audit, clock),
        file_pushes=FilePushService(
            db,
            audit,
            jobs,
            FileStore(config.files_dir) if config.files_dir else None,
            config.max_pushed_file_bytes,
            clock,
        ),
        polling=PollingAgentService(db, audit, box, clock, jobs, packages, settings),
        agent_records=AgentRecordsService(db, audit, box, clock, settings),
        cmdb=CmdbService(db, audit, clock),
        user_groups=UserGroupService(db, audit, clock),
        second_factor=SecondFactorService(db, audit, box, clock, throttle),
        mail_codes=MailCodeService(db, audit, box, clock, throttle, mail),
        oidc=OidcLoginService(db, audit, box, clock, settings, sessions, passwords),
        people=PeopleService(db, audit, box, clock, settings, mail, passwords),
        by_name=ComputersByName(db, audit, clock, notifier),
        flat_groups=FlatGroupService(db, audit, clock, groups),
        rule_groups=RuleGroupService(db, audit, clock),
        agent_secrets=AgentSecretService(db, audit, clock, passwords),
        attributes=ComputerAttributeService(db, audit, computers),
        mail=mail,
        vault=VaultService(db, audit, clock, config.argon2),
        terminals=TerminalService(db, audit),
        desktops=DesktopService(db, audit, settings=settings),
        alerting=alerting,
        monitoring=monitoring,
        schedules=ScheduleService(db, audit, clock, jobs),
        stored_tunnels=StoredTunnelService(db, audit, clock),
        tunnels=TunnelService(db, audit, clock, settings, gateway, tunnel_listeners, passwords),
        agent_updates=AgentUpdateService(db, audit, clock, box, config.releases_dir, gateway),
    )
