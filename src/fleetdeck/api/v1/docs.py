"""The interactive API documentation (Swagger UI at ``/docs``, ReDoc at ``/redoc``), loading
their scripts from URLs the composition root hands in: the server's own copies, so the docs
work on a machine without internet. FastAPI's defaults would load them from a CDN."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.requests import Request
from starlette.responses import HTMLResponse

DOCS = "/docs"
REDOC = "/redoc"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


@dataclass(frozen=True, slots=True)
class DocsAssets:
    """Absolute URL paths of the Swagger UI and ReDoc files the server serves itself."""

    swagger_js: str
    swagger_css: str
    swagger_favicon: str
    redoc_js: str


def install(app: FastAPI, assets: DocsAssets) -> None:
    """Add the docs routes to ``app`` (created with ``docs_url=None, redoc_url=None``). The
    document's URL is taken from the mount point (``root_path``), as FastAPI's own routes do."""
    openapi_url = app.openapi_url or "/openapi.json"

    def _openapi(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/") + openapi_url

    async def swagger(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=_openapi(request),
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + OAUTH2_REDIRECT,
            swagger_js_url=assets.swagger_js,
            swagger_css_url=assets.swagger_css,
            swagger_favicon_url=assets.swagger_favicon,
        )

    async def redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=_openapi(request),
            title=f"{app.title} - ReDoc",
            redoc_js_url=assets.redoc_js,
            redoc_favicon_url=assets.swagger_favicon,
            with_google_fonts=False,
        )

    app.add_route(DOCS, swagger, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT, redirect, include_in_schema=False)
    app.add_route(REDOC, redoc, include_in_schema=False)
