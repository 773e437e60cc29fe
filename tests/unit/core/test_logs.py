"""Client logs: files per log type and object, bounded in size, and never outside their folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import PermissionDenied, ValidationFailed
from fleetdeck.core.logs.service import MAX_BYTES, ROTATE_ABOVE, ClientLogService
from fleetdeck.core.query import Cond, Op, Query

VIEWER = Actor(user_id=None, username="v", role=Role.VIEWER)


@pytest.fixture
def logs(runtime: Runtime) -> ClientLogService:
    return runtime.services.logs


def test_write_read_and_append(logs: ClientLogService, admin: Actor, runtime: Runtime) -> None:
    assert logs.read(VIEWER, "instlog", "pc-1.example.org") == ""
    logs.write(admin, "instlog", "pc-1.example.org", "first\n")
    logs.write(admin, "instlog", "pc-1.example.org", "second\n", append=True)
    assert logs.read(VIEWER, "instlog", "pc-1.example.org") == "first\nsecond\n"
    path = logs.path("instlog", "pc-1.example.org")
    assert path.name == "pc-1.example.org.log" and path.parent.name == "instlog"
    assert not path.with_suffix(".log.1").exists()  # appending keeps one file
    # A plain write replaces the log and keeps the previous one as .log.1.
    logs.write(admin, "instlog", "pc-1.example.org", "third\n")
    assert logs.read(admin, "instlog", "pc-1.example.org") == "third\n"
    assert path.with_suffix(".log.1").read_text() == "first\nsecond\n"
    assert not path.with_suffix(".log.tmp").exists()
    # Appending to a log that does not exist yet starts it.
    logs.write(admin, "bootimage", "pc-2", "x", append=True)
    assert logs.read(admin, "bootimage", "pc-2") == "x"
    entries = runtime.services.audit.find(admin, Query(where=(Cond("action", Op.EQ, "client_log.write"),)))
    last = entries.items[0]
    assert (last.object_type, last.object_id, last.detail) == (
        "client_log",
        "bootimage/pc-2",
        {"bytes": 1, "append": True},
    )
    assert entries.items[1].detail == {"bytes": 6, "append": False}


def test_read_keeps_the_last_characters_from_a_line_start(logs: ClientLogService, admin: Actor) -> None:
    logs.write(admin, "instlog", "pc", "line one\nline two\nline three\n")
    assert logs.read(admin, "instlog", "pc", max_size=12) == "line three\n"
    assert logs.read(admin, "instlog", "pc", max_size=11) == "line three\n"
    assert logs.read(admin, "instlog", "pc", max_size=5) == "hree\n"[-5:]  # no newline inside: as cut
    assert logs.read(admin, "instlog", "pc", max_size=0) == "line one\nline two\nline three\n"
    assert logs.read(admin, "instlog", "pc", max_size=29) == "line one\nline two\nline three\n"
    logs.write(admin, "instlog", "pc", "abc\ndef")
    assert logs.read(admin, "instlog", "pc", max_size=6) == "def"
    logs.write(admin, "instlog", "pc", "abcdef\n")
    assert logs.read(admin, "instlog", "pc", max_size=3) == "ef\n"  # the newline is the last character
    logs.write(admin, "instlog", "pc", "héllo".encode("latin-1").decode("latin-1"))
    assert logs.read(admin, "instlog", "pc") == "héllo"


def test_logs_are_bounded(logs: ClientLogService, admin: Actor) -> None:
    line = b"0123456789abcde\n"  # 16 bytes
    big = (line * (MAX_BYTES // 16 + 2)).decode()
    logs.write(admin, "instlog", "pc", "head\n" + big)
    stored = logs.path("instlog", "pc").read_bytes()
    # The last MAX_BYTES, from the first line start after the cut (the cut itself is one here).
    assert stored == line * (MAX_BYTES // 16 - 1)
    # Appending beyond ROTATE_ABOVE starts a new file instead of growing this one.
    half = "x" * (ROTATE_ABOVE // 2 - 1) + "\n"
    logs.write(admin, "instlog", "big", half)
    logs.write(admin, "instlog", "big", half, append=True)
    assert len(logs.read(admin, "instlog", "big")) == 2 * len(half)
    logs.write(admin, "instlog", "big", "tail\n", append=True)
    assert logs.read(admin, "instlog", "big") == "tail\n"
    assert len(logs.path("instlog", "big").with_suffix(".log.1").read_bytes()) == 2 * len(half)


def test_a_log_just_at_the_limit_is_kept_whole(logs: ClientLogService, admin: Actor) -> None:
    data = "y" * (MAX_BYTES - 1) + "\n"
    logs.write(admin, "instlog", "exact", data)
    assert logs.path("instlog", "exact").stat().st_size == MAX_BYTES
    logs.write(admin, "instlog", "exact", "z" + data)  # one byte over, no newline to cut at but the last
    stored = logs.path("instlog", "exact").read_bytes()
    assert len(stored) == MAX_BYTES and stored.startswith(b"y")
    rotate = "r" * (ROTATE_ABOVE - 1)
    logs.write(admin, "instlog", "rot", rotate)
    logs.write(admin, "instlog", "rot", "s", append=True)  # exactly ROTATE_ABOVE: still appended
    assert logs.path("instlog", "rot").stat().st_size == ROTATE_ABOVE


@pytest.mark.parametrize(
    ("log_type", "object_id", "field"),
    [
        ("", "pc", "log_type"),
        ("Instlog", "pc", "log_type"),
        ("1log", "pc", "log_type"),
        ("a" * 33, "pc", "log_type"),
        ("../etc", "pc", "log_type"),
        ("instlog", "", "object_id"),
        ("instlog", "../../etc/passwd", "object_id"),
        ("instlog", "a..b", "object_id"),
        ("instlog", "PC", "object_id"),
        ("instlog", ".hidden", "object_id"),
        ("instlog", "a/b", "object_id"),
        ("instlog", "x" * 248, "object_id"),  # "<id>.log.tmp" would not fit in 255 bytes
    ],
)
def test_names_outside_the_patterns_are_refused(
    logs: ClientLogService, admin: Actor, log_type: str, object_id: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as err:
        logs.write(admin, log_type, object_id, "x")
    assert err.value.field == field
    with pytest.raises(ValidationFailed):
        logs.read(admin, log_type, object_id)


def test_longest_names_are_fine(logs: ClientLogService, admin: Actor) -> None:
    longest = "0" + "x" * 246
    logs.write(admin, "a" + "b" * 31, longest, "ok")
    logs.write(admin, "a" + "b" * 31, longest, "again")  # rotates to "<id>.log.1"
    assert logs.read(admin, "a" + "b" * 31, longest) == "again"
    logs.write(admin, "a_b-c9", "pc 1.x_y-z", "ok")
    assert logs.read(admin, "a_b-c9", "pc 1.x_y-z") == "ok"


def test_only_managers_or_the_computer_itself_write(logs: ClientLogService, admin: Actor) -> None:
    with pytest.raises(PermissionDenied):
        logs.write(VIEWER, "instlog", "pc", "x")
    itself = Actor(user_id=None, username="pc", role=Role.VIEWER, computer_id=7)
    logs.write(itself, "instlog", "pc", "mine", computer_id=7)
    with pytest.raises(PermissionDenied):
        logs.write(itself, "instlog", "other", "x", computer_id=8)
    with pytest.raises(PermissionDenied):
        logs.write(itself, "instlog", "other", "x")
    assert logs.read(VIEWER, "instlog", "pc") == "mine"
    assert not logs.path("instlog", "other").exists()


def test_cutting_starts_after_the_first_newline_of_the_kept_end(logs: ClientLogService, admin: Actor) -> None:
    def stored(data: str) -> bytes:
        logs.write(admin, "instlog", "cut", data)
        return logs.path("instlog", "cut").read_bytes()

    exact = "a\n" + "b" * (MAX_BYTES - 2)  # exactly the limit: kept whole
    assert stored(exact) == exact.encode()
    assert stored("x" * 10 + "\n" + "y" * (MAX_BYTES - 1)) == b"y" * (MAX_BYTES - 1)  # cut lands on "\n"
    assert stored("q" + "z" * (MAX_BYTES - 2) + "\nw") == b"w"  # the newline is the last but one byte


def test_a_log_cut_inside_a_character_still_reads(logs: ClientLogService, admin: Actor) -> None:
    logs.write(admin, "instlog", "utf", "é" * (MAX_BYTES // 2) + "a")  # no newline: cut mid-character
    text = logs.read(admin, "instlog", "utf")
    assert text.startswith("\ufffd") and text.endswith("éa")


def test_read_max_size_boundaries(logs: ClientLogService, admin: Actor) -> None:
    logs.write(admin, "instlog", "pc", "ab\nc")
    assert logs.read(admin, "instlog", "pc", max_size=1) == "c"
    assert logs.read(admin, "instlog", "pc", max_size=3) == "c"  # "b\nc": from after the newline
    assert logs.read(admin, "instlog", "pc", max_size=-1) == "ab\nc"


def test_log_folders_are_not_readable_by_others(logs: ClientLogService, admin: Actor) -> None:
    logs.write(admin, "instlog", "pc", "x")
    assert logs.path("instlog", "pc").parent.stat().st_mode & 0o007 == 0


def test_a_link_out_of_the_log_folder_is_refused(
    logs: ClientLogService, admin: Actor, tmp_path: Path
) -> None:
    logs.write(admin, "instlog", "pc", "x")
    folder = logs.path("instlog", "pc").parent
    outside = tmp_path / "elsewhere.log"
    outside.write_text("secret")
    (folder / "evil.log").symlink_to(outside)
    for call in (
        lambda: logs.read(admin, "instlog", "evil"),
        lambda: logs.write(admin, "instlog", "evil", "x"),
    ):
        with pytest.raises(ValidationFailed) as err:
            call()
        assert err.value.field == "object_id" and err.value.message == "invalid object id 'evil'"
    assert outside.read_text() == "secret"


def test_refusals_name_what_was_wrong(logs: ClientLogService, admin: Actor) -> None:
    with pytest.raises(ValidationFailed) as err:
        logs.read(admin, "Bad", "pc")
    assert err.value.message == "invalid log type 'Bad'"
    with pytest.raises(ValidationFailed) as err:
        logs.read(admin, "instlog", "a..b")
    assert err.value.message == "invalid object id 'a..b'"
