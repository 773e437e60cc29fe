"""Tests for the survivors of the fresh sample of seed 20261209 left "not killed yet"
(docs/testing.md, "The fresh sample of seed 20261209"): each asserts, through core's services
(or core's own functions where no service reaches the code), the behaviour the named mutant
changes."""

from __future__ import annotations

import email.parser
import errno
import re
import urllib.parse
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

import pytest
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import text

from fleetdeck.app import Runtime
from fleetdeck.core.agentdist import AGENT_REQUIRES, build_agent_wheel
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.deployments.entities import PackageAction
from fleetdeck.core.errors import (
    AuthenticationFailed,
    Conflict,
    FleetdeckError,
    PermissionDenied,
    Reason,
    ValidationFailed,
)
from fleetdeck.core.jobs.entities import CommandRequest
from fleetdeck.core.nodes import NAME_MAX, NodeService
from fleetdeck.core.packages.entities import PackageFields, PayloadFile
from fleetdeck.core.packages.payloads import PayloadStore, _write_atomically, build_zip
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.secrets import Argon2Cost
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.core.vault import VaultEntryInput, VaultStatus
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import VaultSecretEntry, VaultSecretState
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.conftest import BACKEND, SECRET
from tests.factories import ManualClock
from tests.oidc_provider import AUTHORIZE_PARAMETERS
from tests.unit.core.conftest import T0
from tests.unit.core.test_agent_records import audit_rows, encrypt, event
from tests.unit.core.test_oidc_http import _configure, _discovery, provider  # noqa: F401  (the fixture)
from tests.unit.core.test_polling import Agent
from tests.unit.core.test_reads import write_transactions

ADMIN = system_actor("test")


# ------------------------------------------------------------------ payloads


def test_a_wrapped_file_without_a_name_becomes_payload_bin(tmp_path: Path) -> None:
    """packages.payloads.PayloadStore.wrap 5: the default member name upper-cased."""
    store = PayloadStore(tmp_path / "store")
    source = tmp_path / "upload"
    source.write_bytes(b"not a zip")
    sha, size = store.wrap(source, "")
    with zipfile.ZipFile(store.path(sha)) as zf:
        assert zf.namelist() == ["payload.bin"]
        assert zf.read("payload.bin") == b"not a zip"
    assert store.path(sha).stat().st_size == size
    assert not source.exists()


def test_a_file_given_twice_is_refused_as_invalid(svc: Services, admin: Actor) -> None:
    """packages.payloads.build_zip 28: the refusal's reason dropped."""
    twice = [PayloadFile("setup.exe", b"a"), PayloadFile("setup.exe", b"b")]
    with pytest.raises(ValidationFailed) as err:
        build_zip(twice)
    assert (err.value.message, err.value.field, err.value.detail) == (
        "file 'setup.exe' given twice",
        "files",
        {"field": "files", "reason": Reason.INVALID},
    )
    with pytest.raises(ValidationFailed) as err:
        svc.packages.create(admin, "app", "1", PackageFields(install_procedure="x"), files=twice)
    assert err.value.detail["reason"] is Reason.INVALID
    assert svc.packages.list_families(admin) == []  # nothing written


def test_a_failed_write_keeps_its_error_when_the_temporary_file_is_already_gone(tmp_path: Path) -> None:
    """packages.payloads._write_atomically 30: ``suppress(None)`` made the clean-up's own
    FileNotFoundError (the temporary file removed meanwhile, e.g. by a cleaner) a TypeError that
    hid the write's error."""
    target = tmp_path / "ab" / "abc.zip"

    def full_disk(out: BinaryIO) -> None:
        for leftover in target.parent.glob(".upload-*.tmp"):
            leftover.unlink()
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left on device") as err:
        _write_atomically(target, full_disk)
    assert (type(err.value), err.value.errno) == (OSError, errno.ENOSPC)
    assert list(target.parent.iterdir()) == []

    def broken(out: BinaryIO) -> None:
        out.write(b"half")
        raise OSError(errno.EIO, "I/O error")

    with pytest.raises(OSError, match="I/O error") as err:
        _write_atomically(target, broken)
    assert err.value.errno == errno.EIO
    assert list(target.parent.iterdir()) == []  # the temporary file removed


