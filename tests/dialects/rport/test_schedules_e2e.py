"""A schedule run by the ``schedules.run`` duty of a real server process on a real agent: a
``* * * * *`` schedule made over rportd's API, its next tick moved to now (the short path: no
waiting for the minute), then the run found under ``GET /commands?filter[schedule_id]=``,
with the job's output from the agent and the schedule's ``last_execution``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, update

from fleetdeck.storage.tables import Schedule
from tests.e2e.conftest import ADMIN_PASSWORD, ServerProc, agent_factory, enrolled_as, server, server_factory
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e
__all__ = ["agent_factory", "server", "server_factory"]  # fixtures
API = "/rport/api/v1"


def test_a_schedule_runs_on_a_real_agent(server: ServerProc, agent_factory: Any) -> None:
    agent = agent_factory(server, "alpha")
    enrolled_as(server, agent, "alpha")
    with httpx.Client(base_url=server.url + API, auth=("admin", ADMIN_PASSWORD), timeout=15) as c:

        def connected() -> str | None:
            rows = c.get("/clients", params={"filter[connection_state]": "connected"}).json()["data"]
            return rows[0]["id"] if rows else None

        uid = wait_for(connected, 30, what="the agent connected")
        body = {
            "name": "every minute",
            "schedule": "* * * * *",
            "type": "command",
            "command": "echo tick-$((20+22)); echo '<summary>scheduled</summary>'",
            "client_ids": [uid],
            "timeout_sec": 30,
        }
        r = c.post("/schedules", json=body)
        assert r.status_code == 201, r.text
        sid = r.json()["data"]["id"]
        engine = create_engine(server.env["FLEETDECK_DATABASE_URL"])
        try:
            with engine.begin() as conn:
                conn.execute(
                    update(Schedule).where(Schedule.uid == sid).values(next_run_at=datetime.now(UTC))
                )
        finally:
            engine.dispose()

        def finished() -> dict[str, Any] | None:
            runs = c.get("/commands", params={"filter[schedule_id]": sid}).json()["data"]
            if not runs:
                return None
            multi: dict[str, Any] = c.get(f"/commands/{runs[0]['jid']}").json()["data"]
            return multi if multi["jobs"] and multi["jobs"][0]["status"] != "running" else None

        try:
            run = wait_for(finished, 60, what="the scheduled run finished on the agent")
        except AssertionError:
            raise AssertionError(server.log_path.read_text()[-3000:] + agent.log()[-2000:]) from None
        [job] = run["jobs"]
        assert (run["schedule_id"], run["created_by"], job["schedule_id"]) == (sid, "admin", sid)
        assert job["status"] == "successful" and job["client_id"] == uid
        assert job["result"]["stdout"].startswith("tick-42")
        last = c.get(f"/schedules/{sid}").json()["data"]["last_execution"]
        assert (last["client_count"], last["success_count"], last["status"], last["summary"]) == (
            1,
            1,
            "successful",
            "scheduled",
        )
