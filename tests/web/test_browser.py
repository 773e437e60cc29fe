"""The web UI in a real browser (Debian's Chromium through Playwright) against a real
``fleetdeck server`` process with a real agent: log in with the keyboard, see this computer in
the list, filter, open its detail page, watch it go offline live, save notes; a viewer sees no
write action; an enrollment token made on its page enrolls the agent; a user made on the users
page; run a command on a selection and read its output as it streams, cancel one;
logout; the API docs render with no request leaving the server. Screenshots of
the main pages go to build/screenshots/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from tests.e2e.conftest import AgentProc, ServerProc
from tests.waiting import wait_for
from tests.web.conftest import SCREENSHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN_PASSWORD = "e2e-admin-password"  # tests/e2e's admin
VIEWER_PASSWORD = "viewer-password-1"
TIMEOUT_MS = 20_000


@pytest.fixture
def browser(browser_path: Path) -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(browser_path), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def local_only(page: Page, base: str, external: list[str]) -> None:
    """Refuse, and remember, every request that would leave the server (a CDN, web fonts)."""

    def check(route: Route) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    page.route("**/*", check)


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_online(server: ServerProc, agent: AgentProc) -> int:
    """The id of the computer once its agent is online with an inventory."""
    with server.client() as api:

        def online() -> int | None:
            rows = api.get("/computers").json()["data"]
            ready = [r for r in rows if r["online"] and r["os"]]
            return ready[0]["id"] if ready else None

        try:
            return wait_for(online, 30, what="agent online with inventory")
        except AssertionError:
            raise AssertionError(f"agent log:\n{agent.log()[-3000:]}") from None


def log_in(page: Page, base: str, username: str, password: str) -> None:
    """With the keyboard only: the user name field has the focus, Tab, Enter."""
    page.goto(base + "/")
    expect(page).to_have_url(base + "/login?next=/")
    expect(page.get_by_label("User name")).to_be_focused()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_admin_and_viewer_in_the_browser(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], browser: Browser
) -> None:
    base = server.url
    external: list[str] = []

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)  # a shared, loaded machine: ReDoc takes seconds to render
    local_only(page, base, external)

    # a wrong password is shown next to the form
    page.goto(base + "/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_have_text("Wrong user name or password.")

    log_in(page, base, "admin", ADMIN_PASSWORD)

    # an enrollment token made in the UI; a real agent enrolls with the command line it shows
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Enrollment").click()
    page.get_by_text("New enrollment token").click()
    page.get_by_label("Note").fill("browser test")
    page.get_by_label("Uses").fill("1")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#token-secret").input_value()
    command = page.locator("#enroll-command").input_value()
    assert command.startswith(f"fleetdeck agent --server {base} --enroll-token {token} "), command
    shot(page, "enroll-token")
    agent = agent_factory(server)
    agent.start(token=token)
    cid = wait_online(server, agent)
    with server.client() as api:
        hostname = api.get(f"/computers/{cid}").json()["data"]["hostname"]
    page.goto(base + "/enroll-tokens")
    expect(page.locator("#enroll-tokens tbody tr").first).to_contain_text("1 of 1")
    expect(page.locator("#token-secret")).to_have_count(0)  # shown once

    # a viewer account, made on the users page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    page.get_by_text("New user").click()
    page.get_by_label("User name").fill("vera")
    page.get_by_label("Role").select_option("viewer")
    page.get_by_label("Password", exact=True).fill(VIEWER_PASSWORD)
    page.get_by_label("Password again").fill(VIEWER_PASSWORD)
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("#users-done")).to_have_text("User created vera.")

    page.goto(base + "/")
    expect(page.locator("#computers-online")).to_have_text("1")
    shot(page, "dashboard")

    # the list, with this machine from the real agent, online
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Computers").click()
    row = page.locator(f"tr[data-id='{cid}']")
    expect(row).to_contain_text(hostname)
    expect(row.locator(".state")).to_have_text("online")
    shot(page, "computers")
    # usable on a tablet: at 820 px the page does not scroll sideways (the table scrolls itself)
    page.set_viewport_size({"width": 820, "height": 1180})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "computers-tablet")
    page.set_viewport_size({"width": 1280, "height": 900})
    # search as you type (htmx), and the URL follows
    page.get_by_label("Search").fill("no-such-host-xyz")
    expect(page.locator("#computers-count")).to_have_text("0 computers")
    expect(page).to_have_url(base + "/computers?q=no-such-host-xyz")
    page.get_by_label("Search").fill(hostname[:4])
    expect(page.locator(f"tr[data-id='{cid}']")).to_be_visible()

    # the detail page: inventory from the agent, and a write action for an admin
    page.get_by_role("link", name=hostname).click()
    expect(page.get_by_role("heading", name="Filesystems")).to_be_visible()
    expect(page.locator("#filesystems progress").first).to_be_visible()
    expect(page.locator("#state")).to_contain_text("online")
    shot(page, "computer")
    page.get_by_label("Notes about this computer").fill("rack 4, slot 2")
    page.get_by_role("button", name="Save notes").click()
    expect(page.get_by_text("Notes saved.")).to_be_visible()
    with server.client() as api:
        assert api.get(f"/computers/{cid}").json()["data"]["notes"] == "rack 4, slot 2"

    # run a command on a selection from the list: the output streams in live, then the exit code
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Computers").click()
    page.get_by_label(f"Select {hostname}").check()
    # the rows refresh every 5 s; the choice survives the refresh
    with page.expect_response(
        lambda r: "/computers" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        pass
    expect(page.get_by_label(f"Select {hostname}")).to_be_checked()
    page.get_by_role("button", name="Run command on selected").click()
    expect(page.get_by_role("heading", name="Run a command")).to_be_visible()
    page.get_by_label("Command").fill("echo first-from-the-ui; sleep 4; echo second-line")
    page.get_by_role("button", name="Run").click()
    job = page.locator("article.job").first
    output = job.locator('[data-field="stdout"]')
    expect(output).to_contain_text("first-from-the-ui")
    # the first line arrived while the command still runs: streamed, not read after the end
    assert "second-line" not in output.inner_text()
    assert job.locator('[data-field="status"]').inner_text() in ("sent", "running")
    expect(job.locator('[data-field="status"]')).to_have_text("succeeded", timeout=30_000)
    expect(output).to_have_text("first-from-the-ui\nsecond-line\n")
    expect(job.locator('[data-field="exit"]')).to_have_text("exit code 0")
    shot(page, "command")
    with server.client() as api:
        job_id = int(job.get_attribute("data-job") or 0)
        assert api.get(f"/jobs/{job_id}").json()["data"]["stdout"] == "first-from-the-ui\nsecond-line\n"
    # cancel a long one from its page; the agent stops it and the page shows it without a reload
    page.goto(f"{base}/commands/new?computer={cid}")
    page.get_by_label("Command").fill("echo started; sleep 120")
    page.get_by_role("button", name="Run").click()
    job = page.locator("article.job").first
    expect(job.locator('[data-field="stdout"]')).to_contain_text("started")
    job.get_by_role("button", name="Cancel").click()
    expect(job.locator('[data-field="status"]')).to_have_text("cancelled", timeout=30_000)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Commands").click()
    expect(page.locator("#history tbody tr")).to_have_count(2)
    expect(page.locator("#history")).to_contain_text("cancelled")

    # the audit log shows both commands, made through the web
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").fill("command.create")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit tbody tr")).to_have_count(2)
    expect(page.locator("#audit tbody tr").first).to_contain_text("web")
    shot(page, "audit")

    # online state updates live: stop the agent, the badge turns without a reload
    page.goto(f"{base}/computers/{cid}")
    expect(page.locator("#state")).to_contain_text("online")
    agent.stop()
    expect(page.locator("#state")).to_contain_text("offline", timeout=30_000)

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to fleetdeck")).to_be_visible()
    page.goto(base + "/computers")
    expect(page).to_have_url(base + "/login?next=/computers")

    # a viewer reads everything and sees no write action
    log_in(page, base, "vera", VIEWER_PASSWORD)
    page.goto(f"{base}/computers/{cid}")
    expect(page.locator("#notes")).to_contain_text("rack 4, slot 2")
    expect(page.get_by_role("button", name="Save notes")).to_have_count(0)
    expect(page.locator("textarea")).to_have_count(0)
    expect(page.get_by_role("button", name="Run a command")).to_have_count(0)
    page.goto(f"{base}/computers")
    expect(page.locator(f"tr[data-id='{cid}']")).to_be_visible()
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_role("button", name="Run command on selected")).to_have_count(0)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to fleetdeck")).to_be_visible()

    # the API docs render from the server's own copies of Swagger UI and ReDoc
    page.goto(base + "/api/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("fleetdeck API", timeout=60_000)
    shot(page, "api-docs")
    page.goto(base + "/api/v1/redoc")
    expect(page.locator("h1", has_text="fleetdeck API")).to_be_visible(timeout=60_000)
    assert external == [], f"requests that left the server: {external}"
