"""opsi filters of non-host objects in SQL (issue #10 §2): filtered ``*_getObjects`` in-process,
through the adapters' ``Crud.rows`` (what the JSON-RPC methods run, without HTTP), on N
computers with S installed software titles each and P packages; p50 of 5 calls.

    .venv/bin/python bench/opsi_filters.py 300 50 100
    PYTHONPATH=/path/to/other/checkout/src .venv/bin/python bench/opsi_filters.py 300 50 100  # A/B

The data is made through core (a throwaway SQLite database in a temporary directory).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import fleetdeck
from fleetdeck.api.dialects.opsi.methods.audit import SOFTWARE, SOFTWARE_ON_CLIENT
from fleetdeck.api.dialects.opsi.methods.products import PRODUCTS
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.app import build_runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.core.packages.entities import PackageFields
from fleetdeck.protocol import messages as m
from fleetdeck.settings import Settings

SECRET = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def main(n: int, s_titles: int, p: int) -> None:
    print("fleetdeck from", Path(fleetdeck.__file__).parent)
    tmp = Path(tempfile.mkdtemp())
    settings = Settings(
        data_dir=tmp / "data",
        secret_key=SECRET,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        argon2_parallelism=1,
    )
    rt = build_runtime(settings)
    s = rt.services
    user = s.users.create(system_actor("bench"), "admin", "admin-password-1", Role.ADMIN)
    admin = Actor(user_id=user.id, username="admin", role=Role.ADMIN, source="127.0.0.1", via="bench")
    for k in range(n):
        cid = s.computers.create(admin, f"pc-{k:04d}").id
        titles = [m.Software(f"sw-{(k + j) % (s_titles * 2):04d}", "1.0", "") for j in range(s_titles)]
        inv = m.Inventory(hostname=f"pc-{k:04d}", architecture="x86_64", software=titles)
        s.computers.record_inventory(
            agent_actor(cid, f"pc-{k:04d}", "127.0.0.1"), cid, inv, m.inventory_digest(inv)
        )
    for k in range(p):
        s.packages.create(admin, f"product-{k:04d}", "1", PackageFields(install_procedure="x"))
    ctx = Context(services=s, actor=admin)
    calls: list[tuple[str, Any, dict[str, Any]]] = [
        ("auditSoftwareOnClient(name=sw-0007)", SOFTWARE_ON_CLIENT, {"name": "sw-0007"}),
        ("auditSoftware(name=sw-0007)", SOFTWARE, {"name": "sw-0007"}),
        ("product(id=product-0007)", PRODUCTS, {"id": "product-0007"}),
        ("product(id=product-00*)", PRODUCTS, {"id": "product-00*"}),
    ]
    for name, crud, flt in calls:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            rows = crud.rows(ctx, flt)
            times.append(time.perf_counter() - t0)
        print(f"{name}: {statistics.median(times) * 1000:.1f} ms, {len(rows)} objects")


if __name__ == "__main__":
    main(*(int(a) for a in (sys.argv[1:4] if len(sys.argv) >= 4 else ("300", "50", "100"))))