# ------------------------------------------------------------------ the agent's wheel


def test_the_agent_wheels_metadata_is_exactly_what_pip_reads(tmp_path: Path) -> None:
    """agentdist.build_agent_wheel 41: METADATA's text garbled at its end."""
    wheel = build_agent_wheel(tmp_path, version="1.2.3")
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read("fleetdeck_agent-1.2.3.dist-info/METADATA").decode()
    assert (
        meta
        == "\n".join(
            [
                "Metadata-Version: 2.1",
                "Name: fleetdeck-agent",
                "Version: 1.2.3",
                "Summary: The fleetdeck endpoint agent, without the server's dependencies.",
                "License: MIT",
                "Requires-Python: >=3.11",
                *(f"Requires-Dist: {req}" for req in AGENT_REQUIRES),
            ]
        )
        + "\n"
    )
    parsed = email.parser.Parser().parsestr(meta)
    assert parsed.get_all("Requires-Dist") == list(AGENT_REQUIRES)


# ------------------------------------------------------------------ alerting


def test_a_problem_keeps_its_rules_actions(svc: Services, admin: Actor) -> None:
    """alerting.service.evaluate 67: a new problem stored without the rule's actions."""
    pc = factories.computer(svc, ADMIN, "web1", os="Debian")
    actions = [{"log": "cpu hot"}]
    svc.alerting.set_ruleset(
        admin,
        {
            "vars": [],
            "rules": [
                {"id": "hot", "severity": "High", "expr": "cpu_usage_percent > 90", "actions": actions}
            ],
        },
    )
    opened = svc.alerting.evaluate(pc, {"cpu_usage_percent": 95.0}, [])
    [problem] = svc.alerting.problems(admin, Query()).items
    assert opened.opened == [{"problem_id": problem.id, "rule_id": "hot"}]
    assert problem.actions == actions
    assert svc.alerting.problem(admin, problem.id).actions == actions


def test_problems_are_found_by_their_computers_uid(svc: Services, admin: Actor) -> None:
    """alerting.service.problems 3: the ``client_id`` query field garbled."""
    one = factories.computer(svc, ADMIN, "web1", os="Debian")
    two = factories.computer(svc, ADMIN, "web2", os="Debian")
    svc.alerting.set_ruleset(
        admin,
        {
            "vars": [],
            "rules": [{"id": "hot", "severity": "High", "expr": "cpu_usage_percent > 90", "actions": []}],
        },
    )
    for pc in (one, two):
        svc.alerting.evaluate(pc, {"cpu_usage_percent": 95.0}, [])
    uid = svc.computers.get(admin, two).summary.uid
    page = svc.alerting.problems(admin, Query((Cond("client_id", Op.EQ, uid),)))
    assert (page.total, [(p.client_name, p.computer_uid) for p in page.items]) == (1, [("web2", uid)])


# ------------------------------------------------------------------ audit rows and refusals


def test_marking_audit_data_obsolete_is_audited_as_the_computer(svc: Services, admin: Actor) -> None:
    """computers.reported.set_obsolete 22: the audit row's object type garbled."""
    pc = factories.computer(svc, ADMIN, "pc-1")
    mark = factories.audit_mark(svc)
    assert svc.reported_audit.set_obsolete(admin, "software", pc) == 0
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_type, row.object_id, row.result, row.detail) == (
        "audit_data.set_obsolete",
        "computer",
        str(pc),
        "ok",
        {"kind": "software", "rows": 0},
    )


def test_a_retried_enrollment_is_audited_with_its_host_name(svc: Services, clock: ManualClock) -> None:
    """enrollment.service.enroll 73: the retry's audit detail key ``hostname`` garbled."""
    new = svc.enrollment.create_token(ADMIN, expires_in=None)
    args = {"hostname": " pc1 ", "machine_id": "m1", "agent_version": "1", "source": "x", "attempt": "a-1"}
    first = svc.enrollment.enroll(new.token, **args)
    clock.now = T0 + timedelta(minutes=1)
    mark = factories.audit_mark(svc)
    again = svc.enrollment.enroll(new.token, **args)
    assert again.computer_id == first.computer_id
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_type, row.object_id, row.detail) == (
        "agent.enroll",
        "computer",
        str(first.computer_id),
        {"hostname": "pc1", "enroll_token_id": new.info.id, "retry": True},
    )


