"""Copy the web UI's browser assets from node_modules (``npm ci``) into the package.

The list is ``src/fleetdeck/web/assets.json`` (file name in ``static/vendor`` -> path under
``node_modules``), the same list the server checks at start to say which assets are missing.
An entry ending in ``/`` is a folder copied whole (noVNC is ES modules that import each other
by relative paths, so its ``core/`` and ``vendor/`` folders keep their layout).
Run by ``make assets``; the copies are git-ignored and included in the wheel (hatch artifacts).

``REWRITES`` takes out what a bundle would still fetch from the internet: ReDoc's sidebar
loads the Redocly logo from cdn.redoc.ly on every page (an empty inline image instead; the
"API docs by Redocly" link stays).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMPTY_SVG = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"
REWRITES: dict[str, list[tuple[str, str]]] = {
    "redoc.standalone.js": [("https://cdn.redoc.ly/redoc/logo-mini.svg", EMPTY_SVG)],
}
WEB = ROOT / "src" / "fleetdeck" / "web"


def main() -> int:
    manifest: dict[str, str] = json.loads((WEB / "assets.json").read_text())
    vendor = WEB / "static" / "vendor"
    vendor.mkdir(parents=True, exist_ok=True)
    missing = []
    for name, source in manifest.items():
        src = ROOT / "node_modules" / source
        if name.endswith("/"):
            if not src.is_dir():
                missing.append(source)
                continue
            shutil.rmtree(vendor / name, ignore_errors=True)
            shutil.copytree(src, vendor / name)
            continue
        if not src.is_file():
            missing.append(source)
            continue
        shutil.copyfile(src, vendor / name)
        for old, new in REWRITES.get(name, []):
            text = (vendor / name).read_text(encoding="utf-8")
            if old not in text:
                print(f"{name}: {old} not found; check REWRITES against this version", file=sys.stderr)
                return 1
            (vendor / name).write_text(text.replace(old, new), encoding="utf-8")
    if missing:
        print("missing in node_modules (run npm ci): " + ", ".join(missing), file=sys.stderr)
        return 1
    print(f"copied {len(manifest)} web assets into {vendor.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
