"""What an idle agent has imported (issue #20: the agent-only install should stay small).

Pins *which* modules an agent process loads to connect and serve, not its memory (a figure
that depends on the machine; bench/agent_rss.py measures it): each name below costs resident
memory for the agent's whole life and is needed only by the server, or only when a package
is downloaded or unpacked.
"""

from __future__ import annotations

import subprocess
import sys

# what the long-running agent imports: the CLI entry point, the connection loop, enrollment,
# inventory collection and job running
AGENT_MODULES = (
    "fleetdeck.agent.main",
    "fleetdeck.agent.connection",
    "fleetdeck.agent.enroll",
    "fleetdeck.agent.collectors",
    "fleetdeck.agent.jobs",
)

NOT_AT_IDLE = (
    # the server's stack
    "pydantic",
    "sqlalchemy",
    "fastapi",
    "starlette",
    "httpx",
    "fleetdeck.core",
    "fleetdeck.api",
    "fleetdeck.storage",
    # the websockets library: the agent's client is wsproto (fleetdeck.agent.wsclient)
    "websockets",
    # pulled in by websockets or a version lookup; several MiB between them
    "importlib.metadata",
    "urllib.request",
    "email",
    # only while a package payload is downloaded or unpacked
    "http.client",
    "zipfile",
    # only while an agent release is verified (agent.update); never the compiled library
    "fleetdeck.agent.ed25519",
    "cryptography",
)


def test_an_idle_agent_imports_none_of_the_heavy_modules() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {AGENT_MODULES!r}: importlib.import_module(name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.split()
    )
    assert set(AGENT_MODULES) <= loaded  # the probe did import the agent
    heavy = sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in NOT_AT_IDLE))
    assert heavy == []


def test_the_version_read_from_the_dist_info_name_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    from fleetdeck.agent import AGENT_VERSION

    assert version("fleetdeck") == AGENT_VERSION  # this venv holds the server's distribution
