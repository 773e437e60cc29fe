"""Dialects: other products' APIs spoken over fleetdeck's one data model.

Every dialect is a package with the same file set (``docs/architecture.md``): ``DIALECT`` in
``__init__.py`` (name, the settings it owns, its sub-application), ``settings.py``,
``envelope.py``, ``registry.py``, ``methods/``, ``render.py``, ``errors.py`` and ``schemas.py``.
What they share is in ``fleetdeck.api.kit``. Dialects never import each other; they only
translate (parse, call core once per request element, render).
"""
