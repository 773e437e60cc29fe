"""The fleetdeck agent: a small, long-running process on every managed computer.

It talks to the server only through :mod:`fleetdeck.protocol` (import-linter enforces that),
so it stays lean (no pydantic, SQLAlchemy or web framework) and ships on its own: the
``fleetdeck-agent`` wheel (``fleetdeck.core.agentdist``, ``make agent-wheel``) holds only
``fleetdeck.agent`` and ``fleetdeck.protocol``.
"""

from __future__ import annotations

_DISTS = ("fleetdeck", "fleetdeck_agent")


def _version() -> str:
    """The installed distribution's version: the server's (``fleetdeck``) or the agent-only one
    (``fleetdeck-agent``, built from it), so that it lives in one place (pyproject).

    Read from the ``<name>-<version>.dist-info`` directory name on ``sys.path`` rather than with
    ``importlib.metadata``: that module (and the ``email``, ``zipfile``, ``csv`` ... it imports)
    would cost the agent ~2.7 MiB of resident memory for one string (issue #20).
    """
    import os
    import sys

    # In sys.path order: the first entry with either distribution is where ``fleetdeck`` is
    # imported from (a release in the state dir's ``versions/`` comes before the installed one).
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            stem, sep, version = name.removesuffix(".dist-info").rpartition("-")
            if name.endswith(".dist-info") and sep and stem.lower().replace("-", "_") in _DISTS:
                return version
    return "0.0.0+unknown"  # running from a source tree that was never installed


AGENT_VERSION = _version()

__all__ = ["AGENT_VERSION"]
