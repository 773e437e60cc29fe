"""The opsi method registry and the context every opsi method receives.

Methods are plain synchronous functions ``def f(ctx: Context, *, param=default, ...)`` declared
with ``@METHODS.method("opsiName")``; the transport runs them in a worker thread. Names and
parameter defaults come from ``shared/specs/opsi-interface.json``; methods fleetdeck does not
answer are not declared here (the transport answers them with opsi's "not supported" error).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fleetdeck.api.kit.registry import Registry
from fleetdeck.core.authz import Actor
from fleetdeck.core.services import Services

METHODS = Registry("opsi")

T = TypeVar("T")


@dataclass
class Context:
    """One call: the services, who calls, and, for a client logged in with its host key, its host id.

    ``run_async`` lets a synchronous method (running in a worker thread) await something on the
    server's event loop, e.g. talking to a connected agent; the transport sets it.
    """

    services: Services
    actor: Actor
    host_id: str | None = None  # set when an opsi client authenticated as itself (host id + host key)
    run_async: Callable[[Callable[[], Awaitable[Any]]], Any] | None = None
    extras: dict[str, Any] | None = None  # transport-provided hooks (e.g. agent hub), by name

    @property
    def is_client(self) -> bool:
        return self.host_id is not None
