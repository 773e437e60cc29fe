"""opsi's object model over fleetdeck's: one ``Adapter`` per object family (hosts, groups, ...)
and generic code that turns it into opsi's ten CRUD methods with opsi's filter rules.

To add a family: write an ``Adapter`` (``list``, ``insert``, ``update``, ``delete``; rows are
plain dicts in opsi's attribute names with ``type``) and call ``crud.register(prefix, adapter)``
from a module in ``methods/``.
"""
