"""Options shared by every command that touches the server's data, and settings assembly."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
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


def fail(message: str) -> NoReturn:
    """One line on stderr and exit code 2, the usage-error code: no traceback for an admin's typo."""
    typer.echo(f"fleetdeck: error: {message}", err=True)
    raise typer.Exit(2)


def _check_config_file(path: Path) -> None:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        fail(f"config file {path}: not found")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"config file {path}: cannot be read ({exc})")
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        fail(f"config file {path}: invalid TOML: {exc}")


def _setting_error(error: Mapping[str, Any]) -> str:
    loc = error.get("loc") or ()
    name = str(loc[0]) if loc else "settings"
    given = error.get("input")
    where = f"{name} (--{name.replace('_', '-')} or FLEETDECK_{name.upper()})" if loc else name
    shown = f"; got {given!r}" if given is not None and not isinstance(given, dict) else ""
    return f"setting {where}: {error.get('msg', 'invalid')}{shown}"


def build_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """The settings a command runs with; pydantic is imported here, not when the CLI starts
    (``fleetdeck --help`` and the remote verbs never pay for it)."""
    from pydantic import ValidationError

    from fleetdeck.settings import Settings

    if config is not None:
        os.environ["FLEETDECK_CONFIG"] = str(config)
    named = os.environ.get("FLEETDECK_CONFIG")
    if named:
        _check_config_file(Path(named))
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        fail("; ".join(_setting_error(e) for e in exc.errors(include_url=False)))


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
