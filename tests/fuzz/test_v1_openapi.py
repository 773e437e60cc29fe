"""``/api/v1`` fuzzed from its own OpenAPI document with schemathesis.

Every operation of the document gets its own test and so its own fresh database; the examples
of one operation share it (state accumulates, as with a real client). Each request is sent as
an authenticated admin (a fresh API token per example: an example may revoke the previous one,
or change the admin's password) through the real application, lifespan included. Checks: never
a 5xx, the status code and the body are the ones the document declares for it, requests outside
the schema are refused with a 4xx, and the server logs no traceback and no error.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi import checks

from fleetdeck.api.v1 import create_v1
from fleetdeck.app import Runtime
from fleetdeck.bus import LocalBus
from fleetdeck.core.authz import Actor
from tests.fuzz.conftest import SENT, examples, tracebacks
from tests.integration.api.conftest import API

# The document as the app serves it at /api/v1/openapi.json (create_v1 only stores the services,
# so none are needed to render it).
SPEC: dict[str, Any] = create_v1(None, LocalBus()).openapi()  # type: ignore[arg-type]
SCHEMA = schemathesis.openapi.from_dict(SPEC)
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}

CHECKS: list[CheckFunction] = [
    not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]

counter = itertools.count()


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_operation(
    label: str, client: Any, runtime: Runtime, admin: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    operation = OPERATIONS[label]
    caplog.set_level(logging.WARNING)
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @examples(6)
    def fuzz(case: schemathesis.Case) -> None:
        token = runtime.services.users.create_token(admin, f"fuzz-{next(counter)}", "read+write", None).token
        headers = {"Authorization": f"Bearer {token}"}
        kwargs = case.as_transport_kwargs(base_url="http://testserver" + API, headers=headers)
        kwargs.pop("cookies", None)
        if isinstance(kwargs.get("data"), bytes | str):  # a raw body: httpx calls that content
            kwargs["content"] = kwargs.pop("data")
        response = client.request(**kwargs)
        SENT["/api/v1 requests"] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)
        assert tracebacks(caplog.records) == []

    fuzz()
