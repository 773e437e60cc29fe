"""The rport dialect fuzzed from rportd's own OpenAPI document (the file it serves at
``docs/swagger.yaml``) with schemathesis, limited to the operations this dialect builds.

Each operation gets a fresh database; each example is sent as the admin with a fresh API token
as the Basic password (an example may log out, or rename the admin). Checks: never a 5xx, and
every answer valid against the document's schema for its status (rportd's document does not
declare every status its code answers, e.g. 401 or 409, so status conformance is not checked),
and the server logs no traceback.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi import checks

from fleetdeck.api.dialects.rport.compat import _norm
from fleetdeck.api.dialects.rport.methods.info import spec_text
from fleetdeck.api.dialects.rport.registry import ROUTES
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.vault import VaultEntryInput
from tests.dialects.rport.conftest import API
from tests.fuzz.conftest import SENT, examples, tracebacks

RAW = yaml.safe_load(spec_text("http://testserver" + API))
SCHEMA = schemathesis.openapi.from_dict(RAW)
BUILT = {(r.method, _norm(r.path)) for r in ROUTES if not r.stub}  # a stub only answers 501
OPERATIONS = {
    op.label: op
    for op in (result.ok() for result in SCHEMA.get_all_operations())
    if (op.method.upper(), _norm(op.path)) in BUILT
}
# rportd's document gives these bodies the media type "application/json:" (sic), which
# schemathesis cannot serialize; test_users.py covers them.
UNSERIALIZABLE = {"POST /me/tokens", "PUT /me/tokens", "PUT /clients/{client_id}/tunnels/{tunnel_id}/acl"}
# bodies the document declares as "*/*" (the library's): schemathesis then picks any media type,
# image/png included, which the test client cannot encode; rportd decodes them as JSON
ANY_MEDIA = {
    f"{method.upper()} {path}"
    for path, ops in RAW["paths"].items()
    for method, op in ops.items()
    if isinstance(op, dict) and "*/*" in op.get("requestBody", {}).get("content", {})
}
CHECKS: list[CheckFunction] = [not_a_server_error, checks.response_schema_conformance]
# Where rportd's code answers outside its own document, we follow the code and check only for
# server errors: ``GET /vault-admin`` of a vault never initialised has ``status: ""`` (the
# document's enum has only locked/unlocked); ``GET /notification-logs`` answers a list (the
# document's ``data`` is one summary object, though it describes a paged list).
FOLLOWS_CODE = {"GET /vault-admin", "GET /notification-logs"}
counter = itertools.count()


def _encodable(files: Any) -> list[tuple[str, Any]]:
    """Negative examples of a "*/*" body (rportd's vault) may be multipart forms with numbers
    for values, which the test client cannot encode at all: send them as text."""
    items = files.items() if isinstance(files, dict) else files
    out: list[tuple[str, Any]] = []
    for name, part in items:
        odd = isinstance(part, tuple) and not isinstance(part[1], str | bytes)
        out.append((name, (part[0], str(part[1]), *part[2:]) if odd else part))
    return out


def test_the_built_operations_are_fuzzed() -> None:
    assert len(OPERATIONS) == 111


def _text(value: str) -> str:
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _part(name: str, value: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """A multipart field the test client can encode: schemathesis's negative cases put numbers
    and lone surrogates there, which httpx refuses before anything is sent (the server then sees
    the text of the number, as from any client)."""
    filename, content, *rest = value
    if not isinstance(content, bytes):
        content = _text(content if isinstance(content, str) else str(content)).encode()
    return _text(name), (None if filename is None else _text(filename), content, *rest)


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_operation(
    label: str, client: Any, runtime: Runtime, admin: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    if label in UNSERIALIZABLE:
        pytest.skip("rportd's document declares the media type 'application/json:'")
    operation = OPERATIONS[label]
    caplog.set_level(logging.WARNING)
    if " /vault" in label and "/vault-admin" not in label:
        # entries are reached only through an unlocked vault: open it, with entries 1 and 2
        runtime.services.vault.init(admin, "fuzz-vault-1")
        for key in ("a", "b"):
            runtime.services.vault.create(admin, VaultEntryInput(key=key, value="v", type="text"))
    # a body declared as "*/*" (rportd's vault) is sent as JSON, what rportd decodes; left to
    # pick, schemathesis may build a multipart body the test client cannot even encode
    media = "application/json" if any(b.media_type == "*/*" for b in operation.body) else None
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE, media_type=media),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, media_type=media),
    )

    @given(case=cases)
    @examples(5)
    def fuzz(case: schemathesis.Case) -> None:
        if label in ANY_MEDIA:
            case.media_type = "application/json"
        users = runtime.services.users
        name = users.get(admin, admin.user_id or 0).username
        token = users.create_token(admin, f"fuzz-{next(counter)}", "read+write", None).token
        headers = {"Authorization": "Basic " + base64.b64encode(f"{name}:{token}".encode()).decode()}
        kwargs = case.as_transport_kwargs(base_url="http://testserver" + API, headers=headers)
        kwargs.pop("cookies", None)
        if kwargs.get("files"):  # multipart (POST /files), or a "*/*" body sent as one (vault)
            kwargs["files"] = [
                _part(name, value) if isinstance(value, tuple) else (name, value)
                for name, value in _encodable(kwargs["files"])
            ]
        if isinstance(kwargs.get("data"), bytes | str):
            kwargs["content"] = kwargs.pop("data")
        elif "data" in kwargs:  # a "*/*" body schemathesis left unserialized: send its JSON text
            kwargs["content"] = json.dumps(kwargs.pop("data"))
        response = client.request(**kwargs)
        SENT["rport requests"] += 1
        assert response.status_code < 500, response.text
        checks_: list[CheckFunction] = [not_a_server_error] if label in FOLLOWS_CODE else CHECKS
        case.validate_response(response, checks=checks_, headers=headers)
        assert tracebacks(caplog.records) == []

    fuzz()
