"""The authorisation matrix of ``/api/v1``: every route the app serves x every kind of caller.

Routes come from the application itself (not a hand list), so a new route is covered, and fails
``test_every_route_is_declared`` until ``fleetdeck.api.v1.permissions.ROUTES`` declares what it
requires. Each route gets a fresh database and is called, in this order, with no credentials, a
bad token, a viewer, an operator, an admin's read-only API token and the admin; the request is
a small schema-valid one (``smallest``: ids 1, required members only), so that a refusal is not
hidden behind a 422. Expected:

* no credentials or a bad token: 401 with ``WWW-Authenticate``, except public routes;
* a caller without the declared permission: 403 ``permission_denied`` (never a 2xx);
* a caller with it: neither 401 nor 403 (404, 409, 422 are fine: the ids may name nothing);
* never a 5xx, and no error logged.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fastapi.routing
import pytest
from starlette.exceptions import StarletteDeprecationWarning
from starlette.routing import Mount, WebSocketRoute

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

from fleetdeck.api.v1 import create_v1, permissions
from fleetdeck.api.v1.docs import DocsAssets
from fleetdeck.api.v1.permissions import Access, Requirement
from fleetdeck.app import Runtime
from fleetdeck.bus import LocalBus
from fleetdeck.core.authz import Actor, Role
from tests.fuzz.conftest import SENT, tracebacks
from tests.integration.api.conftest import ADMIN_PASSWORD, API

# only its routes and document are used; with the docs pages, as the composition root builds it
V1 = create_v1(None, LocalBus(), docs_assets=DocsAssets("/s.js", "/s.css", "/f.png", "/r.js"))  # type: ignore[arg-type]

# Bodies the smallest example cannot stand for: login must carry real credentials to show that
# the route lets an anonymous caller in.
BODIES: dict[str, dict[str, Any]] = {"POST /auth/login": {"username": "admin", "password": ADMIN_PASSWORD}}


def app_routes() -> Iterator[tuple[str, str]]:
    """("METHOD", "/path") for every route of the v1 app, websockets as "WEBSOCKET"; HEAD is
    left out (Starlette adds it to every GET)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)  # FastAPI >= 0.16x nests routers
    for route in list(iterate(V1.router.routes)) if iterate else V1.router.routes:
        original = getattr(route, "original_route", route)
        assert not isinstance(original, Mount), f"a mounted app under /api/v1 is not covered: {route.path}"
        if isinstance(original, WebSocketRoute | fastapi.routing.APIWebSocketRoute):
            yield "WEBSOCKET", route.path
            continue
        methods = set(route.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")  # added implicitly beside GET; a HEAD route of its own stays
        for method in sorted(methods):
            yield method, route.path


ROUTES = sorted(set(app_routes()))


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role | None  # None: not authenticated
    read_only: bool = False

    def may(self, needed: Requirement) -> bool:
        if needed is Access.PUBLIC:
            return True
        if self.role is None:
            return False
        if needed is Access.USER:
            return True
        if needed is Access.OWN:
            return not self.read_only
        return Actor(user_id=0, username=self.name, role=self.role, read_only=self.read_only).can(needed)


CALLERS = (
    Caller("no auth", None),
    Caller("bad token", None),
    Caller("viewer", Role.VIEWER),
    Caller("operator", Role.OPERATOR),
    Caller("read-only token", Role.ADMIN, read_only=True),
    Caller("admin", Role.ADMIN),
)


def test_every_route_is_declared() -> None:
    """A route without a declared requirement would be left out of the matrix: refuse it, and
    refuse declarations of routes that no longer exist."""
    served = {f"{m} {p}" for m, p in ROUTES}
    assert sorted(served - set(permissions.ROUTES)) == []
    assert sorted(set(permissions.ROUTES) - served) == []


def test_document_publishes_the_requirement() -> None:
    document = V1.openapi()
    operations = [(m.upper(), p, o) for p, ops in document["paths"].items() for m, o in ops.items()]
    assert len(operations) > 80
    for method, path, operation in operations:
        declared = permissions.requirement(method, path)
        assert declared is not None
        assert operation[permissions.EXTENSION] == declared.value


def smallest(schema: dict[str, Any], document: dict[str, Any]) -> Any:
    """A small instance of a JSON schema: required members only, one item per list, the lowest
    number allowed (at least 1, an id), the first of an enum or a union."""
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = {
            **document["components"]["schemas"][name],
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
    for union in ("anyOf", "oneOf", "allOf"):
        if union in schema:
            options = [o for o in schema[union] if o.get("type") != "null"]
            return smallest(options[0], document)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: smallest(properties.get(name, {}), document) for name in schema.get("required", [])}
    if kind == "array":
        return [smallest(schema.get("items", {}), document)] * max(schema.get("minItems", 1), 1)
    if kind in ("integer", "number"):
        return int(max(schema.get("minimum", 1), 1))  # the document may say 1.0
    if kind == "boolean":
        return False
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2099-01-01T00:00:00Z"
        return "matrix"[: schema.get("maxLength", 6)].ljust(schema.get("minLength", 1), "x")
    return "matrix" if kind is None and not schema else None


def smallest_request(method: str, path: str, ids: dict[str, int]) -> dict[str, Any]:
    """A small schema-valid request of an operation: path parameters from ``ids`` (else 1 or
    "matrix"), its required query parameters, and a body when it takes one."""
    document = V1.openapi()
    if path not in document["paths"]:  # FastAPI's own routes: the document and its viewer
        return {"method": method, "url": API + path}
    operation = document["paths"][path][method.lower()]
    url, params = API + path, {}
    for parameter in operation.get("parameters", []):
        value = ids.get(parameter["name"]) or smallest(parameter.get("schema", {}), document)
        if parameter["in"] == "path":
            url = url.replace("{" + parameter["name"] + "}", str(value))
        elif parameter["in"] == "query" and parameter.get("required"):
            params[parameter["name"]] = value
    request: dict[str, Any] = {"method": method, "url": url, "params": params}
    if f"{method} {path}" in BODIES:
        request["json"] = BODIES[f"{method} {path}"]
    elif "requestBody" in operation:
        request["json"] = smallest(
            operation["requestBody"]["content"]["application/json"]["schema"], document
        )
    return request


def credentials(caller: Caller, runtime: Runtime, admin: Actor, system: Actor) -> tuple[dict[str, str], int]:
    """The caller's Authorization header and the id of their API token (0: none)."""
    if caller.name == "no auth":
        return {}, 0
    if caller.name == "bad token":
        return {"Authorization": "Bearer fdt_not-a-token-of-anyone-0123456789"}, 0
    if caller.role is Role.ADMIN:
        user = admin
    else:
        assert caller.role is not None
        info = runtime.services.users.create(system, caller.name, "user-password-1", caller.role)
        user = Actor(user_id=info.id, username=info.username, role=caller.role)
    scope = "read" if caller.read_only else "read+write"
    new = runtime.services.users.create_token(user, f"matrix {caller.name}", scope, None)
    return {"Authorization": f"Bearer {new.token}"}, new.info.id


def outcome(status: int, caller: Caller, needed: Requirement) -> str | None:
    """What is wrong with ``status`` for this cell, or None."""
    if status >= 500:
        return f"server error {status}"
    if caller.role is None and needed is not Access.PUBLIC:
        return None if status == 401 else f"{status}, expected 401"
    if not caller.may(needed):
        return None if status == 403 else f"{status}, expected 403 (lacks {needed.value})"
    return f"refused with {status} although allowed ({needed.value})" if status in (401, 403) else None


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_route(
    method: str,
    path: str,
    client: TestClient,
    runtime: Runtime,
    admin: Actor,
    system: Actor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    needed = permissions.requirement(method, path)
    assert needed is not None, f"{method} {path} is not declared in api/v1/permissions.py"
    # Another user than every caller: GET /users/{id} of one's own id needs no permission.
    ids = {"user_id": runtime.services.users.create(system, "someone", "user-password-1", Role.VIEWER).id}
    wrong: list[str] = []
    for caller in CALLERS:
        headers, token_id = credentials(caller, runtime, admin, system)
        # /me/tokens/{id}: the caller's own token (another's is a 404 whatever the caller may do)
        own = {**ids, "token_id": token_id} if path.startswith("/me/tokens/") else ids
        if method == "WEBSOCKET":
            status = websocket_status(client, path, headers)
        else:
            request = smallest_request(method, path, own)
            response = client.request(headers=headers, **request)
            status = response.status_code
            if status in (401, 403) and method == "HEAD":
                assert not response.content  # HEAD: the status alone says it (no body to read)
            elif status in (401, 403):
                error = response.json()["error"]
                expected_code = "authentication_failed" if status == 401 else "permission_denied"
                if error["code"] != expected_code:
                    wrong.append(f"{caller.name}: error code {error['code']!r}, expected {expected_code!r}")
            if status == 401 and "www-authenticate" not in response.headers:
                wrong.append(f"{caller.name}: 401 without WWW-Authenticate")
        SENT["authorisation matrix cells"] += 1
        problem = outcome(status, caller, needed)
        if problem:
            detail = "" if method == "WEBSOCKET" else f" {response.text[:200]}"
            wrong.append(f"{caller.name}: {problem}{detail}")
    assert not wrong, "\n".join(wrong)
    assert tracebacks(caplog.records) == []


def websocket_status(client: TestClient, path: str, headers: dict[str, str]) -> int:
    """The job stream closes with 4401/4403/4404: mapped to HTTP's 401/403/404 for the table."""
    url = API + path.replace("{job_id}", "1")
    try:
        with client.websocket_connect(url, headers=headers) as ws:
            ws.receive_json()
    except WebSocketDisconnect as exc:
        return exc.code - 4000 if 4000 <= exc.code < 5000 else 200
    return 200
