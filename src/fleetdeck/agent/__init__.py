"""The fleetdeck agent: a small, long-running process on every managed computer.

It talks to the server only through :mod:`fleetdeck.protocol` (import-linter enforces that),
so it stays lean (no pydantic, SQLAlchemy or web framework) and ships on its own: the
``fleetdeck-agent`` wheel (``fleetdeck.core.agentdist``, ``make agent-wheel``) holds only
``fleetdeck.agent`` and ``fleetdeck.protocol``.
"""

from __future__ import annotations


def _version() -> str:
    # importlib.metadata is cheap and keeps the agent's version in one place (pyproject): the
    # server's distribution, or the agent-only one (``fleetdeck-agent``, built from it).
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("fleetdeck", "fleetdeck-agent"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "0.0.0+unknown"  # running from a source tree that was never installed


AGENT_VERSION = _version()

__all__ = ["AGENT_VERSION"]
