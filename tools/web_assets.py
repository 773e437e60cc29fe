"""Copy the web UI's browser assets from node_modules (``npm ci``) into the package.

The list is ``src/fleetdeck/web/assets.json`` (file name in ``static/vendor`` -> path under
``node_modules``), the same list the server checks at start to say which assets are missing.
Run by ``make assets``; the copies are git-ignored and included in the wheel (hatch artifacts).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "src" / "fleetdeck" / "web"


def main() -> int:
    manifest: dict[str, str] = json.loads((WEB / "assets.json").read_text())
    vendor = WEB / "static" / "vendor"
    vendor.mkdir(parents=True, exist_ok=True)
    missing = []
    for name, source in manifest.items():
        src = ROOT / "node_modules" / source
        if not src.is_file():
            missing.append(source)
            continue
        shutil.copyfile(src, vendor / name)
    if missing:
        print("missing in node_modules (run npm ci): " + ", ".join(missing), file=sys.stderr)
        return 1
    print(f"copied {len(manifest)} web assets into {vendor.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
