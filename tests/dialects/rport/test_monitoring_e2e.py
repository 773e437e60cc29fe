"""Monitoring end to end: a real server process told ``monitoring.interval_sec = 1``, a real
agent process that learns the interval from its Welcome and sends Measurement frames measured
with psutil, and rportd's routes returning what it sent (metrics, mountpoints, processes,
graph-metrics). Then monitoring switched off: the routes answer 404 ``monitoring disabled``."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ADMIN_PASSWORD, agent_factory, enrolled_agent, server, server_factory
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e
__all__ = ["agent_factory", "server", "server_factory"]  # fixtures
API = "/rport/api/v1"


def test_a_real_agent_sends_measurements_the_rport_routes_return(server: Any, agent_factory: Any) -> None:
    with server.client() as v1:
        r = v1.put("/settings/monitoring.interval_sec", json={"value": 1})
        assert r.status_code == 200, r.text
    agent, cid = enrolled_agent(server, agent_factory)
    with server.client() as v1:
        uid = v1.get(f"/computers/{cid}").json()["data"]["uid"]
    with httpx.Client(base_url=server.url + API, auth=("admin", ADMIN_PASSWORD), timeout=15) as c:

        def three() -> dict[str, Any] | None:
            body: dict[str, Any] = c.get(f"/clients/{uid}/metrics", params={"page[limit]": 120}).json()
            return body if body.get("meta", {}).get("count", 0) >= 3 else None

        try:
            body = wait_for(three, 30, what="three measurements from the real agent")
        except AssertionError:
            raise AssertionError(agent.log()[-3000:]) from None
        newest = body["data"][0]
        assert 0 <= newest["cpu_usage_percent"] <= 100 and 0 < newest["memory_usage_percent"] <= 100
        stamps = [d["timestamp"] for d in body["data"]]
        assert stamps == sorted(stamps, reverse=True)

        mounts = c.get(f"/clients/{uid}/mountpoints").json()["data"][0]["mountpoints"]
        assert mounts["total_b_/"] > 0 and 0 <= mounts["free_b_/"] <= mounts["total_b_/"]
        procs = c.get(f"/clients/{uid}/processes").json()["data"][0]["processes"]
        assert 0 < len(procs) <= 30 and all(p["pid"] > 0 for p in procs)

        now = int(time.time())
        window = {"filter[timestamp][gt]": now - 2 * 3600, "filter[timestamp][lt]": now + 60}
        graph = c.get(f"/clients/{uid}/graph-metrics", params=window).json()
        assert graph["data"] and graph["data"][0]["cpu_usage_percent"]["max"] >= 0
        lan = c.get(f"/clients/{uid}/graph-metrics/net_usage_bps_lan", params=window)
        assert lan.status_code == 200 and lan.json()["data"][0]["net_usage_bps_lan"]["in_min"] >= 0

        with server.client() as v1:
            assert v1.put("/settings/monitoring.enabled", json={"value": False}).status_code == 200
        r = c.get(f"/clients/{uid}/metrics")
        assert r.status_code == 404 and r.json()["errors"][0]["title"] == "monitoring disabled"
