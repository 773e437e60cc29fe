"""The remote CLI's pieces that need no server: the upload body generated as it is sent, filter
spelling, the config file, and which command lines start without the server's code."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
import typer

from fleetdeck.cli import remote
from fleetdeck.cli.remote.client import filter_params
from fleetdeck.cli.remote.config import CliConfig, Context
from fleetdeck.cli.remote.upload import CHUNK, Upload, json_body


@pytest.mark.parametrize("sizes", [[0], [1], [2], [3], [CHUNK - 1, CHUNK + 1], [5, 0, 2 * CHUNK + 2]])
def test_the_upload_body_is_the_json_it_announces(tmp_path: Path, sizes: list[int]) -> None:
    uploads = []
    for n, size in enumerate(sizes):
        path = tmp_path / f"f{n}"
        path.write_bytes(bytes((n + i) % 251 for i in range(size)))
        uploads.append(Upload(path, f'dir/f{n} "quoted"', size))
    sent: list[int] = []
    length, chunks = json_body({"family_name": "Tool", "version": "1"}, "files", uploads, True, sent.append)
    body = b"".join(chunks)
    assert len(body) == length
    assert sum(sent) == sum(sizes)
    parsed = json.loads(body)
    assert parsed["family_name"] == "Tool"
    assert [f["name"] for f in parsed["files"]] == [u.name for u in uploads]
    for f, u in zip(parsed["files"], uploads, strict=True):
        assert base64.b64decode(f["content"], validate=True) == u.path.read_bytes()
    length, chunks = json_body({}, "file", uploads[:1], False, sent.append)
    one = b"".join(chunks)
    assert len(one) == length and json.loads(one)["file"]["name"] == uploads[0].name


def test_filters_are_spelled_as_the_api_spells_them() -> None:
    assert filter_params(
        ["hostname=web*", "last_seen[gt]=2026-01-01", "id[between]=1,5", "notes="], "-id"
    ) == {
        "filter[hostname]": "web*",
        "filter[last_seen][gt]": "2026-01-01",
        "filter[id][between]": "1,5",
        "filter[notes]": "",
        "sort": "-id",
    }
    for bad in ("hostname", "=x"):
        with pytest.raises(typer.Exit) as exc:
            filter_params([bad])
        assert exc.value.exit_code == 2


def test_the_config_file_round_trips_with_mode_0600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sub" / "cli.toml"
    cfg = CliConfig(
        current='odd "name"',
        contexts={
            'odd "name"': Context(
                name='odd "name"', server="https://a:1", token="fd_x\\y", user="ü", token_id="3"
            ),
            "b": Context(name="b", server="http://b"),
        },
    )
    cfg.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert CliConfig.load(path) == cfg
    path.chmod(0o644)
    CliConfig.load(path)
    assert "others may read it" in capsys.readouterr().err
    cfg.save(path)  # rewriting makes it private again
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("args", "lean"),
    [
        (["computers", "list"], True),
        (["--help"], False),
        (["run", "-c", "x", "--", "true"], True),
        (["config", "list"], True),
        (["config", "show"], False),
        (["computer", "allow-reenroll", "1"], False),
        (["server"], False),
        ([], False),
    ],
)
def test_which_command_lines_start_lean(args: list[str], lean: bool) -> None:
    assert remote.wants(args) is lean


def test_completion_of_a_remote_verb_starts_lean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_FLEETDECK_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "fleetdeck jobs ")
    assert remote.wants([])
    monkeypatch.setenv("COMP_WORDS", "fleetdeck jo")
    assert not remote.wants([])  # the first word: every command is a candidate
    monkeypatch.setenv("COMP_WORDS", "fleetdeck user ")
    assert not remote.wants([])
