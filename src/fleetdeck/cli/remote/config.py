"""The CLI's own configuration: servers it talks to ("contexts", as kubectl names them).

One TOML file, ``$XDG_CONFIG_HOME/fleetdeck/cli.toml`` (``~/.config/...``; ``FLEETDECK_CLI_CONFIG``
names another), written with mode 0600 because it holds API tokens. It is not the server's
settings file (``--config``/``FLEETDECK_CONFIG``): those are a server's, this is a user's.

What a command uses is, for each value, the first of: its option (``--server``, ``--token``,
``--ca``, ``--context``), the environment (``FLEETDECK_URL``, ``FLEETDECK_TOKEN``, ``FLEETDECK_CA``,
``FLEETDECK_CONTEXT``), the named context, the current context. Scripts and CI can therefore run
without any file.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn

import typer

KEYS = ("server", "user", "token", "token_id", "ca")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,99}$")


class ConfigError(Exception):
    """The user's configuration is missing or wrong: exit code 2, like a usage error."""


def usage_error(message: str) -> NoReturn:
    typer.echo(f"fleetdeck: error: {message}", err=True)
    raise typer.Exit(2)


def config_path() -> Path:
    named = os.environ.get("FLEETDECK_CLI_CONFIG")
    if named:
        return Path(named)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "fleetdeck" / "cli.toml"


@dataclass(frozen=True)
class Context:
    name: str
    server: str = ""
    token: str = ""
    ca: str = ""  # a PEM file: the CA (or the pinned server certificate) to verify the server with
    user: str = ""
    token_id: str = ""  # the token's id on the server, for ``logout`` to revoke it

    def shown(self) -> dict[str, str]:
        """What ``config list --json`` prints: never the token itself."""
        return {
            "name": self.name,
            "server": self.server,
            "user": self.user,
            "ca": self.ca,
            "token": "set" if self.token else "",
        }


@dataclass
class CliConfig:
    current: str = ""
    contexts: dict[str, Context] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> CliConfig:
        path = path or config_path()
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        if path.stat().st_mode & 0o077:
            typer.echo(
                f"fleetdeck: warning: {path} holds API tokens but others may read it (chmod 600 {path})",
                err=True,
            )
        contexts = {}
        for name, values in (raw.get("contexts") or {}).items():
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: [contexts.{name}] must be a table")
            known = {k: str(v) for k, v in values.items() if k in KEYS}
            contexts[name] = Context(name=name, **known)
        return cls(current=str(raw.get("current", "")), contexts=contexts)

    def save(self, path: Path | None = None) -> Path:
        """Written to a new file (0600) then renamed over the old one: never half a file, and the
        token never readable by others, not even for a moment."""
        path = path or config_path()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lines = [f"current = {json.dumps(self.current)}", ""]
        for ctx in self.contexts.values():
            lines.append(f"[contexts.{json.dumps(ctx.name)}]")
            for key in KEYS:
                value = getattr(ctx, key)
                if value:
                    lines.append(f"{key} = {json.dumps(value)}")
            lines.append("")
        tmp = path.with_name(path.name + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(lines))
        os.chmod(tmp, 0o600)  # an older .new left with other bits keeps them through O_CREAT
        tmp.replace(path)
        return path


def context_name_for(server: str) -> str:
    """A context's default name: the server's host (and port)."""
    from urllib.parse import urlsplit

    parts = urlsplit(server)
    return parts.netloc.rsplit("@", 1)[-1] or "default"


def resolve(context: str | None, server: str | None, token: str | None, ca: str | None) -> Context:
    """The connection a command uses (precedence in the module docstring). Options arrive here
    with their environment variable already applied by typer."""
    try:
        cfg = CliConfig.load()
    except ConfigError as exc:
        usage_error(str(exc))
    chosen = context or cfg.current
    base = cfg.contexts.get(chosen) if chosen else None
    if context and base is None:
        usage_error(f"no context named {context!r} (fleetdeck config list)")
    ctx = base or Context(name="")
    ctx = replace(ctx, server=server or ctx.server, token=token or ctx.token, ca=ca or ctx.ca)
    if not ctx.server:
        usage_error("no server: run `fleetdeck login <url>` or set FLEETDECK_URL")
    if not ctx.token:
        usage_error(
            f"not logged in to {ctx.server}: run `fleetdeck login {ctx.server}` or set FLEETDECK_TOKEN"
        )
    return ctx


def validate_name(name: str) -> str:
    if not NAME.match(name):
        usage_error(f"invalid context name {name!r}: letters, digits and _ . @ : - (at most 100)")
    return name
