"""One exception tree for the whole domain. Transports map these onto their own envelopes.

FleetdeckError
├── NotFound                 the object does not exist (or the actor may not know it does)
├── Conflict                 the change clashes with existing state (duplicate name, ...)
├── ValidationFailed         the request is well-formed but its meaning is wrong
│   └── TooLarge             ... more bytes than allowed (a payload beyond the limit)
├── AuthenticationFailed     who you are could not be established
│   └── TooManyAttempts      ... and you must wait before trying again
├── PermissionDenied         you are known but may not do this
├── NotImplementedYet        the operation is declared but not built; says so plainly
├── Unavailable              a dependency (agent, database, bus) cannot be reached now
│   ├── AgentUnreachable     the agent is not connected (to any server process)
│   └── AgentTimeout         the agent is connected but did not answer in time
└── AgentFailed              the agent answered, and its answer is "no" (or it cannot do that)

A ``Reason`` in an error's ``detail["reason"]`` says more precisely why core refused, in core's own
words; each transport maps reasons onto its own codes and texts (a dialect to its client's
message keys), so core never speaks a dialect's vocabulary.
"""

from __future__ import annotations

import enum
from typing import Any


class Reason(enum.StrEnum):
    """Why core refused a request, finer than the exception class. Values are core's own; a
    transport that shows its clients a fixed set of messages maps every member (a test checks)."""

    INVALID = "invalid"  # a value is out of range or malformed (``field`` names it)
    NAME_EMPTY = "name_empty"
    REQUIRED_MISSING = "required_missing"  # a required value is absent or empty
    VERSION_EXISTS = "version_exists"  # the package family already has this version
    END_BEFORE_START = "end_before_start"
    INVALID_IP_RANGE = "invalid_ip_range"
    INVALID_TIME_FRAME = "invalid_time_frame"
    NO_JOBS = "no_jobs"  # a deployment that would create no job at all
    IN_USE_BY_JOBS = "in_use_by_jobs"  # cannot delete: open jobs refer to it
    HAS_DEPENDENTS = "has_dependents"  # cannot delete: other packages depend on it
    NO_MAC_ADDRESS = "no_mac_address"  # cannot wake: no MAC address known
    FAMILY_OR_GROUP_REQUIRED = "family_or_group_required"
    NOT_A_SELECT = "not_a_select"  # a report query that is not a plain SELECT/WITH
    ALL_PENDING = "all_pending"  # a deployment whose every job would repeat a pending one
    PENDING_JOBS = "pending_jobs"  # cannot delete: deployment jobs for it are pending
    NOT_INSTALLED = "not_installed"  # the package family is not installed on the computer
    AMBIGUOUS_NAME = "ambiguous_name"  # a name given to pick one object names several
    NAME_EXISTS = "name_exists"  # the name (a group's, a person's e-mail) is taken or invited
    ACCOUNT_EXISTS = "account_exists"  # the e-mail is the name of an account that is no end user
    ONLINE = "online"  # the computer is online (only offline computers may be removed)
    TOO_MANY = "too_many"  # more items in one request than the operation takes
    EXPIRED = "expired"  # an invitation past its validity
    # tunnels (core.tunnels)
    TUNNEL_EXISTS = "tunnel_exists"  # the same tunnel (remote, local, protocol, ACL) is there
    TUNNEL_TO_PORT_EXISTS = "tunnel_to_port_exists"  # a tunnel to that remote (protocol, ACL) is
    LOCAL_PORT_IN_USE = "local_port_in_use"  # the server port is taken
    REMOTE_PORT_CLOSED = "remote_port_closed"  # the agent cannot connect to the remote address
    ACTIVE_CONNECTIONS = "active_connections"  # cannot delete: connections are open (not forced)


class FleetdeckError(Exception):
    code = "error"

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class NotFound(FleetdeckError):
    code = "not_found"

    def __init__(self, object_type: str, object_id: object) -> None:
        super().__init__(f"{object_type} {object_id} not found", object_type=object_type, object_id=object_id)
        self.object_type = object_type
        self.object_id = object_id


class Conflict(FleetdeckError):
    code = "conflict"


class AgentIncapable(Conflict):
    """The computer's agent cannot do what was asked (a polling agent runs no ad-hoc command);
    ``detail`` names the computer, its agent kind and what its agent can do."""

    code = "agent_incapable"


class ValidationFailed(FleetdeckError):
    code = "validation_failed"

    def __init__(self, message: str, field: str | None = None, **detail: Any) -> None:
        super().__init__(message, **({"field": field} if field else {}), **detail)
        self.field = field


class TooLarge(ValidationFailed):
    """More bytes than allowed: the server's payload limit, or an upload's declared length."""

    code = "too_large"


class AuthenticationFailed(FleetdeckError):
    code = "authentication_failed"


class TooManyAttempts(AuthenticationFailed):
    code = "too_many_attempts"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class PermissionDenied(FleetdeckError):
    code = "permission_denied"


class NotImplementedYet(FleetdeckError):
    code = "not_implemented"


class Unavailable(FleetdeckError):
    code = "unavailable"


class FeatureDisabled(Unavailable):
    """A feature switched off server-wide (e.g. ``monitoring.enabled`` false)."""

    code = "feature_disabled"


class AgentUnreachable(Unavailable):
    code = "agent_unreachable"


class AgentTimeout(Unavailable):
    code = "agent_timeout"


class AgentFailed(FleetdeckError):
    code = "agent_failed"
