"""The data directory and the SQLite database are private to the server's user by default."""

from __future__ import annotations

import stat
from pathlib import Path

from fleetdeck.app import build_runtime
from fleetdeck.settings import Settings
from tests.conftest import CHEAP_ARGON2, SECRET


def test_a_new_data_dir_and_database_are_private(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    rt = build_runtime(Settings(data_dir=data, secret_key=SECRET, **CHEAP_ARGON2))
    try:
        rt.services.users.count()  # the database exists and works
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for name in ("fleetdeck.db", "fleetdeck.db-wal", "fleetdeck.db-shm"):
            path = data / name
            if path.exists():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        assert (data / "fleetdeck.db").exists()
    finally:
        rt.db.dispose()
