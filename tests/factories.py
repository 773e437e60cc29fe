"""Test data built through core's services, the way the transports and the agent hub build it.

Every row a factory makes went through the service method that makes it in production, with its
permission check, validation, hooks and audit row: a test that builds its world here cannot end
up with data the server itself could never have produced. The functions take ``Services`` so
they work with the runtime's services and with services built on a test clock.
"""

from __future__ import annotations

import io
import itertools
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from fleetdeck.core.audit import AuditRecord
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.cmdb.statuses import Status
from fleetdeck.core.cmdb.values import Entry
from fleetdeck.core.deployments.entities import ContainerCreated
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.core.jobs.entities import CommandRequest
from fleetdeck.core.mail.mailer import Mail
from fleetdeck.core.packages.entities import InstallationInfo, PackageFields, PackageInfo, PayloadFile
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.services import Services
from fleetdeck.protocol import messages as m

PASSWORD = "factory-password-1"
_names = itertools.count(1)


class ManualClock:
    """core's ``Clock`` port, moved by the test (``clock.now += timedelta(...)``): expiry,
    start times and time frames are then tested without sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RecordingNotifier:
    """core's ``JobNotifier`` port, recording what the hub would be told."""

    def __init__(self) -> None:
        self.queued: list[list[int]] = []
        self.cancelled: list[tuple[int, int]] = []
        self.finished: list[int] = []
        self.deleted: list[int] = []
        self.changed: list[list[int]] = []

    def jobs_queued(self, computer_ids: Sequence[int]) -> None:
        self.queued.append(list(computer_ids))

    def jobs_cancelled(self, jobs: Sequence[tuple[int, int]]) -> None:
        self.cancelled.extend(jobs)

    def jobs_finished(self, job_ids: Sequence[int]) -> None:
        self.finished.extend(job_ids)

    def jobs_changed(self, batch_ids: Sequence[int]) -> None:
        self.changed.append(sorted(batch_ids))

    def computers_deleted(self, computer_ids: Sequence[int]) -> None:
        self.deleted.extend(computer_ids)


class RecordingMailer:
    """core's ``Mailer`` port: ``configured`` as set, every mail kept in ``sent``; with ``broken``
    set, the mail's future ends with that error (the SMTP server refused it)."""

    def __init__(self) -> None:
        self.ready = True
        self.broken: Exception | None = None
        self.sent: list[Mail] = []

    def configured(self) -> bool:
        return self.ready

    def send(self, mail: Mail) -> Future[None]:
        self.sent.append(mail)
        done: Future[None] = Future()
        if self.broken is not None:
            done.set_exception(self.broken)
        else:
            done.set_result(None)
        return done

    def close(self) -> None:
        pass


# ------------------------------------------------------------------ people


def user(services: Services, role: Role, username: str = "", *, via: str = "test") -> Actor:
    """A real user account (argon2 hash and all) and the Actor a transport would make of it."""
    name = username or f"{role.value}{next(_names)}"
    info = services.users.create(system_actor("test"), name, PASSWORD, role)
    return Actor(user_id=info.id, username=info.username, role=role, source="127.0.0.1", via=via)


# ------------------------------------------------------------------ computers and groups


def computer(
    services: Services,
    actor: Actor,
    hostname: str,
    *,
    macs: Sequence[str] = (),
    os: str = "",
    os_version: str = "",
    architecture: str = "",
) -> int:
    """A pre-registered computer; with MACs or OS facts, also the inventory its agent would send
    (the only way interfaces reach the database), stored by the same call the agent endpoint
    makes, as the agent."""
    cid = services.computers.create(actor, hostname).id
    if macs or os or os_version or architecture:
        inv = m.Inventory(
            hostname=hostname,
            os=os,
            os_version=os_version,
            architecture=architecture,
            network_interfaces=[m.NetworkInterface(f"eth{n}", mac) for n, mac in enumerate(macs)],
        )
        services.computers.record_inventory(
            agent_actor(cid, hostname, "127.0.0.1"), cid, inv, m.inventory_digest(inv)
        )
    return cid


def group(services: Services, actor: Actor, name: str, members: Sequence[int] = ()) -> int:
    gid = services.groups.create(actor, name).id
    if members:
        services.groups.add_members(actor, gid, members)
    return gid


# ------------------------------------------------------------------ packages


