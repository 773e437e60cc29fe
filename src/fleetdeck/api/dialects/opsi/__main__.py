"""``python -m fleetdeck.api.dialects.opsi > docs/compat/opsi.md``: the compatibility table."""

from __future__ import annotations

import sys

from fleetdeck.api.dialects.opsi import METHODS
from fleetdeck.api.dialects.opsi.interface import markdown

sys.stdout.write(markdown(list(METHODS)))
