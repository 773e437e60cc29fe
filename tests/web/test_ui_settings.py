"""The UI's settings page through HTTP: every declared setting (core's and the dialects'),
set and reset by an admin and read back from core; a secret is never shown back (not even
masked) and an empty field does not clear it; bad values next to their field; CSRF; others
read the page without a form and are refused if forced."""

from __future__ import annotations

import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from tests import factories
from tests.web.conftest import login, user_actor

SECRET = "oco-key-that-must-not-show"


@pytest.fixture
def ada(runtime: Runtime) -> Actor:
    return user_actor(runtime, "ada", Role.ADMIN)


def _section(html: str, key: str) -> str:
    return html.split(f'id="s-{key}"', 1)[1].split("</article>", 1)[0]


def test_every_setting_is_listed_by_part(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    login(client, "ada")
    page = client.get("/settings").text
    for s in runtime.services.settings.list(ada):
        assert f'id="s-{s.key}"' in page, s.key
    for title in ("OCO client API (dialect)", "opsi JSON-RPC (dialect)", "Wake-on-LAN", "Reports"):
        assert f"<h2>{title}</h2>" in page
    switch = _section(page, "oco.api_enabled")
    assert (
        '<select id="v-oco-api_enabled" name="value">' in switch
        and "<option selected>false</option>" in switch
    )
    choices = _section(page, "oco.value_types")
    assert "<option selected>strings</option><option>native</option>" in choices


def test_admin_sets_and_resets(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    csrf = login(client, "ada")
    mark = factories.audit_mark(runtime.services)
    r = client.post("/settings/oco.api_enabled", data={"csrf_token": csrf, "value": "true"})
    assert r.status_code == 200 and "Saved oco.api_enabled." in r.text
    assert runtime.services.settings.value("oco.api_enabled") is True
    r = client.post(
        "/settings/wol.broadcast_addresses", data={"csrf_token": csrf, "value": "10.0.0.255\n\n 10.1.0.255 "}
    )
    assert runtime.services.settings.value("wol.broadcast_addresses") == ["10.0.0.255", "10.1.0.255"]
    assert "10.0.0.255\n10.1.0.255</textarea>" in _section(r.text, "wol.broadcast_addresses")
    client.post("/settings/reports.timeout_sec", data={"csrf_token": csrf, "value": "2.5"})
    assert runtime.services.settings.value("reports.timeout_sec") == 2.5
    assert "(changed by ada" in _section(client.get("/settings").text, "reports.timeout_sec")
    r = client.post("/settings/oco.api_enabled/reset", data={"csrf_token": csrf})
    assert r.status_code == 200 and runtime.services.settings.value("oco.api_enabled") is False
    audit = [(a.action, a.object_id, a.via) for a in factories.audit_since(runtime.services, mark)]
    assert audit == [
        ("setting.set", "oco.api_enabled", "web"),
        ("setting.set", "wol.broadcast_addresses", "web"),
        ("setting.set", "reports.timeout_sec", "web"),
        ("setting.reset", "oco.api_enabled", "web"),
    ]


def test_secrets_are_never_shown_back(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    csrf = login(client, "ada")
    r = client.post("/settings/oco.api_key", data={"csrf_token": csrf, "value": SECRET})
    assert r.status_code == 200
    assert runtime.services.settings.matches_secret("oco.api_key", SECRET)
    assert SECRET not in r.text and "********" not in r.text
    section = _section(r.text, "oco.api_key")
    assert '<strong data-field="state">set</strong>' in section
    assert 'type="password" autocomplete="new-password" value=""' in section
    # an empty field is not "clear": it is refused, the secret stays
    r = client.post("/settings/oco.api_key", data={"csrf_token": csrf, "value": ""})
    assert r.status_code == 400 and 'id="v-oco-api_key-error"' in r.text and "Clear" in r.text
    assert runtime.services.settings.matches_secret("oco.api_key", SECRET)
    [entry] = [a for a in factories.audit_since(runtime.services, 0) if a.object_id == "oco.api_key"]
    assert SECRET not in str(entry.detail)
    r = client.post("/settings/oco.api_key/reset", data={"csrf_token": csrf})
    assert '<strong data-field="state">not set</strong>' in _section(r.text, "oco.api_key")
    assert not runtime.services.settings.is_set("oco.api_key")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("wol.port", "nine", "expected an integer"),
        ("wol.port", "70000", "must be at most 65535"),
        ("oco.api_enabled", "perhaps", "expected true or false"),
        ("oco.value_types", "floats", "expected one of strings, native"),
        ("reports.timeout_sec", "inf", "expected a number"),
    ],
)
def test_bad_values_next_to_their_field(
    client: TestClient, runtime: Runtime, ada: Actor, key: str, value: str, message: str
) -> None:
    csrf = login(client, "ada")
    r = client.post(f"/settings/{key}", data={"csrf_token": csrf, "value": value})
    assert r.status_code == 400
    fid = "v-" + key.replace(".", "-")
    section = _section(r.text, key)
    assert f'id="{fid}-error"' in section and message in section
    assert runtime.services.settings.get(ada, key).is_default


def test_unknown_setting_is_not_found(client: TestClient, ada: Actor) -> None:
    csrf = login(client, "ada")
    r = client.post("/settings/no.such", data={"csrf_token": csrf, "value": "1"})
    assert r.status_code == 404 and "setting no.such not found" in r.text
    assert client.post("/settings/no.such/reset", data={"csrf_token": csrf}).status_code == 404


@pytest.mark.parametrize("who", ["alice", "victor"])
def test_others_read_but_cannot_change(
    client: TestClient, runtime: Runtime, ada: Actor, alice: Actor, victor: Actor, who: str
) -> None:
    runtime.services.settings.set(ada, "oco.api_key", SECRET)
    csrf = login(client, who)
    page = client.get("/settings")
    assert page.status_code == 200 and 'id="s-wol.port"' in page.text
    assert "<form" not in page.text.split('id="main"', 1)[1] and SECRET not in page.text
    for path in ("/settings/wol.port", "/settings/oco.api_key/reset"):
        r = client.post(path, data={"csrf_token": csrf, "value": "7"})
        assert r.status_code == 403 and "lacks permission manage_settings" in r.text, path
    assert runtime.services.settings.value("wol.port") == 9
    assert runtime.services.settings.matches_secret("oco.api_key", SECRET)


def test_settings_forms_need_the_csrf_token(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    login(client, "ada")
    assert client.post("/settings/wol.port", data={"value": "7"}).status_code == 403
    assert client.post("/settings/wol.port/reset", data={}).status_code == 403
    assert runtime.services.settings.value("wol.port") == 9
