"""The web UI's main flow in Firefox, against a real ``fleetdeck server`` and a real agent.

Playwright's own Firefox build cannot be installed here (it is downloaded from Playwright's CDN,
not PyPI, npm or Debian), and Playwright's ``moz-firefox`` channel for a stock Firefox sends
WebDriver BiDi commands that Firefox ESR 153 does not know (``emulation.setMediaFeaturesOverride``:
"unknown command" when a page is opened). So Debian's ``firefox-esr`` is driven over WebDriver
BiDi by puppeteer-core (npm, pinned in ``tests/web/firefox/package.json``; ``make chromium``
installs both). ``tests/web/firefox/flow.mjs`` does the browser part: keyboard login, the
computers list, the detail page, a command whose output streams in, logout, and a login with an
API token; this test starts the processes, hands it what it needs, and checks the results
through the API (the job's output, the audit records with ``via`` = ``web``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_PASSWORD, AgentProc, ServerProc
from tests.web.conftest import SCREENSHOTS
from tests.web.test_browser import wait_online

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

FIREFOX = Path(os.environ.get("FLEETDECK_FIREFOX", "/usr/bin/firefox-esr"))
FLOW_DIR = Path(__file__).parent / "firefox"


@pytest.fixture
def firefox() -> Path:
    node = shutil.which("node")
    if not FIREFOX.exists():
        pytest.skip(
            f"{FIREFOX} is missing: `apt-get install firefox-esr` as root (make chromium does where it can)"
        )
    if node is None:
        pytest.skip("node is missing (Debian's nodejs): the Firefox flow runs in puppeteer-core")
    if not (FLOW_DIR / "node_modules" / "puppeteer-core").is_dir():
        pytest.skip(f"puppeteer-core is not installed: `npm ci` in {FLOW_DIR} (make chromium does)")
    return FIREFOX


def test_main_flow_in_firefox(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], firefox: Path
) -> None:
    with server.client() as api:
        enroll = api.post("/enroll-tokens", json={"max_uses": 1}).json()["data"]["token"]
        agent = agent_factory(server)
        agent.start(token=enroll)
        cid = wait_online(server, agent)
        hostname = api.get(f"/computers/{cid}").json()["data"]["hostname"]
        token = api.post("/me/tokens", json={"name": "firefox", "scope": "read"}).json()["data"]["token"]
    env = {
        **os.environ,
        "FD_BASE": server.url,
        "FD_USER": "admin",
        "FD_PASSWORD": ADMIN_PASSWORD,
        "FD_COMPUTER": str(cid),
        "FD_HOSTNAME": hostname,
        "FD_TOKEN": token,
        "FD_FIREFOX": str(firefox),
        "FD_SHOTS": str(SCREENSHOTS),
    }
    run = subprocess.run(
        ["node", str(FLOW_DIR / "flow.mjs")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, f"{run.stderr[-4000:]}\nserver log:\n{server.log_path.read_text()[-2000:]}"
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["browser"].startswith("firefox/"), result
    assert result["cookie"] == {"httpOnly": True, "sameSite": "Lax"}, result
    assert result["streamed"]["first"] == "first-from-firefox", result  # before the second line came
    assert result["exit"] == "exit code 0"
    with server.client() as api:
        job = api.get(f"/jobs/{result['job']}").json()["data"]
        assert (job["status"], job["stdout"]) == ("succeeded", "first-from-firefox\nsecond-line\n")
        found = api.get("/audit", params={"filter[via]": "web"})
        assert found.status_code == 200, found.text
        audit = sorted(found.json()["data"], key=lambda a: a["id"])
    logins = [
        (a["action"], a["username"], a["result"], a["detail"].get("method"))
        for a in audit
        if a["action"].startswith("auth.")
    ]
    assert logins == [
        ("auth.login", "admin", "ok", None),
        ("auth.logout", "admin", "ok", "password"),
        ("auth.login", "admin", "ok", "api_token"),
        ("auth.logout", "admin", "ok", "api_token"),
    ], logins
    assert not any(token in json.dumps(a) for a in audit)  # the token itself is never recorded
