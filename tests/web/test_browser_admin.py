"""The admin pages in a real browser (Debian's Chromium through Playwright) against a real
``fleetdeck server`` and a real agent (power actions simulated): groups made with the keyboard
only, the agent's computer added to one from the list's selection, a report created, run as a
table and downloaded as CSV, settings changed (a secret never shown back), Wake-on-LAN and a
reboot on the selection; accessibility basics on every page visited (each control has a label,
charts have a text, the skip link leads into the page); a viewer sees no write action.
Screenshots go to build/screenshots/."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import AgentProc, ServerProc
from tests.web.test_browser import ADMIN_PASSWORD, TIMEOUT_MS, local_only, log_in, shot, wait_online

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

VIEWER_PASSWORD = "viewer-password-2"
SECRET = "browser-oco-key-never-shown"

# Form controls nobody could name: no <label>, no aria-label(ledby), no visible text (buttons).
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby') && !(el.textContent || '').trim())
  .map(el => el.outerHTML.slice(0, 160))"""
# Images and charts without a text alternative.
NAMELESS_IMAGES = """() => [...document.querySelectorAll('img, svg, [role=img]')]
  .filter(el => !el.getAttribute('alt') && !el.getAttribute('aria-label') && !el.querySelector('title')
                && el.getAttribute('aria-hidden') !== 'true')
  .map(el => el.outerHTML.slice(0, 160))"""


@pytest.fixture
def browser(browser_path: Path) -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(browser_path), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def accessible(page: Page) -> None:
    """Every control labelled, every image named, and the skip link leads into <main>."""
    # The whole document first: a skip link followed while a long page (settings) is still being
    # parsed under load finds no #main yet, and the next Tab then leaves from the link itself.
    page.wait_for_load_state("load")
    assert page.evaluate(UNLABELLED) == [], page.url
    assert page.evaluate(NAMELESS_IMAGES) == [], page.url
    assert page.locator("html").get_attribute("lang") == "en"
    page.locator("body").focus()
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focusable = (
        "main a[href], main button, main input:not([type=hidden]), main select, main textarea, main summary"
    )
    if page.locator(focusable).count():  # (a viewer's settings page has nothing to focus)
        # waited for, not read at once: under load the focus can land a moment after the key
        try:
            page.wait_for_function("!!document.activeElement.closest('main')", timeout=5000)
        except PlaywrightTimeout:
            raise AssertionError(f"Tab after the skip link left <main>: {page.url}") from None
    # leave the URL without "#main": the skip link moves focus only when the fragment changes
    page.evaluate("history.replaceState(null, '', location.pathname + location.search)")


