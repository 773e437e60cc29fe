"""Options shared by every command that touches the server's data, and settings assembly."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from fleetdeck.settings import Settings

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="FLEETDECK_DATA_DIR", help="Data directory (database, keys, files)."),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", envvar="FLEETDECK_DATABASE_URL", help="postgresql://... or sqlite:///..."),
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", envvar="FLEETDECK_CONFIG", help="TOML settings file.")
]


def build_settings(config: Path | None = None, **overrides: Any) -> Settings:
    if config is not None:
        os.environ["FLEETDECK_CONFIG"] = str(config)
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc


_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta | None:
    """``30m``, ``12h``, ``1d``, ``2w``; ``never`` = no expiry."""
    if text.strip().lower() in ("never", "0", "none"):
        return None
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise typer.BadParameter(f"invalid duration {text!r}; use e.g. 30m, 12h, 1d, 2w or never")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
