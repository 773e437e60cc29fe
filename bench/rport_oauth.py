"""What an rport OAuth login costs fleetdeck: against the real OpenID Connect provider of the
tests (panva's oidc-provider on 127.0.0.1, tests/dialects/rport/oidc/, ``make chromium``), the
median and worst time of ``OidcLoginService.begin`` (discovery cached, one attempt row) and of
``complete`` (the state taken, the code exchanged at the provider, the ID token verified
against the cached JWKS, the user read, a session started). The browser part at the provider
is not timed. In-process, the provider over loopback sockets.

Usage: ``python bench/rport_oauth.py [-n 50] [--database-url URL]`` (SQLite in a temp dir by
default; a PostgreSQL URL must name a throwaway database: the schema is created in it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.dialects.rport.test_oauth import CLIENT, HERE, REDIRECT, _free_port, _secret, browse  # noqa: E402

from fleetdeck.app import build_runtime  # noqa: E402
from fleetdeck.core.authz import Role, system_actor  # noqa: E402
from fleetdeck.settings import Settings  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("-n", type=int, default=50, help="logins")
    p.add_argument("--database-url", help="default: SQLite in a temp dir")
    args = p.parse_args()

    port = _free_port()
    proc = subprocess.Popen(
        ["node", str(HERE / "provider.mjs"), str(port), REDIRECT],
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        issuer = proc.stdout.readline().split()[1]
        data = Path(tempfile.mkdtemp(prefix="fdbench-oauth-"))
        settings = Settings(data_dir=data / "data", secret_key="b" * 40, database_url=args.database_url)
        rt = build_runtime(settings)
        s = rt.services
        admin_info = s.users.create(system_actor("bench"), "admin", "admin-password-1", Role.ADMIN)
        admin = system_actor("bench")
        for key, value in (
            ("oidc.issuer", issuer),
            ("oidc.client_id", CLIENT),
            ("oidc.client_secret", _secret(CLIENT)),
            ("oidc.redirect_url", REDIRECT),
        ):
            s.settings.set(admin, key, value)
        begin, complete = [], []
        for i in range(args.n + 1):
            t0 = time.perf_counter()
            start = s.oidc.begin("127.0.0.1")
            t1 = time.perf_counter()
            back = browse(start.authorize_url, admin_info.username)
            t2 = time.perf_counter()
            s.oidc.complete(back["code"], back["state"], "127.0.0.1", "bench", lifetime_sec=600)
            t3 = time.perf_counter()
            if i:  # the first login fills the discovery and JWKS caches
                begin.append((t1 - t0) * 1000)
                complete.append((t3 - t2) * 1000)
        assert parse_qs(urlsplit(start.authorize_url).query)["code_challenge_method"] == ["S256"]
    finally:
        proc.terminate()
        proc.wait(10)
    load = os.getloadavg()
    print(f"{args.n} OAuth logins, {rt.db.dialect}, load average {load[0]:.2f}")
    for name, values in (("begin", begin), ("complete", complete)):
        print(f"  {name:9} median {statistics.median(values):7.2f} ms   max {max(values):7.2f} ms")


if __name__ == "__main__":
    main()
