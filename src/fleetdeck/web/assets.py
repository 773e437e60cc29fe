"""The browser assets the UI and the API docs load: all served from ``/static/vendor``, never
from a CDN, so both work on a machine without internet.

They are produced by the build (``make assets``: ``npm ci`` and ``tools/web_assets.py``), not
committed; ``assets.json`` lists them. When they are missing (no npm where the server was
built) the server still starts and the pages say so in plain words.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
STATIC_URL = "/static"


def manifest() -> dict[str, str]:
    """File name under ``static/vendor`` -> its source under ``node_modules``."""
    data: dict[str, str] = json.loads((HERE / "assets.json").read_text())
    return data


def missing_assets(vendor_dir: Path = VENDOR_DIR) -> list[str]:
    """Entries not built; a name ending in ``/`` is a folder (noVNC's ES modules)."""
    return sorted(
        name
        for name in manifest()
        if not ((vendor_dir / name).is_dir() if name.endswith("/") else (vendor_dir / name).is_file())
    )


def vendor_url(name: str) -> str:
    return f"{STATIC_URL}/vendor/{name}"