def zip_payload(**files: bytes) -> bytes:
    """A real ZIP archive with these members (``name=content``)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def package(
    services: Services,
    actor: Actor,
    family: str,
    version: str = "1",
    *,
    payload: bytes | None = None,
    depends_on: Sequence[int] = (),
    **fields: Any,
) -> PackageInfo:
    """A package (its family is created on first use); ``payload`` is a ZIP (``zip_payload``)."""
    fields.setdefault("install_procedure", f"install {family} {version}")
    fields.setdefault("uninstall_procedure", f"remove {family} {version}")
    files = [PayloadFile(f"{family}.zip", payload)] if payload is not None else []
    return services.packages.create(
        actor, family, version, PackageFields(**fields), files=files, depends_on=depends_on
    )


def package_group(services: Services, actor: Actor, name: str, package_ids: Sequence[int] = ()) -> int:
    gid = services.packages.create_group(actor, name).id
    for pid in package_ids:
        services.packages.add_to_group(actor, gid, pid)
    return gid


def deployment(
    services: Services,
    actor: Actor,
    computer_ids: Sequence[int],
    package_ids: Sequence[int],
    name: str = "deployment",
    **options: Any,
) -> ContainerCreated:
    return services.deployments.deploy(
        actor, name, computer_ids=computer_ids, package_ids=package_ids, **options
    )


def installed(services: Services, actor: Actor, computer_id: int, package_id: int) -> InstallationInfo:
    """An installation record made the way a real one is: a deployment, its job delivered and
    its result stored by ``record_results`` (which writes the record). Other queued jobs of the
    computer are delivered with it (and stay ``sent``), as the hub would."""
    created = deployment(services, actor, [computer_id], [package_id], name=f"install {package_id}")
    for job_id in deliver(services, computer_id):
        if job_id in created.job_ids:
            finish(services, computer_id, job_id)
    return next(
        i
        for i in services.packages.list_installations(actor, computer_id=computer_id, package_id=package_id)
        if i.job_id in created.job_ids
    )


# ------------------------------------------------------------------ jobs


def commands(
    services: Services, actor: Actor, computer_ids: Sequence[int], command: str = "true"
) -> list[int]:
    """One queued command job per computer; returns the job ids in computer order."""
    return services.jobs.create_commands(actor, CommandRequest(command), computer_ids=computer_ids).job_ids


def deliver(services: Services, computer_id: int) -> list[int]:
    """What the hub does when the computer's agent is connected: claim its queued jobs (they
    become ``sent``). Returns the claimed job ids in delivery order."""
    return [spec.id for _, spec in services.jobs.claim_for_delivery([computer_id])]


def result(
    job_id: int, status: str = "succeeded", exit_code: int | None = 0, stdout: str = "", stderr: str = ""
) -> m.JobResult:
    now = time.time()
    return m.JobResult(
        job_id=job_id,
        status=status,  # type: ignore[arg-type]
        exit_code=exit_code,
        stdout=stdout,
        stderr=stderr,
        started_at=now,
        finished_at=now,
    )


def finish(
    services: Services,
    computer_id: int,
    job_id: int,
    status: str = "succeeded",
    exit_code: int | None = 0,
    stdout: str = "",
) -> list[tuple[int, int]]:
    """The agent's result for a job, stored as the hub stores it; returns the acknowledgements."""
    return services.jobs.record_results([(computer_id, result(job_id, status, exit_code, stdout))])


# ------------------------------------------------------------------ reading back

_AUDITOR = Actor(user_id=None, username="auditor", role=Role.ADMIN)


def audit_mark(services: Services) -> int:
    """The newest audit row's id: ``audit_since(services, mark)`` are the rows written after."""
    newest = services.audit.find(_AUDITOR, Query(limit=1)).items
    return newest[0].id if newest else 0


def audit_since(services: Services, mark: int) -> list[AuditRecord]:
    """The audit rows written after ``mark``, oldest first."""
    page = services.audit.find(_AUDITOR, Query(where=(Cond("id", Op.GT, mark),), limit=None))
    return sorted(page.items, key=lambda r: r.id)


def audited(services: Services, mark: int) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    """The audit rows written after ``mark``, oldest first, as ``(action, object_type, object_id,
    result, detail)``: what a test compares them by."""
    return [(r.action, r.object_type, r.object_id, r.result, r.detail) for r in audit_since(services, mark)]


def cmdb_entries(
    services: Services, actor: Actor, object_id: int, category: str, status: int | None = Status.NORMAL
) -> list[Entry]:
    """The entries of one category of one CMDB object with that record status (None: any), as
    ``actor`` reads them."""
    return services.cmdb.entries(actor, [object_id], [category], status)[object_id][category]


# ------------------------------------------------------------------ concurrency

T = TypeVar("T")


def race(n: int, attempt: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``attempt(0..n-1)`` in ``n`` threads released together; results or exceptions."""
    barrier = threading.Barrier(n)

    def one(i: int) -> T | BaseException:
        barrier.wait()
        try:
            return attempt(i)
        except Exception as exc:  # collected: the test asserts on what each thread got
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def package_states(
    services: Services,
    actor: Actor,
    computer_ids: Sequence[int] | None,
    family_keys: Sequence[str] | None = None,
) -> list[tuple[Any, ...]]:
    """Core's stored package states as tuples in ``PackageStateInfo``'s field order without
    ``job_id`` (the listing leaves it out): the family's key put back in place of its id."""
    return services.deployments.package_states(
        actor, computer_ids, family_keys, lambda keys, rows: [(r[0], keys[r[1]], *r[2:]) for r in rows]
    )
