"""The ``Dialect`` shape: every dialect has the same file set, owns its settings, and is mounted
as a sub-application with its own error format."""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

import fleetdeck.api.dialects
from fleetdeck.api.kit.dialect import Dialect, DialectRoute, sub_app
from fleetdeck.app import DIALECTS
from fleetdeck.core.errors import NotFound
from fleetdeck.core.settings.registry import CORE_SETTINGS, SettingsRegistry

# docs/architecture.md, "The dialect file set"
FILE_SET = (
    "__init__.py",
    "settings.py",
    "envelope.py",
    "registry.py",
    "methods",
    "render.py",
    "errors.py",
    "schemas.py",
)


def dialect_packages() -> list[str]:
    return [m.name for m in pkgutil.iter_modules(fleetdeck.api.dialects.__path__) if m.ispkg]


@pytest.mark.parametrize("name", dialect_packages())
def test_every_dialect_has_the_same_file_set(name: str) -> None:
    folder = Path(fleetdeck.api.dialects.__path__[0]) / name
    missing = [f for f in FILE_SET if not (folder / f).exists()]
    assert not missing, f"dialect {name} lacks {missing} (see docs/architecture.md)"
    module = importlib.import_module(f"fleetdeck.api.dialects.{name}")
    assert isinstance(module.DIALECT, Dialect) and module.DIALECT.name == name


def test_every_dialect_package_is_mounted() -> None:
    assert sorted(d.name for d in DIALECTS) == sorted(dialect_packages())


def test_dialects_own_their_settings_and_core_names_none() -> None:
    dialect_keys = {d.key for dialect in DIALECTS for d in dialect.settings}
    assert {"oco.api_enabled", "oco.api_key", "opsi.default_domain"} <= dialect_keys
    for dialect in DIALECTS:
        assert all(d.key.startswith(f"{dialect.name}.") for d in dialect.settings)
    assert not any(d.key.split(".")[0] in {x.name for x in DIALECTS} for d in CORE_SETTINGS)
    with pytest.raises(ValueError, match="declared twice"):
        SettingsRegistry((*CORE_SETTINGS, *CORE_SETTINGS[:1]))


def _boom(request: Request) -> Response:
    if request.query_params.get("kind") == "core":
        raise NotFound("thing", 1)
    raise RuntimeError("nobody handles this")


def _app() -> Starlette:
    async def ok(request: Request) -> Response:
        return PlainTextResponse(f"toy {request.url.path}")

    toy = sub_app(
        [Route("/toy.php", ok, methods=["POST"]), Route("/toy/{rest:path}", _boom)],
        lambda request, exc: PlainTextResponse("toy says: internal", status_code=500),
    )
    return Starlette(routes=[DialectRoute("toy", toy), Route("/other", ok)])


def test_a_dialect_route_serves_its_paths_unchanged() -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        assert client.post("/toy.php").text == "toy /toy.php"  # no prefix stripped, no redirect
        assert client.get("/toy.php").status_code == 405  # its path, not its method
        assert client.get("/other").text == "toy /other"  # routes after it still match
        assert client.get("/nothing").status_code == 404


def test_a_dialect_renders_its_own_internal_errors() -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        r = client.get("/toy/x")
        assert (r.status_code, r.text) == (500, "toy says: internal")
