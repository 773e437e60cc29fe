"""Dialects: other products' APIs spoken over fleetdeck's one data model.

Every dialect is a package with the same shape: ``NAME``, ``mount(app, services)``,
``errors.py`` (core errors -> the dialect's envelope) and ``schemas.py`` (protocol spellings).
``rpc.py`` is the method-declaration registry shared by the JSON-RPC dialects. Dialects never
import each other; they only translate (parse, call core, render).
"""
