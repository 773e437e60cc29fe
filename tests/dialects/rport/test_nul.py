"""NUL characters in a path parameter, a query value or a JSON body are rport 400s on every
database: PostgreSQL cannot even compare text with a NUL (the query failed: a 500), and no
stored name holds one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dialects.rport.conftest import API


@pytest.mark.parametrize(
    "path",
    [
        "/library/scripts/a%00b",
        "/clients/a%00b",
        "/client-groups/a%00b",
        "/schedules/a%00b",
        "/monitoring/notification-templates/a%00b",
        "/clients-auth/a%00b",
        "/clients?filter[name]=a%00b",
        "/auditlog?filter[username]=%00",
    ],
)
def test_a_nul_in_the_path_or_query_is_400(client: Any, as_admin: dict[str, str], path: str) -> None:
    r = client.get(API + path, headers=as_admin)
    assert r.status_code == 400, (path, r.text)
    assert r.json()["errors"][0]["detail"] == "NUL characters are not allowed in the path or query"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/library/scripts", '{"name": "a\\u0000b", "script": "echo"}'),
        ("/client-groups", '{"id": "g\\u0000", "params": {}}'),
        ("/clients-auth", '{"id": "x\\u0000", "password": "secret1"}'),
    ],
)
def test_a_nul_in_a_json_body_is_400(client: Any, as_admin: dict[str, str], path: str, body: str) -> None:
    r = client.post(API + path, headers={**as_admin, "Content-Type": "application/json"}, content=body)
    assert r.status_code == 400, (path, r.text)
    assert "NUL" in r.json()["errors"][0]["detail"]
