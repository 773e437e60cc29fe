"""CPU profile of opsi's complete ``productOnClient_getObjects()`` in-process (issue #13).

    .venv/bin/python bench/opsi_poc_profile.py --data-dir /tmp/fdbench-opsi-XXXX [--runs 3] [--profile]

On a data directory ``bench/opsi_api.py`` filled (10,000 clients x 50 products = 500,000 stored
states): the opsi method as the ``/rpc`` route runs it (the registered method, over core), then the
answer encoded as msgpack and compressed with LZ4 as opsiconfd does. Reported per run: CPU time
of the process (the comparable figure on a shared machine) and wall time, with the load average;
``--profile`` prints cProfile's top functions of one more run. ``--rpc`` measures the whole
``/rpc`` request instead (the app of ``create_app`` called through Starlette's TestClient with
an API token: authentication, body decoding, the method, msgpack + LZ4 of the answer).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from pathlib import Path

import lz4.frame
import msgspec

from fleetdeck.api.dialects.opsi import methods  # noqa: F401 (registers the methods)
from fleetdeck.api.dialects.opsi.registry import METHODS, Context
from fleetdeck.app import build_runtime, create_app
from fleetdeck.core.authz import Actor, Role
from fleetdeck.settings import Settings

SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--rpc", action="store_true")
    opts = ap.parse_args()
    settings = Settings(data_dir=opts.data_dir, secret_key=SECRET)
    rt = build_runtime(settings)
    admin = Actor(user_id=1, username="admin", role=Role.ADMIN)
    ctx = Context(services=rt.services, actor=admin)
    if opts.rpc:
        from starlette.testclient import TestClient

        token = rt.services.users.create_token(admin, f"profile {time.time_ns()}", "read+write", None).token
        http = TestClient(create_app(settings, rt))
        request = lz4.frame.compress(
            msgspec.msgpack.encode(
                {"jsonrpc": "2.0", "id": 1, "method": "productOnClient_getObjects", "params": []}
            )
        )
        headers = {
            "Content-Type": "application/msgpack",
            "Accept": "application/msgpack",
            "Content-Encoding": "lz4",
            "Accept-Encoding": "lz4",
        }

    method = METHODS.get("productOnClient_getObjects")
    assert method is not None
    decoded: list[float] = []

    def once() -> tuple[int, int]:
        if opts.rpc:
            r = http.post("/rpc", content=request, headers=headers, auth=("admin", token))
            c0 = time.process_time()
            answer = msgspec.msgpack.decode(lz4.frame.decompress(r.content))
            decoded.append(time.process_time() - c0)  # the caller's work, not the server's
            assert answer.get("error") is None, str(answer)[:300]
            return len(answer["result"]), len(r.content)
        rows = method.invoke(ctx, {})
        body = msgspec.msgpack.encode({"jsonrpc": "2.0", "id": 1, "result": rows, "error": None})
        return len(rows), len(lz4.frame.compress(body))

    for _ in range(opts.runs):
        c0, w0 = time.process_time(), time.perf_counter()
        n, size = once()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        load = os.getloadavg()[0]
        client = f" (of which the caller's decoding {decoded[-1]:.2f} s)" if decoded else ""
        print(
            f"{n} objects, {size} bytes msgpack+lz4: CPU {cpu:.2f} s{client}, "
            f"wall {wall:.2f} s, load {load:.1f}"
        )
    if opts.profile:
        prof = cProfile.Profile()
        prof.runcall(once)
        pstats.Stats(prof).sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    main()
