"""Post actions after a package job: restart or shut down the computer, restart the agent.

With ``simulate`` (``--simulate-power-actions`` or ``FLEETDECK_AGENT_SIMULATE_POWER=1``) they
are only logged ("would restart ..."): tests and development setups use that.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys

log = logging.getLogger(__name__)

NONE, RESTART, SHUTDOWN, AGENT_RESTART = 0, 1, 2, 3
SIMULATE_ENV = "FLEETDECK_AGENT_SIMULATE_POWER"


def simulate_from_env() -> bool:
    return os.environ.get(SIMULATE_ENV, "").strip().lower() in ("1", "true", "yes")


def _system_command(action: int, minutes: int) -> list[str]:
    if sys.platform == "win32":
        flag = "/r" if action == RESTART else "/s"
        return ["shutdown", flag, "/t", str(minutes * 60)]
    flag = "-r" if action == RESTART else "-h"
    return ["shutdown", flag, f"+{minutes}"]


class PowerActions:
    def __init__(self, simulate: bool) -> None:
        self.simulate = simulate
        self.performed: list[tuple[int, int]] = []  # (action, minutes), for tests and logs

    async def run(self, action: int, minutes: int) -> None:
        if action == NONE:
            return
        what = {
            RESTART: "restart the computer",
            SHUTDOWN: "shut down the computer",
            AGENT_RESTART: "restart the agent",
        }.get(action)
        if what is None:
            log.warning("unknown post action %s; ignoring it", action)
            return
        self.performed.append((action, minutes))
        if self.simulate:
            log.info("post action: would %s in %d min (power actions are simulated)", what, minutes)
            return
        log.warning("post action: %s in %d min", what, minutes)
        if action == AGENT_RESTART:
            asyncio.get_running_loop().call_later(minutes * 60, _reexec)
            return
        try:
            await asyncio.to_thread(subprocess.run, _system_command(action, minutes), check=False, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            log.error("post action failed: %s", exc)


def _reexec() -> None:  # pragma: no cover - replaces the process
    log.warning("restarting the agent now")
    os.execv(sys.executable, [sys.executable, *sys.argv])  # noqa: S606 - the same agent, same arguments
