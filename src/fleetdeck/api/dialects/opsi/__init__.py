"""The opsi JSON-RPC dialect (``/rpc`` as opsiconfd 4.3 serves it) over fleetdeck's one data model.

``mount(app, services)`` adds the routes. Every method is declared once in ``methods/``.
"""

from __future__ import annotations

from starlette.applications import Starlette

from fleetdeck.api.dialects.opsi import methods as _methods  # noqa: F401  (registers the methods)
from fleetdeck.api.dialects.opsi.registry import METHODS
from fleetdeck.core.services import Services

NAME = "opsi"

__all__ = ["METHODS", "NAME", "mount"]


def mount(app: Starlette, services: Services) -> None:
    """Adds ``/rpc`` and ``/session/logout``. (The transport helper fills this in.)"""
    raise NotImplementedError
