"""Talking to a running server's /api/v1 over HTTP(S): one ``Remote`` per command.

Every way a request can fail ends here as one line on stderr and an exit code, never a
traceback: the server's own error message (``{"error": {"code", "message", "detail"}}``) with
exit code 1; a server that cannot be reached or whose certificate does not verify, exit code 1
with what to do about it. Usage and configuration problems are exit code 2 (``config.py``).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any, NoReturn

import httpx
import typer

from fleetdeck.cli.remote.config import Context, usage_error

API = "/api/v1"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
PAGE_MAX = 1000  # the server's largest page (core.query.MAX_LIMIT)


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"fleetdeck: error: {message}", err=True)
    raise typer.Exit(code)


def tls_context(ca: str) -> ssl.SSLContext:
    """The system's trust store, or only ``ca``. A fleetdeck server with ``--tls auto`` signs its
    certificate with its own CA (``<data_dir>/tls/ca-cert.pem``); ``login --trust`` pins the
    server certificate itself instead, which partial-chain verification accepts as an anchor
    (the host name is still checked)."""
    if not ca:
        return ssl.create_default_context()
    try:
        ctx = ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        usage_error(f"CA file {ca}: cannot be used ({exc})")
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return ctx


def error_message(response: httpx.Response) -> str:
    """The server's message, with the field errors of a 422 and a hint for a 401."""
    try:
        body = response.json()
    except ValueError:
        body = None
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        text = (
            response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
        )
        return f"HTTP {response.status_code}: {text}"
    message = str(err.get("message", ""))
    detail = err.get("detail")
    if isinstance(detail, dict) and isinstance(detail.get("errors"), list):
        # the message names the first field already; the others follow it
        more = [
            f"{e.get('field', '')}: {e.get('message', '')}"
            for e in detail["errors"][1:]
            if isinstance(e, dict)
        ]
        if more:
            message += "; " + "; ".join(more)
    hint = " (log in again: fleetdeck login)" if response.status_code == 401 else ""
    return f"{message} [HTTP {response.status_code} {err.get('code', '')}]{hint}"


class Remote:
    """An authenticated client of one server's /api/v1."""

    def __init__(self, ctx: Context, *, token: str | None = None) -> None:
        self.ctx = ctx
        self.server = ctx.server.rstrip("/")
        self.ssl = tls_context(ctx.ca) if self.server.startswith("https:") else None
        headers = {"User-Agent": "fleetdeck-cli"}
        bearer = token if token is not None else ctx.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        self.http = httpx.Client(
            base_url=self.server + API, headers=headers, timeout=TIMEOUT, verify=self.ssl or True
        )

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                fail(
                    f"{self.server}: the server's certificate does not verify ({exc}). Give the "
                    "server's CA with --ca FILE (on the server: <data_dir>/tls/ca-cert.pem), or "
                    "pin its certificate: fleetdeck login --trust"
                )
            fail(f"cannot reach {self.server}: {exc}")
        except httpx.TimeoutException:
            fail(f"{self.server} did not answer in time ({method} {API}{path})")
        except httpx.HTTPError as exc:
            fail(f"{method} {API}{path}: {exc}")
        if response.status_code >= 400:
            fail(error_message(response))
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None).json()

    def data(self, method: str, path: str, body: Any = None) -> Any:
        """``data`` of a JSON response (``None`` for a 204)."""
        response = self.request(method, path, json=body)
        return response.json().get("data") if response.status_code != 204 else None

    def pages(
        self, path: str, params: dict[str, str], limit: int, offset: int, everything: bool
    ) -> tuple[list[dict[str, Any]], int]:
        """One page, or with ``everything`` all of them (``limit`` ignored). Returns the rows and
        ``meta.count``, the matches before paging."""
        if not everything:
            body = self.get(path, **params, **{"page[limit]": limit, "page[offset]": offset})
            return body["data"], int(body.get("meta", {}).get("count", len(body["data"])))
        rows: list[dict[str, Any]] = []
        while True:
            body = self.get(path, **params, **{"page[limit]": PAGE_MAX, "page[offset]": offset})
            rows += body["data"]
            total = int(body.get("meta", {}).get("count", len(rows)))
            offset += len(body["data"])
            if not body["data"] or offset >= total:
                return rows, total


def filter_params(filters: Iterable[str], sort: str | None = None) -> dict[str, str]:
    """``--filter hostname=web*`` and ``--filter 'last_seen[gt]=2026-01-01'`` to /api/v1's
    ``filter[hostname]=web*`` and ``filter[last_seen][gt]=...`` (docs/cli.md)."""
    params: dict[str, str] = {}
    for item in filters:
        name, sep, value = item.partition("=")
        if not sep or not name:
            usage_error(f"invalid filter {item!r}: use FIELD=VALUE or FIELD[OP]=VALUE")
        field, bracket, op = name.partition("[")
        params[f"filter[{field}]" + (f"[{op}" if bracket else "")] = value
    if sort:
        params["sort"] = sort
    return params
