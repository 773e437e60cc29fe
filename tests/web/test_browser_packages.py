"""The package and deployment pages in a real browser (Debian's Chromium through Playwright)
against a real ``fleetdeck server`` with a real agent: a file over the upload limit refused
before sending; a package uploaded with its payload (the progress bar runs to 100 %); deployed
to the agent's computer from the package's page, the deployment's page following the job live
until it succeeds; the installed file on disk and the installation record read back through
the API; a property added; a deployment rule made and deleted; keyboard reach of the main
actions; a viewer without any write action. Screenshots go to build/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from fleetdeck.core.authz import Role
from tests.e2e.conftest import AgentProc, ServerProc
from tests.web.conftest import PASSWORD
from tests.web.test_browser import ADMIN_PASSWORD, TIMEOUT_MS, browser, local_only, log_in, shot, wait_online
from tests.web.test_browser_admin import accessible

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
__all__ = ["browser"]  # the fixture, shared with test_browser.py

INSTALL = b'#!/bin/sh\necho "installing into $1"\necho installed-by-the-ui > "$1"\n'


def test_upload_deploy_and_watch_it_succeed(
    server: ServerProc,
    agent_factory: Callable[[ServerProc], AgentProc],
    browser: Browser,
    tmp_path: Path,
) -> None:
    base = server.url
    external: list[str] = []
    token = server.enroll_token()
    agent = agent_factory(server)
    agent.start(token=token)
    cid = wait_online(server, agent)
    server.create_user("vic", PASSWORD, Role.VIEWER)
    with server.client() as api:
        hostname = api.get(f"/computers/{cid}").json()["data"]["hostname"]
    marker = tmp_path / "installed.txt"

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    local_only(page, base, external)
    log_in(page, base, "admin", ADMIN_PASSWORD)

    # the packages page from the menu, and "Upload a package" with the keyboard
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Packages").click()
    expect(page.get_by_role("heading", name="Packages")).to_be_visible()
    page.get_by_role("button", name="Upload a package").focus()  # a link drawn as a button
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Upload a package")).to_be_visible()

    # a file over the server's request limit is refused before anything is sent
    limit = int(page.locator("#files").get_attribute("data-max") or 0)
    assert limit > 0
    page.get_by_label("Name", exact=True).fill("hello-ui")
    page.get_by_label("Version", exact=True).fill("1.0")
    page.get_by_label(re.compile("^Install command")).fill(f"sh install.sh {marker}")
    page.locator("#files").set_input_files(
        {"name": "big.bin", "mimeType": "application/octet-stream", "buffer": b"x" * (limit + 1)}
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#files-error")).to_contain_text("this server accepts at most")
    expect(page.locator("#files")).to_have_attribute("aria-invalid", "true")
    with server.client() as api:
        assert api.get("/packages").json()["data"] == []

    # the real upload: the progress bar's values are kept across the page change
    page.locator("#files").set_input_files(
        [
            {"name": "install.sh", "mimeType": "text/x-sh", "buffer": INSTALL},
            {"name": "data.bin", "mimeType": "application/octet-stream", "buffer": bytes(limit // 2)},
        ]
    )
    page.evaluate(
        """() => { const bar = document.getElementById('upload-progress');
        new MutationObserver(() => sessionStorage.setItem('progress',
            (sessionStorage.getItem('progress') || '') + ' ' + bar.value))
          .observe(bar, {attributes: true}); }"""
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#package-done")).to_have_text("Package created.")
    progress = page.evaluate("() => sessionStorage.getItem('progress')") or ""
    assert progress.split()[-1] == "100", progress
    expect(page.locator("#install-procedure")).to_have_text(f"sh install.sh {marker}")
    package_id = int(page.url.split("/packages/")[1].split("?")[0])
    shot(page, "package")

    # a property, added on the package's page
    page.get_by_text("Add or change a property").click()
    page.get_by_label("Key").fill("channel")
    page.get_by_label("Possible values").fill("stable\nbeta")
    page.get_by_label("Default values").fill("stable")
    page.get_by_role("button", name="Save property").click()
    expect(page.locator("#property-table tr[data-key='channel']")).to_contain_text("stable, beta")

    # deploy it to the agent's computer: the page follows the job until it succeeds
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.get_by_role("heading", name="New deployment")).to_be_visible()
    expect(page.get_by_label("Packages")).to_have_values([str(package_id)])
    page.get_by_label("Name", exact=True).fill("hello from the browser")
    page.get_by_label("Computers by name").fill(hostname)
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.get_by_role("heading", name="hello from the browser")).to_be_visible()
    row = page.locator("#deployment-jobs tbody tr").first
    expect(row).to_contain_text(hostname)
    expect(row.locator('[data-field="status"]')).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("#deployment-status")).to_have_text("succeeded")
    expect(row.locator('[data-field="exit"]')).to_have_text("0")
    expect(row.locator('[data-field="progress"]')).to_have_attribute("value", "100")
    assert row.locator('[data-field="progress"]').evaluate("bar => bar.position") == 1  # drawn full
    expect(page.locator("#deployment")).to_have_attribute("data-final", "1")  # the stream ended
    page.wait_for_timeout(1000)  # pico animates the bar to its value: the picture shows the end
    shot(page, "deployment")
    # the jobs filtered by state (in the database; the select names each state's count)
    state = page.get_by_label("Jobs in state")
    expect(state.locator("option[value='succeeded']")).to_have_text("succeeded (1)")
    state.select_option("failed")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.locator("#deployment-jobs tbody")).to_contain_text("No job is failed.")
    page.get_by_label("Jobs in state").select_option("succeeded")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.locator("#deployment-jobs tbody tr").first).to_contain_text(hostname)
    assert "status=succeeded" in page.url
    assert marker.read_text() == "installed-by-the-ui\n"
    with server.client() as api:
        installed = api.get("/installations", params={"package_id": package_id}).json()["data"]
        assert [i["computer_id"] for i in installed] == [cid]
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Deployments").click()
    expect(page.locator("#deployments tbody tr").first).to_contain_text("succeeded")
    shot(page, "deployments")

    # a deployment rule, made from groups and then deleted
    with server.client() as api:
        gid = api.post("/groups", json={"name": "browser-lab"}).json()["data"]["id"]
        pg = api.post("/package-groups", json={"name": "browser-basics"}).json()["data"]["id"]
    # the package put in the package group on the group's page
    page.goto(base + "/packages")
    page.get_by_role("button", name="Package groups").click()
    page.get_by_role("link", name="browser-basics").click()
    page.get_by_label("Add a package").select_option(str(package_id))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#package-group-done")).to_have_text("Done: package added.")
    expect(page.locator("#group-members tbody tr").first).to_contain_text("hello-ui 1.0")
    accessible(page)
    shot(page, "package-group")
    page.goto(base + "/packages")
    page.get_by_role("button", name="Deployment rules").click()
    page.get_by_text("New rule").click()
    page.get_by_label("Name", exact=True).fill("keep basics")
    page.get_by_label("Computer group").select_option(str(gid))
    page.get_by_label("Package group").select_option(str(pg))
    page.get_by_role("button", name="Create rule").click()
    expect(page.locator("#rules-done")).to_have_text("Deployment rule keep basics created.")
    shot(page, "deployment-rules")
    page.get_by_role("link", name="keep basics").click()
    page.get_by_role("button", name="Delete this rule").click()
    expect(page.locator("#rules tbody")).to_contain_text("No deployment rules.")

    page.goto(base + "/packages")
    expect(page.locator(f"tr[data-id='{package_id}']")).to_contain_text("hello-ui")
    shot(page, "packages")
    page.get_by_role("button", name="Log out").click()

    # a viewer reads the pages and sees no write action
    log_in(page, base, "vic", PASSWORD)
    page.goto(f"{base}/packages/{package_id}")
    expect(page.locator("#install-procedure")).to_be_visible()
    page.goto(f"{base}/deployments")
    expect(page.locator("#deployments tbody tr")).to_have_count(1)
    viewer_paths = (f"/packages/{package_id}", "/packages", "/deployments", "/deployment-rules")
    viewer_paths += ("/package-families", "/package-groups", f"/package-groups/{pg}")
    viewer_paths += (f"/packages/{package_id}/dependencies",)
    for path in viewer_paths:
        page.goto(base + path)
        expect(page.locator("main form[method='post']")).to_have_count(0)
        expect(page.get_by_text("Upload a package")).to_have_count(0)
        expect(page.get_by_text("New deployment")).to_have_count(0)
        expect(page.get_by_text("Edit", exact=True)).to_have_count(0)
    assert external == [], f"requests that left the server: {external}"
