"""One JSON-RPC engine for every JSON-RPC dialect (OCO, opsi; i-doit next).

What every JSON-RPC dialect shares is done here once: splitting a batch, running each element
on its own (one element's failure is that element's error object, never the others'), echoing
ids, leaving notifications unanswered, and running the synchronous core in a worker thread
within the caller's share (``concurrency.CallerLimits``). What differs is a ``Policy``, one small
object per dialect (the specs in ``shared/specs/`` disagree on all of these):

================  =====================================  ==================================
hook              default (JSON-RPC 2.0)                  examples of what dialects change
================  =====================================  ==================================
``elements``      a list is a batch, ``[]`` is refused    OCO: any bad element refuses the
                                                          whole request with HTTP 400
``parse``         ``jsonrpc: "2.0"``, ``method``, ``id``   opsi: 1.0 and 2.0, a missing id is 0;
                  (missing = notification)                i-doit: ``version`` or ``jsonrpc``
``admit``         nothing                                 OCO: ``params.api_key``
``lookup``        the registry                            opsi: "not supported" for methods
                                                          of opsi's interface it lacks
``authorize``     nothing                                 opsi: what a client host may call
``arguments``     object -> keywords, list -> positions   OCO: ``params.data``; opsi: a last
                                                          positional ``**filter`` object
``result``        ``{"jsonrpc", "result", "id"}``         OCO: ``{"success", "data"}``
``error``         (abstract)                              each dialect's codes and shapes
``assemble``      list for a batch, bare for one          opsi: a one-element batch is bare
================  =====================================  ==================================

The engine makes no core call itself: the method does, once per element (``methods/``).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fleetdeck.api.kit.concurrency import CallerLimits
from fleetdeck.api.kit.registry import Method, Registry

Ctx = TypeVar("Ctx")


@dataclass(frozen=True, slots=True)
class Call:
    """One request element, parsed."""

    id: Any  # echoed exactly as sent
    method: str
    params: Any
    notification: bool = False
    version: str = "2.0"


@dataclass(frozen=True, slots=True)
class Answer:
    """What the transport sends: a JSON-able ``body`` (``empty`` = no body at all) and a status."""

    body: Any = None
    status: int = 200
    empty: bool = False


class Rejected(Exception):
    """The request as a whole is refused by a batch-level rule; ``answer`` is what to send."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(f"request rejected with {answer.status}")
        self.answer = answer


MAX_BATCH = 10_000


class Policy(abc.ABC, Generic[Ctx]):
    """What one dialect's JSON-RPC looks like. Hooks run in the order of the table above."""

    registry: Registry
    max_batch = MAX_BATCH  # elements in one request: bounds the work (and the answer) of one body

    def elements(self, payload: Any) -> tuple[Sequence[Any], bool]:
        """(elements, is_batch). Raise ``Rejected`` for a request refused as a whole."""
        if isinstance(payload, list):
            if not payload:
                raise Rejected(Answer(self.error(None, None, None, InvalidRequest("empty batch"))))
            return payload, True
        return [payload], False

    def parse(self, element: Any) -> Call:
        if not isinstance(element, dict):
            raise InvalidRequest("a request must be an object")
        if element.get("jsonrpc") != "2.0":
            raise InvalidRequest('"jsonrpc" must be "2.0"')
        method = element.get("method")
        if not isinstance(method, str) or not method:
            raise InvalidRequest('"method" must be a non-empty string')
        return Call(element.get("id"), method, element.get("params"), notification="id" not in element)

    def admit(self, ctx: Ctx, call: Call) -> None:
        """Checks that come before the method is looked up (API keys, params shape)."""

    def lookup(self, call: Call) -> Method:
        method = self.registry.get(call.method)
        if method is None:
            raise MethodNotFound(call.method)
        return method

    def authorize(self, ctx: Ctx, call: Call, method: Method) -> None:
        """Checks that need the method (what kind of caller may call it)."""

    def arguments(self, call: Call, method: Method) -> tuple[Sequence[Any], dict[str, Any]]:
        params = call.params
        if params is None:
            return (), {}
        if isinstance(params, dict):
            return (), {str(k): v for k, v in params.items()}
        if isinstance(params, list):
            return params, {}
        raise InvalidParams("params must be an object or a list")

    def result(self, ctx: Ctx, call: Call, value: Any) -> Any:
        return {"jsonrpc": "2.0", "result": value, "id": call.id}

    @abc.abstractmethod
    def error(self, ctx: Ctx | None, call: Call | None, element: Any, exc: BaseException) -> Any:
        """The error answer for one element; ``call`` is None when the element did not parse."""

    def refuse_batch(self, count: int) -> Answer:
        """The answer to a batch of more than ``max_batch`` elements (none of them runs)."""
        message = f"a batch holds at most {self.max_batch} calls, this one {count}"
        return Answer(self.error(None, None, None, InvalidRequest(message)))

    def assemble(self, answers: list[Any], batch: bool) -> Answer:
        """``answers`` holds None for notifications."""
        kept = [a for a in answers if a is not None]
        if not kept:
            return Answer(empty=True)
        return Answer(kept if batch else kept[0])


class InvalidRequest(Exception):
    """The element is not a valid call of this dialect."""


class MethodNotFound(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"method {name!r} not found")
        self.name = name


class InvalidParams(Exception):
    """``params`` has the wrong shape (binding errors are ``registry.ParamsInvalid``)."""


class Engine(Generic[Ctx]):
    def __init__(self, policy: Policy[Ctx], limits: CallerLimits) -> None:
        self.policy = policy
        self.limits = limits

    def run_one(self, ctx: Ctx, element: Any) -> Any:
        """One element, start to end; every failure becomes its error answer."""
        policy = self.policy
        call: Call | None = None
        try:
            call = policy.parse(element)
            policy.admit(ctx, call)
            method = policy.lookup(call)
            policy.authorize(ctx, call, method)
            args, kwargs = policy.arguments(call, method)
            value = method.invoke(ctx, kwargs, args)
        except Exception as exc:  # each element answers its own failure
            if call is not None and call.notification:
                return None
            return policy.error(ctx, call, element, exc)
        return None if call.notification else policy.result(ctx, call, value)

    def run_all(self, ctx: Ctx, elements: Sequence[Any]) -> list[Any]:
        return [self.run_one(ctx, e) for e in elements]

    async def handle(self, ctx: Ctx, payload: Any, caller: str) -> Answer:
        """Run a decoded request body for ``caller``, within that caller's share of threads."""
        try:
            elements, batch = self.policy.elements(payload)
        except Rejected as rejected:
            return rejected.answer
        if len(elements) > self.policy.max_batch:
            return self.policy.refuse_batch(len(elements))
        answers = await self.limits.run(caller, lambda: self.run_all(ctx, elements))
        return self.policy.assemble(answers, batch)
