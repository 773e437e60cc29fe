"""Core's ``AgentGateway`` port over the bus: request/reply with an agent held by any process.

A call travels like this::

    caller (any process)                     hub of the node holding the agent       agent
      subscribe agent.reply.<token>
      publish agent.request.<node> AgentCall ─▶ not held here: AgentAnswer(unreachable)
                                                held: Request(id) ─────────────────▶ answers
                                                      Reply(ref_id) ◀──────────────── Reply
      agent.reply.<token> ◀──────────────────── AgentAnswer(ok | failed)
      nothing there within the timeout: AgentTimeout

The caller subscribes before it publishes, so an answer can never come too early; the node
comes from ``computers.node_id`` (core looks it up), so with a Redis or NATS bus the request
reaches the right process unchanged.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from fleetdeck.bus.base import Bus
from fleetdeck.bus.bridge import LoopBridge
from fleetdeck.bus.topics import AGENT_REPLY_PREFIX, agent_request_topic
from fleetdeck.core.errors import AgentFailed, AgentTimeout, AgentUnreachable, FleetdeckError
from fleetdeck.core.ports import AgentAddress


class AgentCall(msgspec.Struct, frozen=True):
    """A request for the hub holding ``computer_id``; answered on ``reply_to``."""

    reply_to: str
    computer_id: int
    kind: str
    timeout: float  # the caller's; the hub forgets the call a little after it
    body: dict[str, Any] = msgspec.field(default_factory=dict)


class AgentAnswer(msgspec.Struct, frozen=True, omit_defaults=True):
    outcome: Literal["ok", "failed", "unreachable"]
    body: dict[str, Any] = msgspec.field(default_factory=dict)
    error: str = ""
    reason: str = ""  # not_held, disconnected, unsupported, agent


CALL = msgspec.json.Decoder(AgentCall)
ANSWER = msgspec.json.Decoder(AgentAnswer)
encode = msgspec.json.encode


class BusAgentGateway:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._bridge = LoopBridge()

    async def start(self) -> None:
        self._bridge.attach()

    async def close(self) -> None:
        self._bridge.detach()

    def request(self, to: AgentAddress, kind: str, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        return self._bridge.run(self.arequest(to, kind, body, timeout), timeout)

    def request_many(
        self, to: Sequence[AgentAddress], kind: str, body: Mapping[str, Any], timeout: float
    ) -> dict[int, dict[str, Any] | FleetdeckError]:
        return self._bridge.run(self._many(to, kind, body, timeout), timeout)

    async def _many(
        self, to: Sequence[AgentAddress], kind: str, body: Mapping[str, Any], timeout: float
    ) -> dict[int, dict[str, Any] | FleetdeckError]:
        answers = await asyncio.gather(
            *(self.arequest(a, kind, body, timeout) for a in to), return_exceptions=True
        )
        out: dict[int, dict[str, Any] | FleetdeckError] = {}
        for address, answer in zip(to, answers, strict=True):
            if isinstance(answer, BaseException) and not isinstance(answer, FleetdeckError):
                raise answer
            out[address.computer_id] = answer
        return out

    async def arequest(
        self, to: AgentAddress, kind: str, body: Mapping[str, Any], timeout: float
    ) -> dict[str, Any]:
        cid = to.computer_id
        reply_to = AGENT_REPLY_PREFIX + secrets.token_hex(12)
        inbox = await self._bus.subscribe(reply_to, max_pending=4)
        try:
            call = AgentCall(reply_to, cid, kind, timeout, dict(body))
            await self._bus.publish(agent_request_topic(to.node_id), encode(call))
            item = await inbox.get(timeout)
        finally:
            await inbox.close()
        if item is None:
            raise AgentTimeout(f"computer {cid} did not answer within {timeout:g} s", computer_id=cid)
        try:
            answer = ANSWER.decode(item[1])
        except msgspec.DecodeError:
            raise AgentFailed(f"computer {cid}: unreadable answer from its server", computer_id=cid) from None
        if answer.outcome == "ok":
            return answer.body
        detail = {"computer_id": cid, "reason": answer.reason}
        if answer.outcome == "unreachable":
            raise AgentUnreachable(f"computer {cid}: {answer.error}", **detail)
        raise AgentFailed(f"computer {cid}: {answer.error}", **detail)
