"""``python -m fleetdeck.api.dialects.idoit > docs/compat/idoit.md``: the compatibility table."""

from __future__ import annotations

import sys

from fleetdeck.api.dialects.idoit import compat_document

sys.stdout.write(compat_document())
