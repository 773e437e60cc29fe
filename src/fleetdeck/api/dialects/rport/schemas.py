"""rportd's request bodies, decoded strictly (an unknown field is a 400, as rportd's
``DisallowUnknownFields``), and its list rules for the lists this dialect answers."""

from __future__ import annotations

from typing import Any

import msgspec

from fleetdeck.api.kit import listing
from fleetdeck.core import query as q

MAX_TOKEN_LIFETIME = 90 * 24 * 3600  # 90 days, rportd's maximum
DEFAULT_TOKEN_LIFETIME = 600  # 10 minutes
RENEW_SEC = 600  # every use pushes a session's end to at least this far ahead


class Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class LoginBody(Strict):
    username: str = ""
    password: str = ""
    new_password: str | None = None


class Verify2faBody(Strict):
    username: str = ""
    token: str = ""


class MeBody(Strict):
    username: str | None = None
    password: str | None = None
    old_password: str | None = None
    two_fa_send_to: str | None = None


class TokenBody(Strict):
    name: str | None = None
    scope: str | None = None
    expires_at: str | None = None
    prefix: str | None = None
    token_prefix: str | None = None


class UserBody(Strict):
    username: str | None = None
    password: str | None = None
    password_expired: bool | None = None
    groups: list[str] | None = None
    two_fa_send_to: str | None = None


class MinMax(Strict):
    min: int | None = None
    max: int | None = None


class MinMaxTime(Strict):
    """``HH:MM`` bounds of a tunnel's auto-close."""

    min: str | None = None
    max: str | None = None


class TunnelsRestricted(Strict):
    """A group's tunnel restrictions with the keys and types of rportd's ``UserGroup`` schema:
    an unknown key or a wrong type is a 400, and a null is the same as leaving the key out, so
    what is stored is always what the schema allows back."""

    local: list[str] | None = None
    remote: list[str] | None = None
    scheme: list[str] | None = None
    acl: list[str] | None = None
    idle_timeout_minutes: MinMax | None = msgspec.field(default=None, name="idle-timeout-minutes")
    auto_close: MinMaxTime | None = msgspec.field(default=None, name="auto-close")
    protocol: list[str] | None = None
    skip_idle_timeout: bool | None = msgspec.field(default=None, name="skip-idle-timeout")
    http_proxy: bool | None = None
    host_header: str | None = None
    auth_allowed: bool | None = None


class CommandsRestricted(Strict):
    allow: list[str] | None = None
    deny: list[str] | None = None
    is_sudo: bool | None = None


class UserGroupBody(Strict):
    name: str | None = None
    permissions: dict[str, bool] | None = None
    tunnels_restricted: TunnelsRestricted | None = None
    commands_restricted: CommandsRestricted | None = None


# rportd's list spelling: filter[col]=a,b (any of), * wildcards, filter[a|b], or()/and(),
# filter[*], an empty value = empty or NULL, [gt|lt|since|until|eq] operators, values trimmed.
SYNTAX = listing.ListSyntax(
    ops={"gt": q.Op.GT, "lt": q.Op.LT, "since": q.Op.GE, "until": q.Op.LE, "eq": q.Op.EQ},
    comma_means_any=True,
    star_means_glob=True,
    or_across_fields=True,
    functions=True,
    search_all=True,
    blank_means_empty=True,
    trim_values=True,
    unknown_params_are_errors=False,
    messages={
        "limit_not_a_number": "invalid pagination limit ({value}): must be a number",
        "limit_too_small": "pagination limit must be greater than 0",
        "limit_too_big": "pagination limit too big ({value}) maximum is {max}",
        "offset_not_a_number": "invalid pagination offset ({value}): must be a number",
        "offset_negative": "pagination offset must not be negative",
        "unsupported_sort": "unsupported sort field '{field}'",
        "unsupported_filter": "unsupported filter field '{name}'",
        "unsupported_operator": "unsupported filter field '{op}' for '{field}'",
        "unknown_operator": "unsupported filter operator '{op}'",
        "unsupported_fields_resource": "unsupported resource in fields: '{resource}'",
        "unsupported_field": "unsupported field '{field}' for resource '{resource}'",
    },
)

