"""The fleetdeck agent: a small, long-running process on every managed computer.

It talks to the server only through :mod:`fleetdeck.protocol` (import-linter enforces that),
so it stays lean (no pydantic, SQLAlchemy or web framework; < 40 MB RSS) and can be shipped
on its own.
"""

from __future__ import annotations


def _version() -> str:
    # importlib.metadata is cheap and keeps the agent's version in one place (pyproject).
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fleetdeck")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+unknown"


AGENT_VERSION = _version()

__all__ = ["AGENT_VERSION"]
