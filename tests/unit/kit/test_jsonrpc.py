"""The kit's JSON-RPC engine with the default (plain JSON-RPC 2.0) policy: batches, ids,
notifications, per-element errors and the callers' shares of worker threads."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from fleetdeck.api.kit.concurrency import CallerLimits
from fleetdeck.api.kit.jsonrpc import Call, Engine, InvalidParams, InvalidRequest, MethodNotFound, Policy
from fleetdeck.api.kit.registry import ParamsInvalid, Registry

METHODS = Registry("toy")
CODES = {InvalidRequest: -32600, MethodNotFound: -32601, InvalidParams: -32602, ParamsInvalid: -32602}


@METHODS.method("math.add")
def add(ctx: list[str], a: int, b: int = 1) -> int:
    ctx.append(f"add {a} {b}")
    return a + b


@METHODS.method("boom")
def boom(ctx: list[str]) -> None:
    ctx.append("boom")
    raise RuntimeError("exploded")


class Toy(Policy[list[str]]):
    registry = METHODS

    def error(self, ctx: list[str] | None, call: Call | None, element: Any, exc: BaseException) -> Any:
        code = next((c for cls, c in CODES.items() if isinstance(exc, cls)), -32603)
        return {
            "jsonrpc": "2.0",
            "error": {"code": code, "message": str(exc)},
            "id": call.id if call else None,
        }


def run(payload: Any, ctx: list[str] | None = None) -> Any:
    engine = Engine(Toy(), CallerLimits())
    answer = anyio.run(engine.handle, ctx if ctx is not None else [], payload, "caller")
    return None if answer.empty else answer.body


def req(method: str, params: Any = None, rid: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params, "id": rid}


def test_a_call_answers_its_result_with_the_id_echoed_exactly() -> None:
    for rid in (7, "7", "0", -3, "abc"):
        assert run(req("math.add", {"a": 2}, rid)) == {"jsonrpc": "2.0", "result": 3, "id": rid}
    assert run(req("math.add", [2, 5]))["result"] == 7


def test_a_batch_answers_in_order_and_each_element_fails_on_its_own() -> None:
    log: list[str] = []
    answers = run(
        [
            req("math.add", {"a": 1}, 1),
            req("boom", None, 2),
            req("nope", None, 3),
            req("math.add", [4, 4], 4),
        ],
        log,
    )
    assert [a["id"] for a in answers] == [1, 2, 3, 4]
    assert answers[0]["result"] == 2 and answers[3]["result"] == 8
    assert answers[1]["error"]["code"] == -32603
    assert answers[2]["error"]["code"] == -32601
    assert log == ["add 1 1", "boom", "add 4 4"]  # the failures stopped nothing after them


def test_notifications_run_but_get_no_answer() -> None:
    log: list[str] = []
    note = {"jsonrpc": "2.0", "method": "math.add", "params": {"a": 1}}
    assert run(note, log) is None  # no body at all
    assert log == ["add 1 1"]
    answers = run([note, req("math.add", {"a": 2}, 9), {"jsonrpc": "2.0", "method": "boom"}], log)
    assert answers == [{"jsonrpc": "2.0", "result": 3, "id": 9}]  # even a failing notification is silent
    assert run([note, note]) is None


def test_bad_elements_are_their_own_errors() -> None:
    answers = run([1, {"jsonrpc": "1.0", "method": "math.add", "id": 5}, {"jsonrpc": "2.0", "id": 6}])
    assert [a["error"]["code"] for a in answers] == [-32600, -32600, -32600]
    assert run([]) == {"jsonrpc": "2.0", "error": {"code": -32600, "message": "empty batch"}, "id": None}


def test_parameters_are_validated_against_the_declaration() -> None:
    assert run(req("math.add", {"a": "x"}))["error"]["code"] == -32602
    assert run(req("math.add", {}))["error"]["code"] == -32602  # a is required
    assert run(req("math.add", [1, 2, 3]))["error"]["code"] == -32602  # too many positionals
    assert run(req("math.add", "text"))["error"]["code"] == -32602  # neither object nor list


def test_one_callers_requests_wait_for_its_own_slots_only() -> None:
    """A caller with one slot runs one request at a time; another caller is not held up."""
    limits = CallerLimits(workers=4, per_caller=1)
    started = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def slow() -> str:
        order.append("slow start")
        started.set()
        assert release.wait(10)
        order.append("slow end")
        return "slow"

    def quick(name: str) -> str:
        order.append(name)
        return name

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(limits.run, "alice", slow)
            await anyio.to_thread.run_sync(started.wait, 10)
            tg.start_soon(limits.run, "alice", lambda: quick("alice again"))
            # bob is not behind alice's busy slot
            assert await limits.run("bob", lambda: quick("bob")) == "bob"
            assert limits.in_flight() == {"alice": 2}
            release.set()
        assert limits.in_flight() == {}

    anyio.run(main)
    assert order == ["slow start", "bob", "slow end", "alice again"]


@pytest.mark.parametrize("per_caller", [1, 3])
def test_caller_slots_bound_the_threads_in_use(per_caller: int) -> None:
    limits = CallerLimits(workers=8, per_caller=per_caller)
    active = 0
    peak = 0
    lock = threading.Lock()
    gate = threading.Barrier(per_caller, timeout=10)

    def work() -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        gate.wait()  # all of one wave are in at once: the limit is reached, never passed
        with lock:
            active -= 1

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(per_caller * 3):
                tg.start_soon(limits.run, "same", work)

    anyio.run(main)
    assert peak == per_caller
