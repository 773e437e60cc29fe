"""Inventory collectors, one per platform, chosen by ``sys.platform``.

Collection is blocking (file reads, ``dpkg-query``, a possibly slow reverse DNS lookup in
``getfqdn``), so the agent always calls :func:`collect` through ``asyncio.to_thread``.
Modules are imported lazily so that an agent only loads its own platform's code.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from fleetdeck.protocol import messages as m

Collector = Callable[[], m.Inventory]

# sys.platform prefix -> module defining ``collect() -> Inventory``.
REGISTRY: dict[str, str] = {
    "linux": "fleetdeck.agent.collectors.linux",
    "win32": "fleetdeck.agent.collectors.windows",
    "darwin": "fleetdeck.agent.collectors.darwin",
}
FALLBACK = "fleetdeck.agent.collectors.common"


def get_collector(platform: str | None = None) -> Collector:
    platform = sys.platform if platform is None else platform
    module_name = next((mod for prefix, mod in REGISTRY.items() if platform.startswith(prefix)), FALLBACK)
    collect_fn: Collector = importlib.import_module(module_name).collect
    return collect_fn


def collect() -> m.Inventory:
    """Inventory of the machine this process runs on (blocking)."""
    return get_collector()()


def digest(inventory: m.Inventory) -> str:
    return m.inventory_digest(inventory)