@contextmanager
def another_process_inserts_first(runtime: Runtime, table: str, columns: tuple[str, ...]) -> Iterator[None]:
    """A trigger that inserts a twin of each row (these ``columns`` copied) just before the
    service's own insert, as another server process writing the same row between this one's
    check and its insert would. On SQLite the write lock serialises two processes' writes, so
    only this reaches that moment; the twin goes with the failed transaction."""
    engine = runtime.db.engine
    cols = ", ".join(columns)
    new = ", ".join(f"NEW.{c}" for c in columns)
    with engine.begin() as conn:
        if BACKEND == "sqlite":
            conn.execute(
                text(
                    f"CREATE TRIGGER twin BEFORE INSERT ON {table}"
                    f" BEGIN INSERT INTO {table} ({cols}) VALUES ({new}); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION twin() RETURNS trigger AS $$ BEGIN IF pg_trigger_depth() = 1 THEN"
                    f" INSERT INTO {table} ({cols}) VALUES ({new}); END IF;"
                    " RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(f"CREATE TRIGGER twin BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION twin()")
            )
    try:
        yield
    finally:
        with engine.begin() as conn:
            if BACKEND == "sqlite":
                conn.execute(text("DROP TRIGGER twin"))
            else:
                conn.execute(text(f"DROP TRIGGER twin ON {table}"))
                conn.execute(text("DROP FUNCTION twin()"))


VAULT_STATE = (
    "id",
    "kdf",
    "salt",
    "time_cost",
    "memory_kib",
    "parallelism",
    "check_value",
    "created_at",
    "created_by",
)
VAULT_ENTRY = (
    "client_id",
    "key",
    "type",
    "required_group",
    "value",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
)
VAULT_PASSWORD = "vault-pass"


@pytest.fixture
def vault_svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    """Core's services with the cheapest argon2 cost, so the vault's key derivation is quick."""
    config = CoreConfig(
        payload_dir=settings.data_dir / "payloads",
        argon2=Argon2Cost(time_cost=1, memory_kib=8, parallelism=1),
    )
    return build_services(runtime.db, SECRET, config, clock=clock)


def test_a_vault_initialised_meanwhile_by_another_process_is_a_conflict_in_words(
    runtime: Runtime, vault_svc: Services
) -> None:
    """vault.init 65: the Conflict's text garbled where the insert meets another process's row."""
    admin = factories.user(vault_svc, Role.ADMIN)
    with (
        another_process_inserts_first(runtime, "vault_secret_state", VAULT_STATE),
        pytest.raises(Conflict) as err,
    ):
        vault_svc.vault.init(admin, VAULT_PASSWORD)
    assert err.value.message == "vault is already initialized"
    assert vault_svc.vault.status(admin).initialised is False  # the whole transaction rolled back


def test_uninstalling_a_family_that_is_not_installed_names_the_family(svc: Services, admin: Actor) -> None:
    """deployments.actions.not_installed 2: the refusal's field dropped."""
    pc = factories.computer(svc, ADMIN, "pc-1")
    factories.package(svc, admin, "lib")
    mark = factories.audit_mark(svc)
    with pytest.raises(ValidationFailed) as err:
        svc.deployments.apply_package_actions(admin, pc, [("lib", PackageAction.UNINSTALL)], name="x")
    assert (err.value.message, err.value.field, err.value.detail) == (
        f"package family lib is not installed on computer {pc}",
        "family_key",
        {"field": "family_key", "reason": Reason.NOT_INSTALLED, "family_key": "lib"},
    )
    assert svc.deployments.list_containers(admin) == []  # nothing written
    assert [r.result for r in factories.audit_since(svc, mark)] == ["invalid"]


# ------------------------------------------------------------------ computers and packages


def test_a_put_finds_a_computer_by_its_fqdn_when_its_host_name_differs(svc: Services, admin: Actor) -> None:
    """computers.service.put 60: the FQDN lookup broken, so a computer known by its FQDN
    only (its host name is another) was created a second time."""
    pc = svc.computers.create(admin, "srv-a", fqdn="web.example.org").id
    mark = factories.audit_mark(svc)
    got = svc.computers.put(admin, " Web.Example.ORG. ", default_domain="example.org", notes="front")
    assert got is not None and (got.id, got.hostname) == (pc, "srv-a")
    assert [c.id for c in svc.computers.find(admin, Query()).items] == [pc]
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_id, row.detail) == ("computer.update", str(pc), {"notes": ["", "front"]})


