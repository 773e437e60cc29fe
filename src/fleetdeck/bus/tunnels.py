"""Core's ``TunnelListeners`` port over the bus: the listener of a tunnel is opened and closed
in the server process (node) that holds the computer's agent, because its streams travel over
that agent's connection.

The calls go the way of ``AgentGateway`` requests (``agent.request.<node>``, answered on this
process's reply topic), with kinds the hub answers itself instead of forwarding them to the
agent (``LISTEN``, ``UNLISTEN``, ``SET_ACL``): so a tunnel made through any server process is
served by the right one, with a Redis or NATS bus as with the local one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from fleetdeck.core.errors import AgentFailed, Conflict, Reason, ValidationFailed
from fleetdeck.core.ports import AgentAddress, AgentGateway, TunnelPlan

LISTEN = "server.tunnel.listen"
UNLISTEN = "server.tunnel.unlisten"
SET_ACL = "server.tunnel.acl"
KINDS = frozenset({LISTEN, UNLISTEN, SET_ACL})
TIMEOUT_SEC = 5.0
# AgentAnswer reasons of the hub's refusals
PORT_IN_USE = "port_in_use"
ACTIVE = "active_connections"
UNSUPPORTED = "unsupported"


def plan_body(plan: TunnelPlan) -> dict[str, Any]:
    body = dataclasses.asdict(plan)
    body["acl"] = list(plan.acl)
    return body


def plan_of(body: dict[str, Any]) -> TunnelPlan:
    return TunnelPlan(**{**body, "acl": tuple(body.get("acl", ()))})


class BusTunnelListeners:
    def __init__(self, gateway: AgentGateway) -> None:
        self._gateway = gateway

    def _call(self, to: AgentAddress, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._gateway.request(to, kind, body, TIMEOUT_SEC)
        except AgentFailed as exc:
            reason = exc.detail.get("reason")
            if reason == PORT_IN_USE:
                raise Conflict(exc.message, reason=Reason.LOCAL_PORT_IN_USE, field="local") from None
            if reason == ACTIVE:
                raise Conflict(exc.message, reason=Reason.ACTIVE_CONNECTIONS) from None
            if reason == UNSUPPORTED:  # its agent predates tunnels, or UDP tunnels
                raise ValidationFailed(exc.message, "protocol", reason=Reason.INVALID) from None
            raise

    def listen(self, to: AgentAddress, plan: TunnelPlan) -> None:
        self._call(to, LISTEN, plan_body(plan))

    def unlisten(self, to: AgentAddress, key: str, force: bool) -> int:
        answer = self._call(to, UNLISTEN, {"key": key, "force": force})
        return int(answer.get("closed", 0))

    def set_acl(self, to: AgentAddress, key: str, acl: Sequence[str]) -> None:
        self._call(to, SET_ACL, {"key": key, "acl": list(acl)})
