"""Running the ``fleetdeck`` CLI as another process on the test's data directory and database."""

from __future__ import annotations

import os
import subprocess
import sys

from fleetdeck.settings import Settings
from tests.conftest import CHEAP_ARGON2_ENV, SECRET


def fleetdeck(
    settings: Settings, *args: str, python: tuple[str, ...] = ("-m", "fleetdeck")
) -> subprocess.CompletedProcess[str]:
    """``python``: how the interpreter is told to run the CLI (a test may wrap it in ``-c``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETDECK_")}
    env |= {
        "FLEETDECK_DATA_DIR": str(settings.data_dir),
        "FLEETDECK_DATABASE_URL": str(settings.database_url),
        "FLEETDECK_SECRET_KEY": SECRET,
        **CHEAP_ARGON2_ENV,
    }
    return subprocess.run(
        [sys.executable, *python, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
