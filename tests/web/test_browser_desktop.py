"""The desktop view in a real browser (Debian's Chromium through Playwright): a real server, a
real agent, a real VNC server (x11vnc on Xvfb, loopback); the "Desktop" button is on the
computer's page, noVNC (vendored ES modules) connects through the server's WebSocket bridge and
draws the remote screen on its canvas; nothing is fetched from outside the server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import AgentProc, ServerProc, enrolled_agent
from tests.e2e.vnc import HEIGHT, WIDTH, vnc_server
from tests.web.test_browser import ADMIN_PASSWORD, TIMEOUT_MS, browser, local_only, log_in, shot  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_desktop_in_the_browser(
    server: ServerProc,
    agent_factory: Callable[[ServerProc], AgentProc],
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    _agent, cid = enrolled_agent(server, agent_factory)
    base = server.url
    external: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    local_only(page, base, external)
    log_in(page, base, "admin", ADMIN_PASSWORD)

    page.goto(f"{base}/computers/{cid}")
    expect(page.get_by_role("button", name="Desktop")).to_have_attribute("href", f"/computers/{cid}/desktop")
    with vnc_server(tmp_path / "vnc") as vnc:
        page.goto(f"{base}/computers/{cid}/desktop?port={vnc.port}")  # the button's page, another port
        expect(page.locator("#desktop-status")).to_contain_text("Connected to")
        expect(page.locator("#desktop")).to_have_attribute("data-connected", "1")
        canvas = page.locator("#desktop canvas")
        expect(canvas).to_be_visible()
        # noVNC's canvas has the remote screen's size (it scales it to the box with CSS)
        assert canvas.evaluate("c => [c.width, c.height]") == [WIDTH, HEIGHT]
        shot(page, "desktop")
    # The VNC server went away: the page says so.
    expect(page.locator("#desktop-status")).to_contain_text("Disconnected")
    assert external == []