def test_admin_pages_in_the_browser(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], browser: Browser
) -> None:
    base = server.url
    external: list[str] = []
    with server.client() as api:
        token = api.post("/enroll-tokens", json={"max_uses": 1}).json()["data"]["token"]
        created = api.post("/users", json={"username": "vic", "password": VIEWER_PASSWORD, "role": "viewer"})
        assert created.status_code == 201, created.text
    agent = agent_factory(server)
    agent.start("--simulate-power-actions", token=token)
    cid = wait_online(server, agent)
    with server.client() as api:
        data = api.get(f"/computers/{cid}").json()["data"]
    hostname = data["hostname"]
    has_mac = any(
        i["mac"].strip("0:") and i["mac"] != "ff:ff:ff:ff:ff:ff" for i in data["network_interfaces"]
    )

    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    local_only(page, base, external)
    log_in(page, base, "admin", ADMIN_PASSWORD)
    accessible(page)  # the dashboard, with its charts

    # groups, with the keyboard only: skip link, "New group", name, Enter
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Groups").click()
    expect(page.get_by_role("heading", name="Groups")).to_be_visible()
    accessible(page)
    page.get_by_role("link", name="Skip to content").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("New group")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Name")).to_be_focused()
    page.keyboard.type("Berlin")
    page.keyboard.press("Enter")
    expect(page.locator("#group-done")).to_have_text("Group created.")
    berlin = int(page.url.split("/groups/", 1)[1].split("?", 1)[0])
    page.goto(base + "/groups")
    page.locator("#new-group").click()
    page.get_by_label("Name").fill("Lab")
    page.get_by_label("Parent group").select_option(label="Berlin")
    page.get_by_role("button", name="Create group").click()
    expect(page.locator("#group-done")).to_have_text("Group created.")
    expect(page.get_by_role("navigation", name="breadcrumb")).to_contain_text("Berlin")
    lab = int(page.url.split("/groups/", 1)[1].split("?", 1)[0])
    page.goto(base + "/groups")
    expect(page.locator("#group-tree li")).to_have_count(2)
    expect(page.locator(f"#group-tree li[data-id='{berlin}'] li[data-id='{lab}']")).to_have_count(1)
    shot(page, "groups")

    # settings: WOL packets stay on loopback; a secret is set and never shown back
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    accessible(page)
    page.get_by_label("New value of wol.broadcast_addresses").fill("127.0.0.1")
    page.get_by_role("button", name="Save wol.broadcast_addresses").click()
    expect(page.locator("#settings-done")).to_have_text("Saved wol.broadcast_addresses.")
    expect(page.locator("#s-wol\\.broadcast_addresses [data-field=value]")).to_have_text("127.0.0.1")
    page.get_by_label("New value of oco.api_key").fill(SECRET)
    page.get_by_role("button", name="Save oco.api_key").click()
    expect(page.locator("#s-oco\\.api_key [data-field=state]")).to_have_text("set")
    expect(page.get_by_label("New value of oco.api_key")).to_have_value("")
    assert SECRET not in page.content()
    page.get_by_label("New value of oco.api_enabled").select_option("true")
    page.get_by_role("button", name="Save oco.api_enabled").click()
    expect(page.locator("#s-oco\\.api_enabled [data-field=value]")).to_have_text("true")
    shot(page, "settings")
    with server.client() as api:
        values = {s["key"]: s["value"] for s in api.get("/settings").json()["data"]}
    assert values["wol.broadcast_addresses"] == ["127.0.0.1"] and values["oco.api_enabled"] is True

    # the list's selection: add to a group (keyboard: Space on the checkbox, Enter on the button)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Computers").click()
    accessible(page)
    page.get_by_label(f"Select {hostname}").focus()
    page.keyboard.press("Space")
    expect(page.get_by_label(f"Select {hostname}")).to_be_checked()
    page.get_by_label("Group to add the selected computers to").select_option(label="Lab")
    page.get_by_role("button", name="Add to group").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#group-done")).to_have_text("Group got 1 computer.")
    expect(page.locator(f"#members tr[data-id='{cid}']")).to_contain_text(hostname)
    accessible(page)
    shot(page, "group")
    with server.client() as api:
        groups = api.get("/groups").json()["data"]
        assert {(g["name"], g["parent_id"]) for g in groups} == {("Berlin", None), ("Lab", berlin)}
        assert [c["id"] for c in api.get(f"/groups/{lab}/members").json()["data"]] == [cid]

    # wake and reboot on the selection; "select all" picks every row of the page
    page.goto(base + "/computers")
    page.get_by_label("Select all computers on this page").check()
    expect(page.get_by_label(f"Select {hostname}")).to_be_checked()
    expect(page.locator("#bulk-count")).to_have_text(" (1)")
    page.get_by_label(f"Select {hostname}").uncheck()
    expect(page.get_by_label("Select all computers on this page")).not_to_be_checked()
    expect(page.locator("#bulk-count")).to_have_text(" (0)")
    page.get_by_label(f"Select {hostname}").check()
    page.get_by_role("button", name="Wake").click()
    result = page.locator("#bulk-result")
    if has_mac:
        expect(result).to_contain_text("Wake-on-LAN:")
        expect(result).to_contain_text("sent for 1 computer.")
    else:
        expect(result).to_contain_text("no MAC address")
    page.goto(base + "/computers")
    page.get_by_label(f"Select {hostname}").check()
    page.get_by_role("button", name="Reboot…").click()
    expect(page.get_by_role("heading", name="Reboot computers")).to_be_visible()
    accessible(page)
    page.get_by_role("button", name="Reboot 1 computer").click()
    job = page.locator("article.job").first
    expect(job.locator('[data-field="status"]')).to_have_text("succeeded", timeout=30_000)

    # reports: create, run as a table, download the CSV
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    accessible(page)
    page.locator("#new-report").click()
    page.get_by_label("Name").fill("Computers by name")
    page.get_by_label("Query").fill("SELECT id, hostname FROM computers ORDER BY hostname")
    page.get_by_role("button", name="Create report").click()
    expect(page.locator("#report-done")).to_have_text("Report created.")
    report_id = int(page.url.split("/reports/", 1)[1].split("?", 1)[0])
    accessible(page)
    page.locator("#run-report").click()  # a POST: the run is audited once
    expect(page.locator("#result tbody tr")).to_have_count(1)
    result_path = page.url.removeprefix(base)
    assert result_path.startswith(f"/reports/{report_id}/runs/"), result_path
    expect(page.locator("#result tbody tr").first).to_contain_text(hostname)
    accessible(page)
    shot(page, "report-result")
    with page.expect_download() as download:
        page.locator("#csv-report").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows == [["id", "hostname"], [str(cid), hostname]]
    # report groups: one made with its form, the report filed in it, the list filtered by it
    page.goto(base + "/reports")
    page.get_by_role("button", name="Report groups").click()  # a link drawn as a button
    accessible(page)
    page.locator("#new-report-group").click()
    page.get_by_label("Name").fill("Inventory")
    page.get_by_role("button", name="Create report group").click()
    expect(page.locator("#report-groups-done")).to_have_text("Report group Inventory created.")
    shot(page, "report-groups")
    page.goto(f"{base}/reports/{report_id}")
    page.get_by_label("Report group").select_option(label="Inventory")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#report-done")).to_have_text("Report saved.")
    page.goto(base + "/reports")
    page.locator("#filter_group").select_option(label="Inventory")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.locator("#reports tbody tr")).to_have_count(1)
    expect(page.locator("#report-count")).to_contain_text("1 report in Inventory")
    page.goto(base + "/reports/sql")
    accessible(page)
    page.get_by_label("Query").fill("SELECT nope FROM nothing")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#query-error")).to_contain_text("SQL error")
    page.goto(base + "/reports")
    shot(page, "reports")
    # usable on a tablet: at 820 px the new pages do not scroll sideways (tables scroll themselves)
    page.set_viewport_size({"width": 820, "height": 1180})
    for path in ("/groups", f"/groups/{lab}", "/reports", "/settings", result_path):
        page.goto(base + path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
    shot(page, "report-result-tablet")
    page.set_viewport_size({"width": 1280, "height": 900})

    # a user's page: the role changed, then the account deleted after the confirmation page
    with server.client() as api:
        r = api.post("/users", json={"username": "temp", "password": VIEWER_PASSWORD, "role": "viewer"})
        assert r.status_code == 201, r.text
    page.goto(base + "/users")
    page.get_by_role("link", name="temp", exact=True).click()
    accessible(page)
    page.get_by_label("Role").select_option("operator")
    page.get_by_role("button", name="Change role").click()
    expect(page.locator("#user-role")).to_have_text("operator")
    page.get_by_role("button", name="Delete…").click()  # a link drawn as a button
    expect(page.get_by_role("heading", name="Delete temp?")).to_be_visible()
    accessible(page)
    page.get_by_role("button", name="Delete temp").click()
    expect(page.locator("#users-done")).to_have_text("User deleted temp.")
    with server.client() as api:
        assert "temp" not in [u["username"] for u in api.get("/users").json()["data"]]

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to fleetdeck")).to_be_visible()

    # a viewer reads groups, reports and settings, with no form and no selection
    log_in(page, base, "vic", VIEWER_PASSWORD)
    for path in ("/groups", f"/groups/{berlin}", "/reports", "/settings", "/computers"):
        page.goto(base + path)
        # no form but searches and Run (a report run is a read, as a POST since it is audited)
        expect(page.locator("main form:not([role=search]):not(.run)")).to_have_count(0)
        expect(page.get_by_role("checkbox")).to_have_count(0)
        accessible(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    page.get_by_role("button", name="Run Computers by name", exact=True).click()
    expect(page.locator("#result tbody tr").first).to_contain_text(hostname)
    assert external == [], f"requests that left the server: {external}"
