"""Streaming payload uploads, called on core directly (issue #9): every refusal with its class,
text and field, the audit rows, the offsets and digests across pieces and server processes, and
what is on disk afterwards. Real database, real spool and payload directories."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    Reason,
    TooLarge,
    Unavailable,
    ValidationFailed,
)
from fleetdeck.core.packages.uploads import DISK_RESERVE_BYTES, UploadInfo
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.runtime import Runtime
from fleetdeck.settings import Settings
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0

LIMIT = 1000  # the services' max_payload_bytes in most tests


def services(runtime: Runtime, settings: Settings, clock: ManualClock, **config: object) -> Services:
    options: dict[str, object] = {"payload_dir": settings.data_dir / "payloads", "max_payload_bytes": LIMIT}
    options.update(config)
    return build_services(runtime.db, SECRET, CoreConfig(**options), clock=clock)  # type: ignore[arg-type]


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    return services(runtime, settings, clock)


@pytest.fixture
def admin(svc: Services) -> Actor:
    return factories.user(svc, Role.ADMIN, "uploader")


@pytest.fixture
def pkg(svc: Services, admin: Actor) -> int:
    return factories.package(svc, admin, "tool").id


def spool(settings: Settings) -> Path:
    return settings.data_dir / "payloads" / ".uploads"


def parts(settings: Settings) -> list[str]:
    return sorted(p.name for p in spool(settings).glob("*")) if spool(settings).is_dir() else []


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def send(svc: Services, actor: Actor, upload_id: int, data: bytes) -> None:
    sink = svc.packages.open_upload(actor, upload_id, svc.packages.upload(actor, upload_id).offset)
    sink.write(data)
    sink.close()


def upload_rows(svc: Services, mark: int) -> list[tuple[str, str, str, dict[str, object]]]:
    return [(r.action, r.object_id, r.result, r.detail) for r in factories.audit_since(svc, mark)]


# ------------------------------------------------------------------ create


def test_a_new_upload_is_empty_kept_in_a_private_spool_file_and_audited(
    svc: Services, admin: Actor, pkg: int, settings: Settings
) -> None:
    mark = factories.audit_mark(svc)
    info = svc.packages.create_upload(admin, pkg, 42, filename="n" * 300, sha256="ab" * 32)
    assert info == UploadInfo(
        id=info.id,
        package_id=pkg,
        length=42,
        offset=0,
        filename="n" * 255,
        expected_sha256="ab" * 32,
        sha256=None,
        complete=False,
        created_at=T0,
        created_by="uploader",
        completed_at=None,
    )
    part = spool(settings) / f"{info.id}.part"
    assert part.stat().st_size == 0 and part.stat().st_mode & 0o777 == 0o600
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_type, r.object_id, r.result, r.user_id) for r in rows] == [
        ("payload_upload.create", "payload_upload", str(info.id), "ok", admin.user_id)
    ]
    assert rows[0].detail == {"package_id": pkg, "length": 42, "filename": "n" * 255}
    assert svc.packages.upload(admin, info.id) == info
    assert svc.packages.pending_uploads(admin, pkg) == [info]


def test_an_upload_of_unknown_length_and_the_length_limits_boundaries(
    svc: Services, admin: Actor, pkg: int
) -> None:
    unknown = svc.packages.create_upload(admin, pkg, None)
    assert (unknown.length, unknown.offset, unknown.filename, unknown.expected_sha256) == (None, 0, "", None)
    assert svc.packages.create_upload(admin, pkg, 1).length == 1
    assert svc.packages.create_upload(admin, pkg, LIMIT).length == LIMIT
    with pytest.raises(TooLarge) as too_long:
        svc.packages.create_upload(admin, pkg, LIMIT + 1)
    assert too_long.value.message == (
        f"the payload of {LIMIT + 1} bytes exceeds the limit of {LIMIT} bytes (max_payload_bytes)"
    )
    assert too_long.value.detail == {"field": "length", "reason": Reason.INVALID, "limit": LIMIT}
    with pytest.raises(ValidationFailed) as empty:
        svc.packages.create_upload(admin, pkg, 0)
    assert type(empty.value) is ValidationFailed
    assert (empty.value.message, empty.value.detail) == (
        "the payload is empty",
        {"field": "length", "reason": Reason.REQUIRED_MISSING},
    )


@pytest.mark.parametrize("digest", ["a" * 63, "a" * 65, "A" * 64, "g" * 64, "a" * 63 + " "])
def test_an_announced_digest_must_be_64_lower_case_hex_digits(
    svc: Services, admin: Actor, pkg: int, settings: Settings, digest: str
) -> None:
    with pytest.raises(ValidationFailed) as bad:
        svc.packages.create_upload(admin, pkg, 10, sha256=digest)
    assert (bad.value.message, bad.value.detail) == (
        "sha256 must be 64 lower-case hexadecimal digits",
        {"field": "sha256", "reason": Reason.INVALID},
    )
    assert svc.packages.pending_uploads(admin, pkg) == []
    assert parts(settings) == []
    assert svc.packages.create_upload(admin, pkg, 10, sha256="0123456789abcdef" * 4).expected_sha256 == (
        "0123456789abcdef" * 4
    )


def test_refused_creations_keep_nothing_and_are_audited_as_refused(
    svc: Services, admin: Actor, pkg: int, settings: Settings
) -> None:
    viewer = factories.user(svc, Role.VIEWER, "looker")
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied) as denied:
        svc.packages.create_upload(viewer, pkg, 10)
    assert denied.value.message == "looker (viewer) lacks permission manage_packages"
    with pytest.raises(NotFound) as missing:
        svc.packages.create_upload(admin, pkg + 1000, 10)
    assert missing.value.message == f"package {pkg + 1000} not found"
    with pytest.raises(ValidationFailed):
        svc.packages.create_upload(admin, pkg, -1)
    assert [(a, o, r) for a, o, r, _ in upload_rows(svc, mark)] == [
        ("payload_upload.create", "", "denied"),
        ("payload_upload.create", "", "not_found"),
        ("payload_upload.create", "", "invalid"),
    ]
    assert svc.packages.pending_uploads(admin, pkg) == []
    assert parts(settings) == []
    operator = factories.user(svc, Role.OPERATOR)
    assert svc.packages.create_upload(operator, pkg, 10).created_by == operator.username


def test_an_upload_must_leave_the_disk_reserve_free(
    runtime: Runtime, settings: Settings, clock: ManualClock
) -> None:
    svc = services(runtime, settings, clock, max_payload_bytes=2**62)
    admin = factories.user(svc, Role.ADMIN)
    pkg = factories.package(svc, admin, "big").id
    spool(settings).mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(spool(settings)).free
    with pytest.raises(Unavailable) as full:  # fits the disk, but not with the reserve
        svc.packages.create_upload(admin, pkg, free - DISK_RESERVE_BYTES // 2)
    assert re.fullmatch(
        rf"not enough free disk space for {free - DISK_RESERVE_BYTES // 2} bytes \(\d+ free\)",
        full.value.message,
    )
    assert svc.packages.pending_uploads(admin, pkg) == []
    fits = svc.packages.create_upload(admin, pkg, free - 4 * DISK_RESERVE_BYTES)
    assert fits.length == free - 4 * DISK_RESERVE_BYTES
    assert svc.packages.create_upload(admin, pkg, None).length is None  # unknown: not checked


def test_without_a_payload_directory_uploads_are_unavailable(
    runtime: Runtime, settings: Settings, clock: ManualClock
) -> None:
    svc = services(runtime, settings, clock, payload_dir=None)
    admin = factories.user(svc, Role.ADMIN)
    pkg = factories.package(svc, admin, "nodir").id
    with pytest.raises(Unavailable) as off:
        svc.packages.create_upload(admin, pkg, 10)
    assert off.value.message == "no payload directory is configured"
    assert svc.packages.pending_uploads(admin, pkg) == []
    assert svc.packages.purge_abandoned_uploads(timedelta(days=1)) == 0


# ------------------------------------------------------------------ asking before a body is read


def test_may_upload_asks_for_the_permission_and_the_package(svc: Services, admin: Actor, pkg: int) -> None:
    svc.packages.may_upload(admin, pkg)  # allowed: no exception, and the refusals below
    with pytest.raises(PermissionDenied) as denied:
        svc.packages.may_upload(factories.user(svc, Role.VIEWER, "v1"), pkg)
    assert denied.value.message == "v1 (viewer) lacks permission manage_packages"
    with pytest.raises(NotFound) as missing:
        svc.packages.may_upload(admin, pkg + 1000)
    assert (missing.value.object_type, missing.value.object_id) == ("package", pkg + 1000)


def test_reading_an_upload_needs_the_permission_and_an_upload(svc: Services, admin: Actor, pkg: int) -> None:
    uid = svc.packages.create_upload(admin, pkg, 10).id
    viewer = factories.user(svc, Role.VIEWER, "v2")
    for read in (lambda a: svc.packages.upload(a, uid), lambda a: svc.packages.pending_uploads(a, pkg)):
        with pytest.raises(PermissionDenied) as denied:
            read(viewer)
        assert denied.value.message == "v2 (viewer) lacks permission manage_packages"
    with pytest.raises(NotFound) as missing:
        svc.packages.upload(admin, uid + 1000)
    assert missing.value.message == f"upload {uid + 1000} not found"
    with pytest.raises(NotFound) as no_package:
        svc.packages.pending_uploads(admin, pkg + 1000)
    assert no_package.value.message == f"package {pkg + 1000} not found"


# ------------------------------------------------------------------ pieces


def test_pieces_move_the_offset_and_a_piece_must_start_where_the_upload_stands(
    svc: Services, admin: Actor, pkg: int
) -> None:
    uid = svc.packages.create_upload(admin, pkg, 10).id
    sink = svc.packages.open_upload(admin, uid, 0, incoming=4)
    assert (sink.upload_id, sink.start, sink.offset, sink.length, sink.complete) == (uid, 0, 0, 10, False)
    sink.write(b"ab")
    sink.write(b"cd")
    assert (sink.start, sink.offset, sink.complete) == (0, 4, False)
    sink.close()
    assert svc.packages.upload(admin, uid).offset == 4
    with pytest.raises(Conflict) as behind:
        svc.packages.open_upload(admin, uid, 0)
    assert (behind.value.message, behind.value.detail) == (
        "the upload stands at offset 4, not 0",
        {"offset": 4},
    )
    with pytest.raises(Conflict) as ahead:
        svc.packages.open_upload(admin, uid, 5)
    assert ahead.value.message == "the upload stands at offset 4, not 5"
    sink = svc.packages.open_upload(admin, uid, 4, incoming=6)  # exactly what is left: the lock was freed
    assert (sink.start, sink.offset) == (4, 4)
    sink.write(b"efghij")
    assert sink.complete
    sink.close()
    info = svc.packages.finish_upload(admin, sink)
    assert info.complete and info.offset == 10
    with pytest.raises(Conflict) as done:
        svc.packages.open_upload(admin, uid, 10)
    assert (done.value.message, done.value.detail) == ("the upload is complete", {"offset": 10})


def test_a_piece_announcing_more_than_is_left_is_refused_before_a_byte(
    svc: Services, admin: Actor, pkg: int, settings: Settings
) -> None:
    uid = svc.packages.create_upload(admin, pkg, 10).id
    send(svc, admin, uid, b"abc")
    with pytest.raises(TooLarge) as big:
        svc.packages.open_upload(admin, uid, 3, incoming=8)
    assert (big.value.message, big.value.detail) == (
        "8 bytes sent, only 7 expected from offset 3",
        {"field": "body", "reason": Reason.INVALID},
    )
    with pytest.raises(TooLarge) as beyond:
        svc.packages.open_upload(admin, uid, 12, incoming=1)
    assert beyond.value.message == "1 bytes sent, only 0 expected from offset 12"
    unknown = svc.packages.create_upload(admin, pkg, None).id
    with pytest.raises(TooLarge) as over_limit:
        svc.packages.open_upload(admin, unknown, 0, incoming=LIMIT + 1)
    assert over_limit.value.message == f"{LIMIT + 1} bytes sent, only {LIMIT} expected from offset 0"
    svc.packages.open_upload(admin, unknown, 0, incoming=LIMIT).close()
    assert (spool(settings) / f"{uid}.part").read_bytes() == b"abc"


def test_a_sink_refuses_bytes_beyond_the_length_or_the_limit(svc: Services, admin: Actor, pkg: int) -> None:
    uid = svc.packages.create_upload(admin, pkg, 5).id
    sink = svc.packages.open_upload(admin, uid, 0)
    sink.write(b"abcd")
    with pytest.raises(TooLarge) as long:
        sink.write(b"ef")
    assert (long.value.message, long.value.detail) == (
        "more bytes than the upload's length of 5",
        {"field": "body", "reason": Reason.INVALID},
    )
    sink.write(b"e")
    assert sink.offset == 5 and sink.complete
    sink.close()

    unknown = svc.packages.create_upload(admin, pkg, None).id
    sink = svc.packages.open_upload(admin, unknown, 0)
    sink.write(b"x" * (LIMIT - 1))
    with pytest.raises(TooLarge) as limit:
        sink.write(b"yz")
    assert (limit.value.message, limit.value.detail) == (
        f"the payload exceeds the limit of {LIMIT} bytes (max_payload_bytes)",
        {"field": "body", "reason": Reason.INVALID},
    )
    sink.write(b"y")
    assert sink.offset == LIMIT and not sink.complete  # an unknown length is never "complete"
    sink.close()


def test_a_piece_refused_midway_is_cut_off_again_and_closing_twice_does_nothing(
    svc: Services, admin: Actor, pkg: int, settings: Settings
) -> None:
    uid = svc.packages.create_upload(admin, pkg, 10, sha256=sha(b"abcdefghij")).id
    send(svc, admin, uid, b"abc")
    sink = svc.packages.open_upload(admin, uid, 3)
    sink.write(b"XYZ")
    sink.close(keep=False)
    assert sink.offset == 3
    sink.close()  # already closed: nothing
    assert (spool(settings) / f"{uid}.part").read_bytes() == b"abc"
    assert svc.packages.upload(admin, uid).offset == 3
    sink = svc.packages.open_upload(admin, uid, 3)
    sink.write(b"defghij")
    sink.close()
    assert svc.packages.finish_upload(admin, sink).complete  # the digest did not take in XYZ


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(
    svc: Services, admin: Actor, pkg: int, settings: Settings
) -> None:
    uid = svc.packages.create_upload(admin, pkg, 10).id
    send(svc, admin, uid, b"ab")
    first = svc.packages.open_upload(admin, uid, 2)
    with pytest.raises(Conflict) as busy:
        svc.packages.open_upload(admin, uid, 2)
    assert (busy.value.message, busy.value.detail) == (
        "another request is writing this upload now",
        {"offset": 2},
    )
    first.close()
    with (spool(settings) / f"{uid}.part").open("rb") as fh:  # the refused one left no lock behind
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_an_upload_whose_spool_file_is_gone_is_not_found(
    svc: Services, admin: Actor, pkg: int, settings: Settings
) -> None:
    uid = svc.packages.create_upload(admin, pkg, 10).id
    send(svc, admin, uid, b"abc")
    (spool(settings) / f"{uid}.part").unlink()
    assert svc.packages.upload(admin, uid).offset == 0  # no file: nothing arrived
    with pytest.raises(NotFound) as gone:
        svc.packages.open_upload(admin, uid, 0)
    assert gone.value.message == f"upload {uid} not found"


def test_a_digest_is_rebuilt_from_the_file_when_another_process_wrote_the_last_piece(
    runtime: Runtime, settings: Settings, clock: ManualClock
) -> None:
    one, two = services(runtime, settings, clock), services(runtime, settings, clock)
    admin = factories.user(one, Role.ADMIN)
    pkg = factories.package(one, admin, "shared").id
    data = b"0123456789"
    uid = one.packages.create_upload(admin, pkg, 10, sha256=sha(data)).id
    send(one, admin, uid, data[:3])  # process one remembers its digest at 3
    send(two, admin, uid, data[3:6])  # process two has none: reads 3 bytes back
    sink = one.packages.open_upload(admin, uid, 6)  # one's digest is of 3 bytes: read 6 back
    sink.write(data[6:])
    sink.close()
    info = one.packages.finish_upload(admin, sink)
    assert info.complete and uid not in one.packages._digests


def test_the_digest_of_the_last_piece_is_remembered_not_read_back(
    svc: Services, admin: Actor, pkg: int, settings: Settings
) -> None:
    """The same process's next piece goes on from the digest it kept (a payload of gigabytes is
    not read again): bytes changed on disk behind its back (same size) are not hashed again."""
    uid = svc.packages.create_upload(admin, pkg, 6, sha256=sha(b"abcdef")).id
    send(svc, admin, uid, b"abc")
    (spool(settings) / f"{uid}.part").write_bytes(b"XYZ")
    sink = svc.packages.open_upload(admin, uid, 3)
    sink.write(b"def")
    sink.close()
    assert svc.packages.finish_upload(admin, sink).complete  # hashed: abc (kept) + def


def test_a_digest_is_rebuilt_across_chunks_of_a_large_spool_file(
    runtime: Runtime, settings: Settings, clock: ManualClock
) -> None:
    one = services(runtime, settings, clock, max_payload_bytes=4 * 1024 * 1024)
    admin = factories.user(one, Role.ADMIN)
    pkg = factories.package(one, admin, "large").id
    data = bytes(range(256)) * (9 * 1024)  # 2.25 MiB: three chunks of reading back
    uid = one.packages.create_upload(admin, pkg, len(data), sha256=sha(data)).id
    send(one, admin, uid, data[:-5])
    two = services(runtime, settings, clock, max_payload_bytes=4 * 1024 * 1024)
    sink = two.packages.open_upload(admin, uid, len(data) - 5)
    sink.write(data[-5:])
    sink.close()
    assert two.packages.finish_upload(admin, sink).offset == len(data)


# ------------------------------------------------------------------ finish


def test_a_zip_upload_becomes_the_packages_payload_as_it_is(
    svc: Services, admin: Actor, pkg: int, settings: Settings, clock: ManualClock
) -> None:
    data = factories.zip_payload(**{"setup.exe": b"MZ" * 50})
    uid = svc.packages.create_upload(admin, pkg, len(data), sha256=sha(data)).id
    clock.now = T0.replace(hour=10)
    sink = svc.packages.open_upload(admin, uid, 0)
    sink.write(data)
    sink.close()
    mark = factories.audit_mark(svc)
    info = svc.packages.finish_upload(admin, sink, filename="renamed.zip")
    assert info == UploadInfo(
        id=uid,
        package_id=pkg,
        length=len(data),
        offset=len(data),
        filename="renamed.zip",
        expected_sha256=sha(data),
        sha256=sha(data),
        complete=True,
        created_at=T0,
        created_by="uploader",
        completed_at=T0.replace(hour=10),
    )
    assert upload_rows(svc, mark) == [
        (
            "payload_upload.complete",
            str(uid),
            "ok",
            {
                "package_id": pkg,
                "sha256": sha(data),
                "size": len(data),
                "uploaded_sha256": sha(data),
                "uploaded_bytes": len(data),
            },
        )
    ]
    package = svc.packages.get(admin, pkg).package
    assert (package.payload_sha256, package.payload_size, package.updated_at) == (
        sha(data),
        len(data),
        T0.replace(hour=10),
    )
    stored = settings.data_dir / "payloads" / sha(data)[:2] / f"{sha(data)}.zip"
    assert stored.read_bytes() == data
    assert parts(settings) == []  # the spool file was moved into the store
    assert svc.packages.pending_uploads(admin, pkg) == []
    assert svc.packages.upload(admin, uid) == info


def test_bytes_that_are_no_zip_are_wrapped_under_the_uploads_name(
    svc: Services, admin: Actor, pkg: int, settings: Settings
) -> None:
    uid = svc.packages.create_upload(admin, pkg, 5, filename="tool.msi").id
    send(svc, admin, uid, b"hello")
    sink = svc.packages.open_upload(admin, uid, 5)
    sink.close()
    mark = factories.audit_mark(svc)
    info = svc.packages.finish_upload(admin, sink)
    assert info.filename == "tool.msi" and info.length == 5 and info.offset == 5
    assert info.sha256 is not None and info.sha256 != sha(b"hello")
    stored = settings.data_dir / "payloads" / info.sha256[:2] / f"{info.sha256}.zip"
    with zipfile.ZipFile(stored) as zf:
        assert {n: zf.read(n) for n in zf.namelist()} == {"tool.msi": b"hello"}
    [(_, _, _, detail)] = upload_rows(svc, mark)
    assert detail == {
        "package_id": pkg,
        "sha256": info.sha256,
        "size": stored.stat().st_size,
        "uploaded_sha256": sha(b"hello"),
        "uploaded_bytes": 5,
    }
    assert svc.packages.get(admin, pkg).package.payload_sha256 == info.sha256


def test_an_unnamed_upload_of_unknown_length_ends_at_what_arrived(
    svc: Services, admin: Actor, pkg: int, settings: Settings
) -> None:
    uid = svc.packages.create_upload(admin, pkg, None).id
    sink = svc.packages.open_upload(admin, uid, 0)
    sink.write(b"raw bytes")
    sink.close()
    info = svc.packages.finish_upload(admin, sink)
    assert (info.length, info.offset, info.filename, info.complete) == (9, 9, "", True)
    assert info.sha256 is not None
    with zipfile.ZipFile(settings.data_dir / "payloads" / info.sha256[:2] / f"{info.sha256}.zip") as zf:
        assert zf.namelist() == ["payload.bin"]


def test_an_empty_body_of_unknown_length_is_refused(svc: Services, admin: Actor, pkg: int) -> None:
    uid = svc.packages.create_upload(admin, pkg, None).id
    sink = svc.packages.open_upload(admin, uid, 0)
    sink.close()
    mark = factories.audit_mark(svc)
    with pytest.raises(ValidationFailed) as empty:
        svc.packages.finish_upload(admin, sink)
    assert (empty.value.message, empty.value.detail) == (
        "the payload is empty",
        {"field": "body", "reason": Reason.REQUIRED_MISSING},
    )
    assert [(a, o, r) for a, o, r, _ in upload_rows(svc, mark)] == [
        ("payload_upload.complete", str(uid), "invalid")
    ]
    assert not svc.packages.upload(admin, uid).complete
    assert svc.packages.get(admin, pkg).package.payload_sha256 is None


def test_finishing_before_the_last_byte_or_twice_is_a_conflict(svc: Services, admin: Actor, pkg: int) -> None:
    uid = svc.packages.create_upload(admin, pkg, 5).id
    sink = svc.packages.open_upload(admin, uid, 0)
    sink.write(b"ab")
    sink.close()
    with pytest.raises(Conflict) as early:
        svc.packages.finish_upload(admin, sink)
    assert (early.value.message, early.value.detail) == ("the upload stands at offset 2 of 5", {"offset": 2})
    assert svc.packages.upload(admin, uid).offset == 2
    sink = svc.packages.open_upload(admin, uid, 2)
    sink.write(b"cde")
    sink.close()
    svc.packages.finish_upload(admin, sink)
    with pytest.raises(Conflict) as again:
        svc.packages.finish_upload(admin, sink)
    assert (again.value.message, again.value.detail) == ("the upload is complete", {"offset": 5})


def test_bytes_that_are_not_the_announced_ones_start_the_upload_again(
    svc: Services, admin: Actor, pkg: int, settings: Settings
) -> None:
    uid = svc.packages.create_upload(admin, pkg, 3, sha256=sha(b"abc")).id
    sink = svc.packages.open_upload(admin, uid, 0)
    sink.write(b"abd")
    sink.close()
    with pytest.raises(ValidationFailed) as wrong:
        svc.packages.finish_upload(admin, sink)
    assert wrong.value.message == (
        f"the uploaded bytes have SHA-256 {sha(b'abd')}, not the announced {sha(b'abc')};"
        " the upload starts again at offset 0"
    )
    assert wrong.value.detail == {"field": "sha256", "reason": Reason.INVALID}
    assert (spool(settings) / f"{uid}.part").read_bytes() == b""
    assert svc.packages.upload(admin, uid).offset == 0
    assert svc.packages.get(admin, pkg).package.payload_sha256 is None
    send(svc, admin, uid, b"abc")  # the upload goes on from 0, with a digest rebuilt from nothing
    sink = svc.packages.open_upload(admin, uid, 3)
    sink.close()
    assert svc.packages.finish_upload(admin, sink).sha256 is not None


def test_finishing_needs_the_permission_and_an_upload_with_its_package(
    svc: Services, admin: Actor, pkg: int
) -> None:
    uid = svc.packages.create_upload(admin, pkg, 3).id
    send(svc, admin, uid, b"abc")
    sink = svc.packages.open_upload(admin, uid, 3)
    sink.close()
    with pytest.raises(PermissionDenied) as denied:
        svc.packages.finish_upload(factories.user(svc, Role.VIEWER, "v3"), sink)
    assert denied.value.message == "v3 (viewer) lacks permission manage_packages"
    assert not svc.packages.upload(admin, uid).complete
    svc.packages.delete(admin, pkg)  # the upload goes with its package
    with pytest.raises(NotFound) as gone:
        svc.packages.finish_upload(admin, sink)
    assert gone.value.message == f"upload {uid} not found"


def test_a_replaced_payload_is_collected_unless_another_package_uses_it(
    svc: Services, admin: Actor, settings: Settings
) -> None:
    first = factories.zip_payload(**{"a.txt": b"first"})
    pkg = factories.package(svc, admin, "replaced", payload=first).id
    shared = factories.package(svc, admin, "keeper", payload=first).id
    alone = factories.package(svc, admin, "alone", payload=factories.zip_payload(**{"b.txt": b"only"})).id
    old_shared = svc.packages.get(admin, shared).package.payload_sha256
    old_alone = svc.packages.get(admin, alone).package.payload_sha256
    assert old_shared and old_alone

    def replace(package_id: int, data: bytes) -> None:
        uid = svc.packages.create_upload(admin, package_id, len(data)).id
        send(svc, admin, uid, data)
        sink = svc.packages.open_upload(admin, uid, len(data))
        sink.close()
        svc.packages.finish_upload(admin, sink)

    def stored(digest: str) -> Path:
        return settings.data_dir / "payloads" / digest[:2] / f"{digest}.zip"

    replace(pkg, b"new one")
    assert stored(old_shared).exists()  # "keeper" still uses it
    replace(alone, b"new two")
    assert not stored(old_alone).exists()
    replace(shared, b"new one")  # the same bytes as pkg's now: the same stored file
    assert not stored(old_shared).exists()
    assert (
        svc.packages.get(admin, shared).package.payload_sha256
        == svc.packages.get(admin, pkg).package.payload_sha256
    )


# ------------------------------------------------------------------ abort and list


def test_an_aborted_upload_goes_with_its_bytes_and_is_audited(
    svc: Services, admin: Actor, pkg: int, settings: Settings
) -> None:
    uid = svc.packages.create_upload(admin, pkg, 10).id
    other = svc.packages.create_upload(admin, pkg, 10).id
    send(svc, admin, uid, b"1234")
    mark = factories.audit_mark(svc)
    svc.packages.abort_upload(admin, uid)
    assert [r.object_type for r in factories.audit_since(svc, mark)] == ["payload_upload"]
    assert upload_rows(svc, mark) == [
        ("payload_upload.delete", str(uid), "ok", {"package_id": pkg, "offset": 4})
    ]
    assert parts(settings) == [f"{other}.part"]
    assert uid not in svc.packages._digests
    with pytest.raises(NotFound) as gone:
        svc.packages.upload(admin, uid)
    assert gone.value.message == f"upload {uid} not found"
    (spool(settings) / f"{other}.part").unlink()  # a spool file already gone is no error
    svc.packages.abort_upload(admin, other)
    assert svc.packages.pending_uploads(admin, pkg) == []


def test_an_abort_is_refused_for_a_viewer_a_finished_or_an_unknown_upload(
    svc: Services, admin: Actor, pkg: int, settings: Settings
) -> None:
    uid = svc.packages.create_upload(admin, pkg, 2).id
    with pytest.raises(PermissionDenied) as denied:
        svc.packages.abort_upload(factories.user(svc, Role.VIEWER, "v4"), uid)
    assert denied.value.message == "v4 (viewer) lacks permission manage_packages"
    assert parts(settings) == [f"{uid}.part"]
    send(svc, admin, uid, b"ok")
    sink = svc.packages.open_upload(admin, uid, 2)
    sink.close()
    svc.packages.finish_upload(admin, sink)
    mark = factories.audit_mark(svc)
    with pytest.raises(Conflict) as done:
        svc.packages.abort_upload(admin, uid)
    assert (done.value.message, done.value.detail) == ("the upload is complete", {"offset": 2})
    assert svc.packages.upload(admin, uid).complete
    with pytest.raises(NotFound) as missing:
        svc.packages.abort_upload(admin, uid + 1000)
    assert missing.value.message == f"upload {uid + 1000} not found"
    assert [(a, o, r) for a, o, r, _ in upload_rows(svc, mark)] == [
        ("payload_upload.delete", str(uid), "conflict"),
        ("payload_upload.delete", str(uid + 1000), "not_found"),
    ]


def test_pending_uploads_are_the_packages_unfinished_ones_oldest_first(
    svc: Services, admin: Actor, pkg: int, clock: ManualClock
) -> None:
    other_pkg = factories.package(svc, admin, "other").id
    clock.now = T0.replace(hour=12)
    late = svc.packages.create_upload(admin, pkg, 10).id
    clock.now = T0.replace(hour=8)
    early = svc.packages.create_upload(admin, pkg, 10).id  # a higher id, created earlier
    done = svc.packages.create_upload(admin, pkg, 1).id
    svc.packages.create_upload(admin, other_pkg, 10)
    send(svc, admin, done, b"x")
    sink = svc.packages.open_upload(admin, done, 1)
    sink.close()
    svc.packages.finish_upload(admin, sink)
    send(svc, admin, late, b"abc")
    pending = svc.packages.pending_uploads(admin, pkg)
    assert [(u.id, u.offset, u.created_at) for u in pending] == [
        (early, 0, T0.replace(hour=8)),
        (late, 3, T0.replace(hour=12)),
    ]


# ------------------------------------------------------------------ abandoned uploads


def test_an_abandoned_upload_without_a_spool_file_and_stray_files_are_purged(
    svc: Services, admin: Actor, pkg: int, settings: Settings, clock: ManualClock
) -> None:
    uid = svc.packages.create_upload(admin, pkg, 10).id
    (spool(settings) / f"{uid}.part").unlink()
    stray = spool(settings) / "notes.part"
    stray.write_bytes(b"?")
    other = spool(settings) / "keep.txt"
    other.write_bytes(b"not a spool file")
    for path in (stray, other):
        os.utime(path, (T0.timestamp(), T0.timestamp()))
    clock.now = T0 + timedelta(days=2)
    mark = factories.audit_mark(svc)
    assert svc.packages.purge_abandoned_uploads(timedelta(days=1)) == 2
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_type, r.object_id, r.username, r.detail) for r in rows] == [
        (
            "payload_upload.abandoned",
            "payload_upload",
            str(uid),
            "system",
            {"package_id": pkg, "offset": 0, "length": 10, "created_by": "uploader"},
        )
    ]
    assert parts(settings) == ["keep.txt"]
    assert svc.packages.pending_uploads(admin, pkg) == []