_PLAIN = listing.allowed(q.Op.EQ, q.Op.IN, q.Op.LIKE)
_TIME = listing.allowed(q.Op.GT, q.Op.LT, q.Op.GE, q.Op.LE, q.Op.EQ)
AUDITLOG = listing.ListRules(
    filters={
        "timestamp": _TIME,
        "username": _PLAIN,
        "remote_ip": _PLAIN,
        "application": _PLAIN,
        "action": _PLAIN,
        "affected_id": _PLAIN,
        "client_id": _PLAIN,
        "client_hostname": _PLAIN,
    },
    search=("username", "remote_ip", "application", "action", "affected_id"),
    sorts=frozenset(
        {
            "timestamp",
            "username",
            "remote_ip",
            "application",
            "action",
            "affected_id",
            "client_id",
            "client_hostname",
        }
    ),
    default_sort=(q.SortKey("timestamp", descending=True),),
    default_limit=10,
    min_limit=1,
    max_limit=100,
)

# rportd's client fields -> core's computer fields (what filter[...] and sort take)
CLIENT_FIELDS = {
    "id": "uid",
    "name": "hostname",
    "hostname": "hostname",
    "os": "os",
    "os_full_name": "os",
    "os_version": "os_version",
    "os_arch": "architecture",
    "os_family": "os_family",
    "os_kernel": "kernel",
    "cpu_model": "cpu_model",
    "cpu_model_name": "cpu_model",
    "num_cpus": "cpu_cores",
    "version": "agent_version",
    "address": "remote_address",
    "connection_state": "online",
    # list-valued (any element matches); a label is matched as ``name: value``
    "tags": "tags",
    "labels": "labels",
    "groups": "rule_groups",
    "allowed_user_groups": "access",
}
_CLIENT_OUT = [
    "id",
    "name",
    "os",
    "os_full_name",
    "os_version",
    "os_arch",
    "os_family",
    "os_kernel",
    "os_virtualization_system",
    "os_virtualization_role",
    "hostname",
    "cpu_family",
    "cpu_model",
    "cpu_vendor",
    "cpu_model_name",
    "num_cpus",
    "mem_total",
    "timezone",
    "ipv4",
    "ipv6",
    "tags",
    "labels",
    "version",
    "address",
    "tunnels",
    "connection_state",
    "disconnected_at",
    "last_heartbeat_at",
    "client_auth_id",
    "allowed_user_groups",
    "groups",
    "updates_status",
]
CLIENTS = listing.ListRules(
    filters={name: _PLAIN for name in CLIENT_FIELDS},
    search=("id", "name", "os", "hostname", "version", "address"),
    sorts=frozenset({"id", "name", "os", "hostname", "version"}),
    default_sort=(q.SortKey("name"),),
    default_limit=50,
    min_limit=1,
    max_limit=500,
    fieldsets={"clients": listing.Fieldset(frozenset(_CLIENT_OUT), ("id", "name", "hostname"))},
)


class ClientGroupParams(Strict):
    """rportd's group parameters: each a list of patterns (``tag`` also ``{"and"|"or": [...]}``)."""

    client_id: list[str] | None = None
    name: list[str] | None = None
    os: list[str] | None = None
    os_arch: list[str] | None = None
    os_family: list[str] | None = None
    os_kernel: list[str] | None = None
    hostname: list[str] | None = None
    ipv4: list[str] | None = None
    ipv6: list[str] | None = None
    tag: list[str] | dict[str, list[str]] | None = None
    version: list[str] | None = None
    address: list[str] | None = None
    client_auth_id: list[str] | None = None
    connection_state: list[str] | None = None


class ClientGroupBody(Strict):
    id: str | None = None
    description: str | None = None
    params: ClientGroupParams | None = None
    allowed_user_groups: list[str] | None = None
    client_ids: list[str] | None = None  # read only: rportd ignores what is sent
    num_clients: int | None = None
    num_clients_connected: int | None = None


class ClientAttributesBody(Strict):
    tags: list[str] | None = None
    labels: dict[str, str] | None = None


class ClientAclBody(Strict):
    allowed_user_groups: list[str] | None = None


class ClientAuthBody(Strict):
    id: str | None = None
    password: str | None = None


