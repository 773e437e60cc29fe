"""The terminal in a real browser (Debian's Chromium through Playwright): a real server, a real
agent opening a real PTY; the "Terminal" button on the computer's page opens xterm.js, the
keyboard types a command and the screen shows its output; nothing is fetched from outside the
server (xterm.js is one of the vendored assets)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import AgentProc, ServerProc, enrolled_agent
from tests.web.test_browser import ADMIN_PASSWORD, TIMEOUT_MS, browser, local_only, log_in, shot  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_terminal_in_the_browser(
    server: ServerProc,
    agent_factory: Callable[[ServerProc], AgentProc],
    browser: Browser,  # noqa: F811
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
    page.get_by_role("button", name="Terminal").click()
    expect(page).to_have_url(f"{base}/computers/{cid}/terminal")
    expect(page.locator("#terminal-status")).to_contain_text("Connected to")
    page.locator("#terminal").click()
    page.keyboard.type("echo $((6*7))")
    page.keyboard.press("Enter")
    rows = page.locator("#terminal .xterm-rows > div")
    expect(rows.filter(has_text=re.compile(r"^\s*42\s*$"))).to_have_count(1)  # a row of its own
    shot(page, "terminal")
    page.keyboard.type("exit 3")
    page.keyboard.press("Enter")
    expect(page.locator("#terminal-status")).to_have_text("The shell exited with code 3.")
    assert external == []
