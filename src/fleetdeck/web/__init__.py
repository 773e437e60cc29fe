"""The web UI: server-rendered Jinja2 pages with htmx, mounted at ``/`` by the composition root.

Like every transport it only translates: it reads the form or the query string, makes core
calls as the logged-in user (``Actor`` with ``via="web"``), and renders the values core returns.
Authorisation and audit stay in core, so a viewer's request for a write is refused by the same
check as on ``/api/v1``; the pages merely hide buttons the user's role cannot use.

Import contract (pyproject.toml): ``fleetdeck.web`` imports core and the api kit, never a
dialect, ``/api/v1`` or storage.
"""

from __future__ import annotations

from fleetdeck.web.app import VIA, create_web

__all__ = ["VIA", "create_web"]