def test_an_assigned_installation_is_read_back_for_its_own_package(svc: Services, admin: Actor) -> None:
    """packages.installations.assign_installation 87: the read-back without the package, so
    the computer's first installation came back instead of the one assigned."""
    pc = factories.computer(svc, ADMIN, "pc-1")
    first = factories.package(svc, admin, "alpha").id
    second = factories.package(svc, admin, "beta").id
    got = svc.packages.assign_installation(admin, pc, first)
    assert (got.package_id, got.family_name, got.computer_id) == (first, "alpha", pc)
    got = svc.packages.assign_installation(admin, pc, second)
    assert (got.package_id, got.family_name, got.computer_id) == (second, "beta", pc)
    again = svc.packages.assign_installation(admin, pc, first)
    assert (again.package_id, again.family_name) == (first, "alpha")


def test_a_family_knows_its_oldest_and_newest_version(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    """packages.queries.family_infos 23: the family's oldest version time None."""
    fid = factories.package(svc, admin, "app", "1").family_id
    clock.now = T0 + timedelta(hours=1)
    factories.package(svc, admin, "app", "2")
    clock.now = T0 + timedelta(hours=2)
    got = svc.packages.get_family(admin, fid)
    assert got.package_count == 2
    assert (got.oldest_package_created, got.newest_package_created) == (T0, T0 + timedelta(hours=1))
    [listed] = svc.packages.list_families(admin)
    assert listed.oldest_package_created == T0


# ------------------------------------------------------------------ jobs


def test_a_deployment_job_expired_at_delivery_ends_its_package_state(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    """jobs.delivery.expire_queued 14: the count of expired jobs lost, so the package states of
    jobs expired at delivery were never ended (the request stayed pending)."""
    pc = factories.computer(svc, ADMIN, "pc-1")
    pkg = factories.package(svc, admin, "app").id
    created = factories.deployment(svc, admin, [pc], [pkg], end=T0 + timedelta(hours=1))
    [before] = factories.package_states(svc, admin, [pc])
    assert before[:4] == (pc, "app", "not_installed", "setup")
    clock.now = T0 + timedelta(hours=2)
    assert factories.deliver(svc, pc) == []
    [job] = svc.deployments.container_jobs(admin, created.id)
    assert job.status == "expired"
    [after] = factories.package_states(svc, admin, [pc])
    assert after[:7] == (pc, "app", "not_installed", "none", "setup", "failed", "expired")


def test_the_jobs_of_one_command_batch_share_one_decoded_command(svc: Services, admin: Actor) -> None:
    """jobs.delivery.claim 108: the command looked up under no key, so every job's spec was
    decoded and built again (a fan-out to 10,000 computers built 10,000 copies): the jobs of one
    batch carry one command object."""
    pcs = [factories.computer(svc, ADMIN, f"pc-{n}") for n in range(3)]
    svc.jobs.create_commands(admin, CommandRequest("uptime"), computer_ids=pcs)
    svc.jobs.create_commands(admin, CommandRequest("hostname"), computer_ids=pcs[:1])
    claimed = svc.jobs.claim_for_delivery(pcs)
    commands = [spec.command for _, spec in claimed]
    assert [c.command if c else None for c in commands] == ["uptime", "uptime", "uptime", "hostname"]
    uptime = [c for c in commands if c is not None and c.command == "uptime"]
    assert uptime[0] is uptime[1] is uptime[2]


# ------------------------------------------------------------------ node names


def test_a_long_node_name_in_use_is_derived_at_the_full_length(runtime: Runtime, clock: ManualClock) -> None:
    """nodes.claim 13: the derived name cut one character shorter than the column allows."""
    nodes = NodeService(runtime.db, clock)
    wanted = "n" * 100
    assert nodes.claim(wanted, "process-1") == "n" * NAME_MAX
    second = nodes.claim(wanted, "process-2")
    assert len(second) == NAME_MAX
    assert re.fullmatch("n" * (NAME_MAX - 9) + "-[0-9a-f]{8}", second)


# ------------------------------------------------------------------ polling agents


def test_a_password_exactly_five_minutes_old_is_no_longer_revoked(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    """polling.records.store_passwords 63: ``<`` -> ``<=`` at the end of the revocation window."""
    agent = Agent(svc, "pw-edge")
    cid = agent.hello().computer_id
    svc.settings.set(admin, "polling.password_rotation_users", ["admin"])
    svc.polling.passwords(agent.request(), [{"username": "admin", "password": "at-t0"}])
    clock.now = T0 + timedelta(seconds=1)
    svc.polling.passwords(agent.request(), [{"username": "admin", "password": "a-second-later"}])
    clock.now = T0 + timedelta(minutes=5)
    mark = factories.audit_mark(svc)
    svc.polling.passwords(
        agent.request(),
        [
            {"username": "admin", "password": encrypt(agent.key, "at-t0"), "revoke": True},
            {"username": "admin", "password": encrypt(agent.key, "a-second-later"), "revoke": True},
        ],
    )
    [row] = audit_rows(svc, mark, "computer.password_revoked")
    assert row.detail == {"usernames": ["admin"]}  # one of the two
    assert [p.password for p in svc.agent_records.passwords(admin, cid)] == ["at-t0"]


def test_reading_a_computers_events_takes_no_write_lock(
    runtime: Runtime, svc: Services, admin: Actor
) -> None:
    """polling.records.events 4: the events read in a writing transaction."""
    agent = Agent(svc, "ev-read")
    cid = agent.hello().computer_id
    svc.polling.events(agent.request(), [event("2026-03-01 08:00:00")])
    with write_transactions(runtime.db.engine) as writes:
        got = svc.agent_records.events(admin, cid)
    assert [(e.computer_id, e.log, e.event_id) for e in got] == [(cid, "System", "41")]
    if BACKEND == "sqlite":
        assert writes == []


# ------------------------------------------------------------------ OpenID Connect


def test_an_oidc_login_sends_its_state_to_the_provider(
    runtime: Runtime,
    admin: Actor,
    provider: str,  # noqa: F811
) -> None:
    """users.oidc.begin 87: the authorize URL's ``state`` parameter named ``STATE``, so the
    provider never sent the state back and no login could complete."""
    _discovery(provider)
    _configure(runtime, admin, provider)
    start = runtime.services.oidc.begin("127.0.0.1")
    url, _, query = start.authorize_url.partition("?")
    assert url == provider + "/auth"
    params = urllib.parse.parse_qs(query, strict_parsing=True)
    assert set(params) == set(AUTHORIZE_PARAMETERS)
    assert params["state"] == [start.state]
    assert (params["response_type"], params["client_id"], params["redirect_uri"]) == (
        ["code"],
        ["fleetdeck"],
        ["http://x/"],
    )
    assert (params["scope"], params["code_challenge_method"]) == (["openid profile email"], ["S256"])
    assert start.state not in (params["nonce"][0], params["code_challenge"][0])


# ------------------------------------------ the vault (survivors of make mutation MODULE=core/vault.py)


def test_an_entry_written_meanwhile_by_another_process_is_a_conflict_in_words(
    runtime: Runtime, vault_svc: Services
) -> None:
    """vault._flush: the Conflict for the same key and client id written concurrently (after
    this process's own check found none)."""
    admin = factories.user(vault_svc, Role.ADMIN)
    vault_svc.vault.init(admin, VAULT_PASSWORD)
    mark = factories.audit_mark(vault_svc)
    with (
        another_process_inserts_first(runtime, "vault_secret_entries", VAULT_ENTRY),
        pytest.raises(Conflict) as err,
    ):
        vault_svc.vault.create(admin, VaultEntryInput("db-pass", "s3cret", "secret", client_id="c1"))
    assert err.value.message == "an entry with this key and client id already exists"
    assert vault_svc.vault.list(admin, Query()) == []  # the twin went with the transaction
    [row] = factories.audit_since(vault_svc, mark)
    assert (row.action, row.result) == ("vault.create", "conflict")


def test_the_vaults_refusals_say_exactly_why(vault_svc: Services) -> None:
    """Every refusal of the vault word for word (the other tests match parts of them)."""
    svc = vault_svc
    admin = factories.user(svc, Role.ADMIN)
    operator = factories.user(svc, Role.OPERATOR, "op-vault")

    def refusal(act: Callable[[], object]) -> tuple[str, str]:
        with pytest.raises(FleetdeckError) as err:
            act()
        return type(err.value).__name__, err.value.message

    no_admin = "op-vault is no admin: only admins initialise, unlock or lock the vault"
    assert refusal(lambda: svc.vault.init(operator, VAULT_PASSWORD)) == ("PermissionDenied", no_admin)
    assert refusal(lambda: svc.vault.unlock(operator, VAULT_PASSWORD)) == ("PermissionDenied", no_admin)
    assert refusal(lambda: svc.vault.lock(operator)) == ("PermissionDenied", no_admin)
    short = ("ValidationFailed", "password must be 4 to 32 bytes long")
    assert refusal(lambda: svc.vault.init(admin, "abc")) == short
    assert refusal(lambda: svc.vault.unlock(admin, "x" * 33)) == short
    assert refusal(lambda: svc.vault.unlock(admin, VAULT_PASSWORD)) == (
        "Conflict",
        "vault is not initialized",
    )
    assert refusal(lambda: svc.vault.lock(admin)) == ("Conflict", "vault is not initialized")
    assert refusal(lambda: svc.vault.list(admin, Query())) == ("Conflict", "vault is not initialized")

    svc.vault.init(admin, VAULT_PASSWORD)
    assert refusal(lambda: svc.vault.init(admin, VAULT_PASSWORD)) == (
        "Conflict",
        "vault is already initialized",
    )
    assert refusal(lambda: svc.vault.unlock(admin, VAULT_PASSWORD)) == (
        "Conflict",
        "vault is already unlocked",
    )
    svc.vault.lock(admin)
    assert refusal(lambda: svc.vault.lock(admin)) == ("Conflict", "vault is already locked")
    assert refusal(lambda: svc.vault.unlock(admin, "wrong-pass")) == (
        "AuthenticationFailed",
        "wrong password provided",
    )
    assert refusal(lambda: svc.vault.list(admin, Query())) == ("Conflict", "vault is locked")
    svc.vault.unlock(admin, VAULT_PASSWORD)

    eid = svc.vault.create(admin, VaultEntryInput("k", "v", "text", client_id="c1", required_group="dbas"))
    assert refusal(lambda: svc.vault.create(admin, VaultEntryInput("k", "w", "text", client_id="c1"))) == (
        "Conflict",
        "entry with key 'k' already exists for client 'c1'",
    )
    assert refusal(lambda: svc.vault.get(admin, eid + 1)) == ("NotFound", f"vault entry {eid + 1} not found")
    assert refusal(lambda: svc.vault.get(operator, eid)) == (
        "PermissionDenied",
        "only members of group 'dbas' may use this vault entry",
    )
    assert [(e.id, e.key, e.client_id) for e in svc.vault.list(admin, Query())] == [(eid, "k", "c1")]


def test_every_vault_change_is_audited_as_the_vault(vault_svc: Services) -> None:
    """vault's lock, unlock, update and delete: the audit row's object type and id (garbled or
    dropped by the survivors of ``make mutation MODULE=core/vault.py``)."""
    svc = vault_svc
    admin = factories.user(svc, Role.ADMIN)
    svc.vault.init(admin, VAULT_PASSWORD)
    eid = svc.vault.create(admin, VaultEntryInput("k", "v", "text"))
    mark = factories.audit_mark(svc)
    svc.vault.lock(admin)
    with pytest.raises(Conflict):
        svc.vault.lock(admin)
    with pytest.raises(AuthenticationFailed):
        svc.vault.unlock(admin, "wrong-pass")
    svc.vault.unlock(admin, VAULT_PASSWORD)
    svc.vault.update(admin, eid, VaultEntryInput("k", "w", "text"))
    svc.vault.delete(admin, eid)
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_type, r.object_id, r.result) for r in rows] == [
        ("vault.lock", "vault", "vault", "ok"),
        ("vault.lock", "vault", "vault", "conflict"),
        ("vault.unlock", "vault", "vault", "failed"),
        ("vault.unlock", "vault", "vault", "ok"),
        ("vault.update", "vault", str(eid), "ok"),
        ("vault.delete", "vault", str(eid), "ok"),
    ]


def test_the_vaults_status_takes_no_write_lock(runtime: Runtime, vault_svc: Services) -> None:
    """vault.status: read in a writing transaction (``readonly`` dropped or False)."""
    admin = factories.user(vault_svc, Role.ADMIN)
    with write_transactions(runtime.db.engine) as writes:
        assert vault_svc.vault.status(admin) == VaultStatus(False, False)
    if BACKEND == "sqlite":
        assert writes == []


def test_a_member_of_another_group_is_refused_a_groups_entry(vault_svc: Services) -> None:
    """vault._member: the group dropped from the membership query, so a member of any group
    passed every group's check."""
    svc = vault_svc
    admin = factories.user(svc, Role.ADMIN)
    svc.vault.init(admin, VAULT_PASSWORD)
    for name in ("dbas", "ops"):
        svc.user_groups.put(ADMIN, name, {})
    made = svc.users.create(ADMIN, "opsy", factories.PASSWORD, Role.OPERATOR, groups=["ops"])
    ops = Actor(user_id=made.id, username="opsy", role=Role.OPERATOR)
    eid = svc.vault.create(admin, VaultEntryInput("db", "s3cret", "secret", required_group="dbas"))
    with pytest.raises(PermissionDenied) as err:
        svc.vault.get(ops, eid)
    assert (err.value.message, err.value.detail) == (
        "only members of group 'dbas' may use this vault entry",
        {"group": "dbas"},
    )
    mine = svc.vault.create(ops, VaultEntryInput("ops", "t0ken", "secret", required_group="ops"))
    assert svc.vault.get(ops, mine).value == "t0ken"


def test_an_entry_is_stored_in_the_vaults_documented_format(runtime: Runtime, vault_svc: Services) -> None:
    """vault._aad: what an entry's ciphertext is bound to. Entries outlive the server that wrote
    them, so the format is decrypted here independently: the key is argon2id of the password
    with the stored salt and cost, the value AES-256-GCM (nonce first) with the associated data
    ``fleetdeck-vault-entry NUL client_id NUL key``."""
    admin = factories.user(vault_svc, Role.ADMIN)
    vault_svc.vault.init(admin, VAULT_PASSWORD)
    eid = vault_svc.vault.create(admin, VaultEntryInput("db-pass", "s3cret", "secret", client_id="c-1"))
    with UnitOfWork(runtime.db, readonly=True) as uow:
        state = uow.session.get(VaultSecretState, 1)
        row = uow.session.get(VaultSecretEntry, eid)
        assert state is not None and row is not None
        key = hash_secret_raw(
            VAULT_PASSWORD.encode(),
            state.salt,
            time_cost=state.time_cost,
            memory_cost=state.memory_kib,
            parallelism=state.parallelism,
            hash_len=32,
            type=Type.ID,
        )
        sealed = row.value
    aad = b"fleetdeck-vault-entry\x00c-1\x00db-pass"
    assert AESGCM(key).decrypt(sealed[:12], sealed[12:], aad) == b"s3cret"
