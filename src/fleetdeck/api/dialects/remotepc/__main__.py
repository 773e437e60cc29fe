"""``python -m fleetdeck.api.dialects.remotepc``: the endpoint table of ``docs/compat/remotepc.md``."""

from fleetdeck.api.dialects.remotepc import compat_table

print(compat_table(), end="")
