"""One exception tree for the whole domain. Transports map these onto their own envelopes.

FleetdeckError
├── NotFound                 the object does not exist (or the actor may not know it does)
├── Conflict                 the change clashes with existing state (duplicate name, ...)
├── ValidationFailed         the request is well-formed but its meaning is wrong
├── AuthenticationFailed     who you are could not be established
│   └── TooManyAttempts      ... and you must wait before trying again
├── PermissionDenied         you are known but may not do this
├── NotImplementedYet        the operation is declared but not built; says so plainly
├── Unavailable              a dependency (agent, database, bus) cannot be reached now
│   ├── AgentUnreachable     the agent is not connected (to any server process)
│   └── AgentTimeout         the agent is connected but did not answer in time
└── AgentFailed              the agent answered, and its answer is "no" (or it cannot do that)
"""

from __future__ import annotations

from typing import Any


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


class ValidationFailed(FleetdeckError):
    code = "validation_failed"

    def __init__(self, message: str, field: str | None = None, **detail: Any) -> None:
        super().__init__(message, **({"field": field} if field else {}), **detail)
        self.field = field


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


class AgentUnreachable(Unavailable):
    code = "agent_unreachable"


class AgentTimeout(Unavailable):
    code = "agent_timeout"


class AgentFailed(FleetdeckError):
    code = "agent_failed"
