"""One caller cannot starve the others (issue #11): 45 parallel opsi ``sleep`` calls from one
user held every worker thread and made an admin's request wait 22 s. Each caller now gets at
most ``per_caller`` (8) threads; the rest of its requests wait without holding one."""

from __future__ import annotations

import asyncio

import httpx

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.settings import Settings
from tests.dialects.opsi.conftest import PASSWORD, basic, token_of
from tests.live_server import LiveServer, running
from tests.waiting import async_wait_for

PARALLEL = 45
NAP = 1.0  # seconds per sleep call: 45 calls at 8 at a time need six rounds


def rpc(method: str, *params: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}


def test_a_caller_flooding_sleep_does_not_hold_up_another(
    settings: Settings, runtime: Runtime, admin: Actor, system: Actor
) -> None:
    user = runtime.services.users.create(system, "flood", PASSWORD, Role.VIEWER)
    flood = basic("flood", token_of(runtime, Actor(user_id=user.id, username="flood", role=Role.VIEWER)))
    boss = basic("admin", token_of(runtime, admin))

    async def scenario(live: LiveServer) -> tuple[int, dict[str, object]]:
        done = 0
        limits = httpx.Limits(max_connections=PARALLEL + 5)
        async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as client:

            async def nap() -> None:
                nonlocal done
                r = await client.post("/rpc", json=rpc("sleep", NAP), headers={"Authorization": flood})
                assert r.status_code == 200 and r.json()["result"] is None, r.text
                done += 1

            naps = [asyncio.create_task(nap()) for _ in range(PARALLEL)]
            limits_of = live.app.state.caller_limits
            await async_wait_for(  # the whole flood is in, running or waiting for its share
                lambda: sum(limits_of.in_flight().values()) == PARALLEL, what="the flood in flight"
            )
            r = await client.post("/rpc", json=rpc("backend_info"), headers={"Authorization": boss})
            flood_left = sum(limits_of.in_flight().values())  # counted by the server
            await asyncio.gather(*naps)
            assert done == PARALLEL  # the flood is slowed, never refused
            return flood_left, r.json()

    with running(settings, runtime) as live:
        flood_left, answer = asyncio.run(scenario(live))
    assert "result" in answer and answer.get("error") is None, answer
    # Without a per-caller share the admin's call waits for a thread until the first 40 naps are
    # over (5 left); with it, the admin gets a thread at once, while most of the flood waits.
    assert flood_left > 20, flood_left
