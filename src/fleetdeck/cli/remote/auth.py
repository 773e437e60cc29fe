"""``fleetdeck login``, ``logout`` and ``config use/list/delete``: which servers the CLI knows.

``login`` with a password does not keep the password, nor the short-lived login JWT: it uses the
JWT once to create a personal API token (``POST /me/tokens``), which is what the config file
keeps, so the CLI keeps working after the JWT expires and the token can be revoked on its own
(``logout``, or the web UI's token list)."""

from __future__ import annotations

import hashlib
import socket
import ssl
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from fleetdeck.cli.remote import output
from fleetdeck.cli.remote.client import Remote, fail
from fleetdeck.cli.remote.config import (
    CliConfig,
    ConfigError,
    Context,
    config_path,
    context_name_for,
    usage_error,
    validate_name,
)


def _load() -> CliConfig:
    try:
        return CliConfig.load()
    except ConfigError as exc:
        usage_error(str(exc))


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        usage_error(f"invalid server URL {url!r}: use https://host[:port]")
    return url.removesuffix("/api/v1")


def _fingerprint(der: bytes) -> str:
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _normal_fingerprint(text: str) -> str:
    hexed = text.lower().removeprefix("sha256:").replace(":", "").strip()
    if len(hexed) != 64 or any(c not in "0123456789abcdef" for c in hexed):
        usage_error(f"invalid fingerprint {text!r}: sha256:<64 hex digits>")
    return "sha256:" + hexed


def pin_server_certificate(server: str, name: str, expected: str | None) -> str:
    """Trust on first use, as the agent does: fetch the certificate the server presents, check
    it against ``expected`` (or let the person at the terminal compare it with what
    ``fleetdeck server`` logged), and keep it as this context's only trust anchor."""
    parts = urlsplit(server)
    if parts.scheme != "https" or not parts.hostname:
        usage_error("--trust is for https:// servers")
    try:
        pem = ssl.get_server_certificate((parts.hostname, parts.port or 443), timeout=10)
    except (OSError, ssl.SSLError) as exc:
        fail(f"cannot reach {server}: {exc}")
    seen = _fingerprint(ssl.PEM_cert_to_DER_cert(pem))
    if expected is not None:
        if _normal_fingerprint(expected) != seen:
            fail(f"{server} presents the certificate {seen}, not the one given: not trusted")
    elif sys.stdin.isatty():
        typer.echo(f"{server} presents the certificate {seen}", err=True)
        if not typer.confirm("Trust it for this context?", err=True):
            raise typer.Exit(1)
    else:
        usage_error(f"{server} presents {seen}; confirm it with --fingerprint (no terminal to ask)")
    path = config_path().parent / "certs" / f"{name}.pem"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(pem)
    return str(path)


def login(
    server: Annotated[str, typer.Argument(help="The server's URL, e.g. https://fleet.example.org.")],
    user: Annotated[str | None, typer.Option("--user", "-u", help="User name (prompted for).")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin (scripts).")
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="FLEETDECK_TOKEN",
            help="Use this API token instead of a password.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Context name (default: host:port).")] = None,
    ca: Annotated[
        Path | None, typer.Option("--ca", help="PEM file of the CA to verify the server with.")
    ] = None,
    trust: Annotated[
        bool, typer.Option("--trust", help="Pin the certificate the server presents (self-signed servers).")
    ] = False,
    fingerprint: Annotated[
        str | None, typer.Option("--fingerprint", help="With --trust: the sha256 fingerprint to expect.")
    ] = None,
    scope: Annotated[str, typer.Option(help="Token scope: read or read+write.")] = "read+write",
) -> None:
    """Log in to a server and make it the current context.

    With a password, a personal API token is created and kept in the config file (mode 0600);
    the password is not kept."""
    url = normalize_url(server)
    ctx_name = validate_name(name or context_name_for(url))
    if scope not in ("read", "read+write"):
        usage_error("--scope must be read or read+write")
    ca_file = str(ca.resolve()) if ca else ""
    if ca and not ca.is_file():
        usage_error(f"CA file {ca}: not found")
    if trust:
        ca_file = pin_server_certificate(url, ctx_name, fingerprint)
    ctx = Context(name=ctx_name, server=url, ca=ca_file)
    if token:
        with Remote(replace(ctx, token=token)) as remote:
            me = remote.data("GET", "/me")
        ctx = replace(ctx, token=token, user=str(me["username"]))
    else:
        username = user or typer.prompt("User")
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("Password", hide_input=True, err=True)
        with Remote(ctx, token="") as anonymous:
            jwt = anonymous.data("POST", "/auth/login", {"username": username, "password": password})["token"]
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        with Remote(ctx, token=jwt) as remote:
            created = remote.data(
                "POST",
                "/me/tokens",
                {"name": f"fleetdeck CLI on {socket.gethostname()} {stamp}"[:100], "scope": scope},
            )
        ctx = replace(ctx, token=created["token"], token_id=str(created["id"]), user=username)
    cfg = _load()
    cfg.contexts[ctx_name] = ctx
    cfg.current = ctx_name
    path = cfg.save()
    typer.echo(f"logged in to {url} as {ctx.user} (context {ctx_name}, saved in {path})")


def logout(
    context: Annotated[str | None, typer.Argument(help="Context (default: the current one).")] = None,
) -> None:
    """Revoke the context's API token on the server (if the CLI created it) and forget it."""
    cfg = _load()
    name = context or cfg.current
    ctx = cfg.contexts.get(name)
    if ctx is None:
        usage_error(f"no context named {name!r}" if name else "no current context")
    if ctx.token and ctx.token_id:
        with Remote(ctx) as remote:
            remote.request("DELETE", f"/me/tokens/{ctx.token_id}")
    cfg.contexts[name] = replace(ctx, token="", token_id="")
    cfg.save()
    typer.echo(f"logged out of {ctx.server} (context {name})")


def use(name: Annotated[str, typer.Argument(help="A context of `fleetdeck config list`.")]) -> None:
    """Make a context the current one."""
    cfg = _load()
    if name not in cfg.contexts:
        usage_error(f"no context named {name!r} (fleetdeck config list)")
    cfg.current = name
    cfg.save()
    typer.echo(f"current context: {name} ({cfg.contexts[name].server})")


def list_contexts(json_out: output.JsonOut = False) -> None:
    """The servers the CLI knows (tokens are not shown)."""
    cfg = _load()
    rows = [{"current": c.name == cfg.current, **c.shown()} for c in cfg.contexts.values()]
    output.listing(
        rows,
        [
            ("", lambda r: "*" if r["current"] else ""),
            output.field("name"),
            output.field("server"),
            output.field("user"),
            ("logged in", lambda r: bool(r["token"])),
            output.field("ca"),
        ],
        json_out,
    )


def delete(name: Annotated[str, typer.Argument(help="The context to forget.")]) -> None:
    """Forget a context (its token stays valid on the server: `fleetdeck logout` revokes it)."""
    cfg = _load()
    if cfg.contexts.pop(name, None) is None:
        usage_error(f"no context named {name!r}")
    if cfg.current == name:
        cfg.current = ""
    cfg.save()
    typer.echo(f"context {name} deleted")
