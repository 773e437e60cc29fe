"""The computers page in a real browser with N computers: time to first render and time to
filter, as a user sees them (Debian's Chromium driven by Playwright, issue #12's bench item).

    .venv/bin/python bench/web_render.py -n 10000 [--runs 7] [--chromium /usr/bin/chromium]

Fills the database as ``bench/oco_list.py`` does (one bulk INSERT; two thirds online, half
Windows, half Ubuntu), starts a real ``fleetdeck server``, logs in through the form, then
measures, median of ``--runs`` each:

* first render: ``page.goto('/computers')`` until the table's rows are in the DOM and painted,
  wall time in the bench; with the browser's own first-contentful-paint and
  DOMContentLoaded (Navigation Timing), for 50 and 200 rows per page;
* filter: a change of the State or the Group select (a group of every 10th computer), typing
  a search, the OS field: from the input until
  the row count shows the new total (the htmx request, the server's query, the swap). Typing
  waits for the page's 300 ms debounce (``delay:300ms``); that wait is printed separately
  and included in the figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from fleetdeck.app import build_runtime
from fleetdeck.core.authz import system_actor
from fleetdeck.settings import Settings
from oco_list import PASSWORD, SECRET, fill, server

DEBOUNCE_MS = 300  # computers.html: hx-trigger "input changed delay:300ms"
GROUP_EVERY = 10  # every 10th computer is in the group "bench" (1,000 of 10,000)


def fill_group(data_dir: Path, n: int) -> int:
    """A group with every ``GROUP_EVERY``-th computer, by one core call; returns its id."""
    rt = build_runtime(Settings(data_dir=data_dir, secret_key=SECRET), migrate_db=False)
    system = system_actor("bench")
    gid = rt.services.groups.create(system, "bench").id
    rt.services.groups.add_members(system, gid, range(1, n + 1, GROUP_EVERY))
    rt.db.dispose()
    return gid


def first_render(page: Page, url: str) -> tuple[float, float, float]:
    """Wall ms until the rows are there, and the browser's FCP and DOMContentLoaded (ms)."""
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_selector("#rows tr[data-id]", state="attached")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    wall = (time.perf_counter() - t0) * 1000
    fcp = page.evaluate(
        "() => (performance.getEntriesByName('first-contentful-paint')[0] || {startTime: -1}).startTime"
    )
    dcl = page.evaluate("() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
    return wall, float(fcp), float(dcl)


def until_count(page: Page, text: str) -> None:
    page.wait_for_function(
        "t => (document.querySelector('#computers-count') || {}).textContent?.startsWith(t)", arg=text
    )


def timed(page: Page, action: str, value: str, expect: str, base: str) -> float:
    """From the input event until the count starts with ``expect``; the page is reset first."""
    page.goto(base + "/computers", wait_until="load")
    page.wait_for_selector("#rows tr[data-id]")
    t0 = time.perf_counter()
    if action in ("online", "group"):
        page.select_option(f"#{action}", value)
    else:
        page.fill(f"#{action}", value)
    until_count(page, expect)
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    if not Path(args.chromium).exists():
        sys.exit(f"{args.chromium} is missing: apt-get install chromium")
    n = args.n
    offline = len([i for i in range(n) if i % 3 == 0])
    ubuntu = len([i for i in range(n) if i % 2 == 0])
    search = [i for i in range(n) if "0999" in f"pc-{i:05d}"]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        t0 = time.perf_counter()
        fill(data, n)
        gid = fill_group(data, n)
        print(f"filled {n} computers in {time.perf_counter() - t0:.1f} s")
        with server(data, None) as (base, _proc), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(base + "/login")
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.press("#password", "Enter")
            page.wait_for_selector("#computers-online")
            for _ in range(2):  # warm the server's caches and the browser's asset cache
                first_render(page, base + "/computers")
            print(f"{n} computers, Chromium {browser.version}, median of {args.runs} runs:")
            for label, path in (
                ("first render, 50 rows", "/computers"),
                ("first render, 200 rows", "/computers?size=200"),
            ):
                runs = [first_render(page, base + path) for _ in range(args.runs)]
                wall, fcp, dcl = (statistics.median(r[i] for r in runs) for i in range(3))
                print(f"  {label:34s} {wall:7.0f} ms  (FCP {fcp:.0f} ms, DOMContentLoaded {dcl:.0f} ms)")
            cases = (
                ("filter State = offline (select)", "online", "no", f"{offline} computers", 0),
                (
                    "filter Group = bench (select)",
                    "group",
                    str(gid),
                    f"{len(range(1, n + 1, GROUP_EVERY))} computers",
                    0,
                ),
                ("search '0999' (typed)", "q", "0999", f"{len(search)} computer", DEBOUNCE_MS),
                ("OS 'Ubuntu*' (typed)", "os", "Ubuntu*", f"{ubuntu} computers", DEBOUNCE_MS),
            )
            for label, action, value, expect, debounce in cases:
                ms = statistics.median(timed(page, action, value, expect, base) for _ in range(args.runs))
                extra = f"  (of which {debounce} ms debounce)" if debounce else ""
                print(f"  {label:34s} {ms:7.0f} ms{extra}")
            browser.close()


if __name__ == "__main__":
    main()