# rportd's group parameter names -> core's rule fields (core/groups/rules.py)
GROUP_PARAMS = {
    "client_id": "uid",
    "name": "name",
    "os": "os",
    "os_arch": "architecture",
    "os_family": "os_family",
    "os_kernel": "kernel",
    "hostname": "hostname",
    "ipv4": "ipv4",
    "ipv6": "ipv6",
    "tag": "tags",
    "version": "agent_version",
    "address": "address",
    "client_auth_id": "credential",
    "connection_state": "state",
}
_GROUP_OUT = (
    "id",
    "description",
    "params",
    "allowed_user_groups",
    "client_ids",
    "num_clients",
    "num_clients_connected",
)
CLIENT_GROUPS = listing.ListRules(
    filters={"id": _PLAIN, "description": _PLAIN},
    search=("id", "description"),
    sorts=frozenset({"id", "description"}),
    default_sort=(q.SortKey("id"),),
    default_limit=50,
    min_limit=1,
    max_limit=500,
    fieldsets={"client_groups": listing.Fieldset(frozenset(_GROUP_OUT), ("id", "description"))},
)
CLIENT_GROUP = listing.ListRules(
    filters={},
    fieldsets={"client_groups": listing.Fieldset(frozenset(_GROUP_OUT), _GROUP_OUT)},
)
CLIENTS_AUTH = listing.ListRules(
    filters={"id": _PLAIN},
    search=("id",),
    sorts=frozenset(),
    default_sort=(q.SortKey("id"),),
    default_limit=50,
    min_limit=1,
    max_limit=500,
)
_TAG_OUT = ("tag", "client_ids")
CLIENT_TAGS = listing.ListRules(
    filters={},
    sorts=frozenset(),
    default_limit=50,
    min_limit=1,
    max_limit=500,
    fieldsets={"client_tags": listing.Fieldset(frozenset(_TAG_OUT), _TAG_OUT)},
)


# rportd's job fields -> core's job fields (filter[...] and sort)
JOB_FIELDS = {
    "jid": "id",
    "status": "status",
    "created_by": "created_by",
    "multi_job_id": "batch_id",
    "started_at": "started_at",
    "finished_at": "finished_at",
}
_JOB_OUT = frozenset(
    {
        "jid",
        "status",
        "finished_at",
        "client_id",
        "client_name",
        "command",
        "cwd",
        "interpreter",
        "pid",
        "started_at",
        "created_by",
        "timeout_sec",
        "multi_job_id",
        "schedule_id",
        "error",
        "result",
        "is_sudo",
        "is_script",
    }
)
_JOB_DEFAULT = ("jid", "status", "finished_at")
JOBS = listing.ListRules(
    filters={
        "jid": _PLAIN,
        "status": _PLAIN,
        "created_by": _PLAIN,
        "multi_job_id": _PLAIN,
        "started_at": _TIME,
        "finished_at": _TIME,
    },
    search=("jid", "status", "created_by"),
    sorts=frozenset(JOB_FIELDS),
    default_sort=(q.SortKey("started_at", descending=True),),
    default_limit=100,
    min_limit=1,
    max_limit=1000,
    fieldsets={
        "jobs": listing.Fieldset(_JOB_OUT, _JOB_DEFAULT),
        "commands": listing.Fieldset(_JOB_OUT, _JOB_DEFAULT),
        "scripts": listing.Fieldset(_JOB_OUT, _JOB_DEFAULT),
        "result": listing.Fieldset(frozenset({"stdout", "stderr", "summary"}), ("summary",)),
    },
)
MULTI_JOBS = listing.ListRules(
    filters={"jid": _PLAIN, "created_by": _PLAIN, "started_at": _TIME, "schedule_id": _PLAIN},
    search=("jid", "created_by"),
    sorts=frozenset({"jid", "started_at", "created_by", "schedule_id"}),
    default_sort=(q.SortKey("started_at", descending=True),),
    default_limit=100,
    min_limit=1,
    max_limit=1000,
)


class ScriptBody(Strict):
    """rportd's ScriptInput: a PUT gives every field again (no partial update)."""

    name: str = ""
    script: str = ""
    interpreter: str = ""
    cwd: str = ""
    is_sudo: bool = False
    tags: list[str] | None = None
    timeout_sec: int = 0


class CommandBody(Strict):
    """rportd's command input: its code reads ``cmd``, its OpenAPI document says ``script``;
    both are taken (not both with different texts)."""

    name: str = ""
    cmd: str | None = None
    script: str | None = None
    tags: list[str] | None = None
    timeout_sec: int = 0


# rportd's library lists: sort and filter on these, page 20 by default and 100 at most
_LIBRARY_KEYS = ("id", "name", "created_by", "created_at", "updated_by", "updated_at")
LIBRARY_TIMES = frozenset({"created_at", "updated_at"})
_COMMON_OUT = ("id", "name", "created_by", "created_at", "updated_by", "updated_at", "tags", "timeout_sec")
SCRIPT_OUT = (*_COMMON_OUT, "interpreter", "is_sudo", "cwd", "script")
COMMAND_OUT = (*_COMMON_OUT, "cmd")


