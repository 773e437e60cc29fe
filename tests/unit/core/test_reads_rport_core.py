"""Reads of the services that came with the rport dialect never take SQLite's write lock (as
``test_reads.py`` checks for the older ones): agents' credentials, the vault, the library, rule
groups, computer attributes and pushed files. Each read runs on a database with something in
every table it reads."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.jobs.files import FilePutRequest
from fleetdeck.core.jobs.library import SCRIPT, LibraryInput
from fleetdeck.core.query import Query
from fleetdeck.core.secrets import Argon2Cost
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.core.vault import VaultEntryInput
from fleetdeck.settings import Settings
from tests.conftest import BACKEND, SECRET
from tests.unit.core.test_reads import write_transactions

ADMIN = Actor(user_id=None, username="alice", role=Role.ADMIN, via="test")

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="the write lock and BEGIN IMMEDIATE are SQLite's")


@pytest.fixture
def world(runtime: Runtime, settings: Settings) -> tuple[Services, dict[str, Any]]:
    cheap = Argon2Cost(time_cost=1, memory_kib=8, parallelism=1)
    config = CoreConfig(files_dir=settings.data_dir / "files", argon2=cheap)
    svc = build_services(runtime.db, SECRET, config)
    ids: dict[str, Any] = {}
    ids["pc"] = svc.computers.create(ADMIN, "pc").id
    ids["uid"] = svc.computers.get(ADMIN, ids["pc"]).summary.uid
    svc.attributes.put(ADMIN, ids["uid"], ["t"], {"k": "v"})
    svc.rule_groups.create(ADMIN, "g", "", {"name": ["*"]}, [])
    svc.agent_secrets.create(ADMIN, "agent-1", "secret")
    svc.vault.init(ADMIN, "vault-pass")
    ids["entry"] = svc.vault.create(ADMIN, VaultEntryInput("k", "v", "secret"))
    ids["script"] = svc.library.save(ADMIN, SCRIPT, LibraryInput("s", "echo")).id
    pushed = svc.file_pushes.push(
        ADMIN, io.BytesIO(b"x"), FilePutRequest("/tmp/x"), computer_uids=[ids["uid"]]
    )
    ids["file_job"] = pushed.batch.job_ids[0]
    return svc, ids


READS: dict[str, Callable[[Services, dict[str, Any]], object]] = {
    "agent_secrets.find": lambda s, i: s.agent_secrets.find(ADMIN, Query()),
    "agent_secrets.get": lambda s, i: s.agent_secrets.get(ADMIN, "agent-1"),
    "agent_secrets.verify": lambda s, i: s.agent_secrets.verify("agent-1", "secret"),
    "vault.status": lambda s, i: s.vault.status(ADMIN),
    "vault.list": lambda s, i: s.vault.list(ADMIN, Query()),
    "vault.get": lambda s, i: s.vault.get(ADMIN, i["entry"]),
    "library.find": lambda s, i: s.library.find(ADMIN, SCRIPT, Query()),
    "library.get": lambda s, i: s.library.get(ADMIN, SCRIPT, i["script"]),
    "rule_groups.find": lambda s, i: s.rule_groups.find(ADMIN, Query(), members=True),
    "rule_groups.get": lambda s, i: s.rule_groups.get(ADMIN, "g"),
    "attributes.get": lambda s, i: s.attributes.get(ADMIN, i["uid"]),
    "attributes.tags": lambda s, i: s.attributes.tags(ADMIN, 10),
    "attributes.find_described": lambda s, i: s.attributes.find_described(ADMIN, Query()),
    "file_pushes.file_for_agent": lambda s, i: s.file_pushes.file_for_agent(i["pc"], i["file_job"]),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_a_read_takes_no_write_lock(
    runtime: Runtime, world: tuple[Services, dict[str, Any]], name: str
) -> None:
    svc, ids = world
    with write_transactions(runtime.db.engine) as started:
        READS[name](svc, ids)
    assert started == [], f"{name} started a write transaction"
