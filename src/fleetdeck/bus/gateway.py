"""Core's ``AgentGateway`` port over the bus: request/reply with an agent held by any process.

A call travels like this::

    caller (any process)                     hub of the node holding the agent       agent
      (subscribed once: agent.reply.<process>.*)
      publish agent.request.<node> AgentCall ─▶ not held here: AgentAnswer(unreachable)
                                                held: Request(id) ─────────────────▶ answers
                                                      Reply(ref_id) ◀──────────────── Reply
      agent.reply.<process>.<call> ◀─────────── AgentAnswer(ok | failed)
      nothing there within the timeout: AgentTimeout

A process subscribes to its own reply prefix once, before its first call, and routes answers
to the waiting calls itself: a call costs no subscription of its own (a request to 10,000
agents would otherwise make and drop 10,000 subscriptions, each a round trip to a Redis or NATS
server). The subscription is in place before any request is published, so an answer can never
come too early; the node
comes from ``computers.node_id`` (core looks it up), so with a Redis or NATS bus the request
reaches the right process unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from fleetdeck.bus.base import Bus, Subscription
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
        self._prefix = f"{AGENT_REPLY_PREFIX}{secrets.token_hex(8)}."
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        self._inbox: Subscription | None = None
        self._reader: asyncio.Task[None] | None = None
        self._inbox_loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._bridge.attach()

    async def close(self) -> None:
        self._bridge.detach()
        inbox, reader, self._inbox, self._reader = self._inbox, self._reader, None, None
        if inbox is not None:
            await inbox.close()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _open_inbox(self) -> None:
        """This process's reply subscription, made on the first call (on this event loop)."""
        loop = asyncio.get_running_loop()
        if self._inbox is not None and self._inbox_loop is loop:
            return
        inbox = await self._bus.subscribe(self._prefix + "*", max_pending=100_000)
        if self._inbox is not None and self._inbox_loop is loop:  # another call was first
            await inbox.close()
            return
        self._inbox, self._inbox_loop = inbox, loop
        self._reader = asyncio.create_task(self._route(inbox))

    async def _route(self, inbox: Subscription) -> None:
        async for topic, payload in inbox:
            waiting = self._waiting.pop(topic, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(payload)

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
        await self._open_inbox()
        reply_to = self._prefix + secrets.token_hex(8)
        answered: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[reply_to] = answered
        try:
            call = AgentCall(reply_to, cid, kind, timeout, dict(body))
            await self._bus.publish(agent_request_topic(to.node_id), encode(call))
            payload = await asyncio.wait_for(answered, timeout)
        except TimeoutError:
            raise AgentTimeout(
                f"computer {cid} did not answer within {timeout:g} s", computer_id=cid
            ) from None
        finally:
            self._waiting.pop(reply_to, None)
        try:
            answer = ANSWER.decode(payload)
        except msgspec.DecodeError:
            raise AgentFailed(f"computer {cid}: unreadable answer from its server", computer_id=cid) from None
        if answer.outcome == "ok":
            return answer.body
        detail = {"computer_id": cid, "reason": answer.reason}
        if answer.outcome == "unreachable":
            raise AgentUnreachable(f"computer {cid}: {answer.error}", **detail)
        raise AgentFailed(f"computer {cid}: {answer.error}", **detail)