def _library(resource: str, out: tuple[str, ...]) -> listing.ListRules:
    return listing.ListRules(
        filters={k: _TIME if k in LIBRARY_TIMES else _PLAIN for k in _LIBRARY_KEYS},
        search=("id", "name", "created_by", "updated_by"),
        sorts=frozenset(_LIBRARY_KEYS),
        default_sort=(q.SortKey("created_at"),),
        default_limit=20,
        min_limit=1,
        max_limit=100,
        fieldsets={resource: listing.Fieldset(frozenset(out), out)},
    )


# rportd's stored tunnels list: 10 a page, 100 at most, oldest first unless sorted otherwise
STORED_TUNNELS = listing.ListRules(
    filters={
        "name": _PLAIN,
        "scheme": _PLAIN,
        "remote_ip": _PLAIN,
        "remote_port": listing.allowed(q.Op.EQ, q.Op.IN),
    },
    search=("name", "scheme", "remote_ip"),
    sorts=frozenset({"created_at", "name", "scheme", "remote_ip", "remote_port"}),
    default_sort=(q.SortKey("created_at"),),
    default_limit=10,
    min_limit=1,
    max_limit=100,
)


class StoredTunnelBody(Strict):
    """rportd's StoredTunnel; ``id`` and ``created_at`` are read-only (accepted, not used)."""

    name: str = ""
    remote_ip: str = ""
    remote_port: int | None = None
    public_port: int | None = None
    scheme: str = ""
    acl: str | None = None
    further_options: dict[str, Any] = msgspec.field(default_factory=dict)
    id: str | None = None
    created_at: str | None = None


LIBRARY = {"script": _library("scripts", SCRIPT_OUT), "command": _library("commands", COMMAND_OUT)}


# rportd's vault list: unpaginated (page[...] is accepted and has no effect), ascending id
# unless sorted otherwise; created_at also takes the time operators.
VAULT = listing.ListRules(
    filters={
        "id": _PLAIN,
        "client_id": _PLAIN,
        "created_by": _PLAIN,
        "created_at": _TIME | _PLAIN,
        "key": _PLAIN,
    },
    search=("client_id", "created_by", "key"),
    sorts=frozenset({"id", "client_id", "created_by", "created_at", "key"}),
    default_sort=(q.SortKey("id"),),
    min_limit=1,
    max_limit=q.MAX_LIMIT,
)


class VaultPasswordBody(Strict):
    password: str = ""


class VaultEntryBody(Strict):
    client_id: str = ""
    required_group: str = ""
    key: str = ""
    value: str = ""
    type: str = ""


# ---------------------------------------------------------------- alerting (monitoring rules)


class TemplateDataBody(Strict):
    subject: str = ""
    severity: str = ""
    client: str = ""
    webhook_url: str = ""
    custom_data: dict[str, str] | None = None


class TemplateBody(Strict):
    """rport's Template; ``id`` is given on create (generated when absent), never on update."""

    id: str = ""
    transport: str = ""
    subject: str = ""
    body: str = ""
    html: bool = False
    data: TemplateDataBody | None = None
    recipients: list[str] | None = None


class RuleBody(Strict):
    id: str = ""
    severity: str = ""
    expr: str = ""
    actions: list[dict[str, str | list[str]]] | None = None


class RulesetBody(Strict):
    vars: list[str] | None = None
    rules: list[RuleBody] | None = None


class ProblemBody(Strict):
    active: bool


class TestRulesBody(Strict):
    ruleset: RulesetBody | None = None
    templates: list[TemplateBody] | None = None
    client_data: list[dict[str, str | int | float | bool | list[str] | dict[str, str] | None]] | None = None
    measurements: (
        list[
            dict[str, str | int | float | bool | list[dict[str, str | int | float]] | dict[str, float] | None]
        ]
        | None
    ) = None
    delay_ms: float = 0


