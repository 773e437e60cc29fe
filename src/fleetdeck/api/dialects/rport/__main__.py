"""``python -m fleetdeck.api.dialects.rport > docs/compat/rport.md``: the compatibility table."""

from __future__ import annotations

import sys

from fleetdeck.api.dialects.rport.compat import document

sys.stdout.write(document())
