"""Jobs of kind ``action``: reboot or shut down this computer, or show its users a message.

The result is reported *before* a reboot or shutdown starts, so the server knows it was
accepted even though the connection is about to go. With simulated power actions (tests,
development machines) nothing is rebooted and no message reaches a terminal: the agent only
logs what it would do, and the job's output says so.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time

from fleetdeck.agent.power import RESTART, SHUTDOWN, PowerActions
from fleetdeck.protocol import messages as m

log = logging.getLogger(__name__)

KIND = "action"
POWER = {"reboot": RESTART, "shutdown": SHUTDOWN}


def _result(job: m.JobSpec, status: m.AgentJobStatus, out: str = "", message: str = "") -> m.JobResult:
    return m.JobResult(
        job_id=job.id,
        status=status,
        exit_code=0 if status == "succeeded" else 1,
        stdout=out,
        finished_at=time.time(),
        message=message,
    )


async def show_message(text: str, simulate: bool) -> tuple[bool, str]:
    """Write ``text`` to every logged-in terminal with ``wall`` (Linux/macOS). Desktop
    notifications need the user's session bus and are left to a later collector."""
    if simulate:
        log.info("message: would show %r to the logged-in users (simulated)", text)
        return True, f"would show: {text}"
    wall = shutil.which("wall")
    if wall is None:
        return False, "no way to show a message on this computer (wall not found)"
    try:
        proc = await asyncio.to_thread(
            subprocess.run, [wall], input=text.encode(), capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"wall failed: {exc}"
    if proc.returncode != 0:
        return False, proc.stderr.decode(errors="replace").strip() or f"wall exited {proc.returncode}"
    return True, "shown"


async def run(job: m.JobSpec, power: PowerActions) -> tuple[m.JobResult, tuple[int, int] | None]:
    """Returns the result and, for reboot/shutdown, the power action to start after reporting."""
    action = str(job.params.get("action", ""))
    if action in POWER:
        minutes = int(job.params.get("delay_min", 0) or 0)
        note = "simulated: " if power.simulate else ""
        return _result(job, "succeeded", f"{note}{action} in {minutes} min"), (POWER[action], minutes)
    if action == "message":
        ok, out = await show_message(str(job.params.get("message", "")), power.simulate)
        return (_result(job, "succeeded", out) if ok else _result(job, "failed", message=out)), None
    return _result(job, "failed", message=f"unknown action: {action!r}"), None