_TEXT = listing.allowed(q.Op.EQ, q.Op.IN, q.Op.LIKE)
PROBLEM_OUT = (
    "problem_id",
    "rule_id",
    "client_id",
    "client_name",
    "severity",
    "actions",
    "active",
    "created_at",
    "resolved_at",
    "client_update_id",
    "measurement_update_id",
)
PROBLEM_TIMES = frozenset({"created_at", "resolved_at"})
PROBLEMS = listing.ListRules(
    filters={
        "problem_id": _TEXT,
        "rule_id": _TEXT,
        "client_id": _TEXT,
        "client_name": _TEXT,
        "active": listing.allowed(q.Op.EQ, q.Op.IN),
        "created_at": _TIME,
        "resolved_at": _TIME,
    },
    search=("rule_id", "client_id", "client_name"),
    sorts=frozenset({"rule_id", "client_id", "client_name", "active", "created_at", "resolved_at"}),
    default_sort=(q.SortKey("created_at", descending=True),),
    default_limit=50,
    min_limit=1,
    max_limit=500,
    fieldsets={"problems": listing.Fieldset(frozenset(PROBLEM_OUT), PROBLEM_OUT)},
)
NOTIFICATION_OUT = ("notification_id", "state", "transport", "timestamp", "out", "err")
NOTIFICATIONS = listing.ListRules(
    filters={
        "state": _TEXT,
        "reference_id": _TEXT,
        "transport": _TEXT,
        "subject": _TEXT,
        "timestamp": _TIME,
    },
    search=("state", "transport", "subject"),
    sorts=frozenset({"timestamp", "state"}),
    default_sort=(q.SortKey("timestamp", descending=True),),
    default_limit=10,
    min_limit=1,
    max_limit=100,
    fieldsets={"notifications": listing.Fieldset(frozenset(NOTIFICATION_OUT), NOTIFICATION_OUT)},
)
# rportd's monitoring lists: sort by timestamp only (default newest first); timestamp takes
# gt/lt (unix seconds) and since/until (RFC 3339), nothing else.
_MONITORING_TIME = listing.allowed(q.Op.GT, q.Op.LT, q.Op.GE, q.Op.LE)
METRIC_FIELDS = (
    "timestamp",
    "cpu_usage_percent",
    "memory_usage_percent",
    "io_usage_percent",
    "net_lan",
    "net_wan",
)


def _monitoring(
    default_limit: int, max_limit: int, fieldsets: dict[str, listing.Fieldset]
) -> listing.ListRules:
    return listing.ListRules(
        filters={"timestamp": _MONITORING_TIME},
        search=(),
        sorts=frozenset({"timestamp"}),
        max_sort_keys=1,
        default_sort=(q.SortKey("timestamp", descending=True),),
        default_limit=default_limit,
        min_limit=1,
        max_limit=max_limit,
        fieldsets=fieldsets,
    )


METRICS = _monitoring(1, 120, {"metrics": listing.Fieldset(frozenset(METRIC_FIELDS), METRIC_FIELDS[:4])})
MOUNTPOINTS = _monitoring(1, 100, {})
PROCESSES = _monitoring(1, 10, {})
GRAPH = _monitoring(1, q.MAX_LIMIT, {})  # unpaginated: page[...] is accepted and has no effect


class ScheduleTags(Strict):
    tags: list[str] | None = None
    operator: str | None = None


class ScheduleBody(Strict):
    """rportd's Schedule as a request (a PUT gives every field again). ``catch_up`` is this
    server's own: a client offline at the tick runs the missed run when it is back."""

    name: str = ""
    schedule: str = ""
    type: str = ""
    command: str | None = None
    script: str | None = None
    interpreter: str | None = None
    cwd: str | None = None
    is_sudo: bool | None = None
    timeout_sec: int | None = None
    client_ids: list[str] | None = None
    group_ids: list[str] | None = None
    tags: ScheduleTags | None = None
    execute_concurrently: bool | None = None
    abort_on_error: bool | None = None
    overlaps: bool | None = None
    catch_up: bool | None = None
    # read-only fields a client may send back from a GET; ignored
    id: str | None = None
    created_at: str | None = None
    created_by: str | None = None
    last_execution: dict[str, object] | None = None


# rportd's schedule list: page 20 by default and 100 at most, sort and filter on these
SCHEDULE_OUT = (
    "id",
    "created_at",
    "created_by",
    "name",
    "schedule",
    "type",
    "client_ids",
    "group_ids",
    "tags",
    "command",
    "script",
    "interpreter",
    "cwd",
    "is_sudo",
    "timeout_sec",
    "execute_concurrently",
    "abort_on_error",
    "overlaps",
    "catch_up",
    "last_execution",
)
_SCHEDULE_KEYS = ("id", "created_at", "created_by", "name", "type")
SCHEDULES = listing.ListRules(
    filters={k: _TIME if k == "created_at" else _PLAIN for k in _SCHEDULE_KEYS},
    search=("id", "name", "created_by", "type"),
    sorts=frozenset(_SCHEDULE_KEYS),
    default_sort=(q.SortKey("created_at"),),
    default_limit=20,
    min_limit=1,
    max_limit=100,
    fieldsets={"schedules": listing.Fieldset(frozenset(SCHEDULE_OUT), SCHEDULE_OUT)},
)
