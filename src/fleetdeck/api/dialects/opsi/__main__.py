"""``python -m fleetdeck.api.dialects.opsi > docs/compat/opsi.md``: the compatibility table."""

from __future__ import annotations

import sys

from fleetdeck.api.dialects.opsi import compat_document

sys.stdout.write(compat_document())
