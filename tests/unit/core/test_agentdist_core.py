"""The agent's distribution, byte for byte (issue #9): the wheel writer, the agent wheel's
metadata, re-packing an installed distribution (a small one made on disk by the test, put on
``sys.path``), the set of files ``GET /install/...`` serves, the unit and the install line."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

import fleetdeck
from fleetdeck.core import agentdist
from fleetdeck.core.agentdist import (
    AgentDist,
    DistFile,
    agent_sources,
    agent_unit,
    build_agent_wheel,
    bundled_names,
    dependency_names,
    install_line,
    package_root,
    repack_installed,
)

EPOCH = (1980, 1, 1, 0, 0, 0)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ helpers of the wheel writer


def test_project_names_are_normalized_as_wheel_file_names_want() -> None:
    assert agentdist._normalize("Fleet.Deck--agent_X") == "fleet_deck_agent_x"
    assert agentdist._normalize("a-.-b") == "a_b"
    assert agentdist._normalize("plain") == "plain"


def test_a_record_hash_is_unpadded_url_safe_base64_of_the_sha256() -> None:
    assert agentdist._record_hash(b"abc") == "sha256=ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    assert agentdist._record_hash(b"") == "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"


def test_a_wheel_holds_its_entries_sorted_with_its_dist_info_last_and_a_record_of_them(
    tmp_path: Path,
) -> None:
    entries = {"pkg/b.py": b"bee", "d-1.dist-info/METADATA": b"meta", "pkg/a.py": b"a", "z.txt": b""}
    path = tmp_path / "d-1-py3-none-any.whl"
    assert agentdist._write_wheel(path, entries, "d-1.dist-info") == path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d-1-py3-none-any.whl"]  # no .tmp left
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        record = zf.read("d-1.dist-info/RECORD").decode()
        contents = {i.filename: zf.read(i) for i in infos}
    assert [i.filename for i in infos] == [
        "pkg/a.py",
        "pkg/b.py",
        "z.txt",
        "d-1.dist-info/METADATA",
        "d-1.dist-info/RECORD",
    ]
    assert {i.date_time for i in infos} == {EPOCH}
    assert {i.external_attr for i in infos} == {0o644 << 16}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
    assert record == (
        f"d-1.dist-info/METADATA,{agentdist._record_hash(b'meta')},4\n"
        f"pkg/a.py,{agentdist._record_hash(b'a')},1\n"
        f"pkg/b.py,{agentdist._record_hash(b'bee')},3\n"
        f"z.txt,{agentdist._record_hash(b'')},0\n"
        "d-1.dist-info/RECORD,,\n"
    )
    assert contents["pkg/b.py"] == b"bee" and contents["z.txt"] == b""
    assert entries == {"pkg/b.py": b"bee", "d-1.dist-info/METADATA": b"meta", "pkg/a.py": b"a", "z.txt": b""}


# ------------------------------------------------------------------ the agent wheel


def fake_package(root: Path) -> Path:
    """A ``fleetdeck`` package directory with agent, protocol and server files, and litter."""
    files = {
        "__init__.py": b"server init",
        "agent/__init__.py": b"agent init",
        "agent/main.py": b"def main(): ...",
        "agent/sub/data.txt": b"data",
        "agent/old.pyc": b"compiled",
        "agent/old.pyo": b"optimized",
        "agent/__pycache__/main.cpython-311.pyc": b"cache",
        "agent/__pycache__/notes.txt": b"in a cache",
        "protocol/messages.py": b"messages",
        "api/app.py": b"server only",
        "core/agentdist.py": b"server only",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "agent" / "emptydir").mkdir()
    return root


def init_text() -> bytes:
    return (
        '"""fleetdeck: the agent-only distribution (fleetdeck-agent); the server is `fleetdeck`."""\n\n'
        f'__version__ = "{fleetdeck.__version__}"\n'
    ).encode()


def test_the_package_root_is_the_imported_fleetdeck_package() -> None:
    assert package_root() == Path(fleetdeck.__file__).parent
    assert (package_root() / "agent" / "main.py").is_file()


def test_agent_sources_are_the_agent_and_protocol_files_without_caches_and_a_new_init(
    tmp_path: Path,
) -> None:
    root = fake_package(tmp_path / "fleetdeck")
    assert agent_sources(root) == {
        "fleetdeck/__init__.py": init_text(),
        "fleetdeck/agent/__init__.py": b"agent init",
        "fleetdeck/agent/main.py": b"def main(): ...",
        "fleetdeck/agent/sub/data.txt": b"data",
        "fleetdeck/protocol/messages.py": b"messages",
    }


def test_agent_sources_default_to_the_installed_package() -> None:
    sources = agent_sources()
    assert sources["fleetdeck/__init__.py"] == init_text()
    assert sources["fleetdeck/agent/main.py"] == (package_root() / "agent" / "main.py").read_bytes()
    assert not [n for n in sources if n.startswith(("fleetdeck/core/", "fleetdeck/api/"))]


def test_the_agent_wheel_has_exactly_this_metadata(tmp_path: Path) -> None:
    root = fake_package(tmp_path / "src" / "fleetdeck")
    out = tmp_path / "out" / "deeper"  # made with its parents
    wheel = build_agent_wheel(out, "9.8.7", root)
    assert wheel == out / "fleetdeck_agent-9.8.7-py3-none-any.whl"
    info = "fleetdeck_agent-9.8.7.dist-info"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta, whl, scripts = (
            zf.read(f"{info}/{n}").decode() for n in ("METADATA", "WHEEL", "entry_points.txt")
        )
        init = zf.read("fleetdeck/__init__.py")
    assert names == [
        "fleetdeck/__init__.py",
        "fleetdeck/agent/__init__.py",
        "fleetdeck/agent/main.py",
        "fleetdeck/agent/sub/data.txt",
        "fleetdeck/protocol/messages.py",
        f"{info}/METADATA",
        f"{info}/RECORD",
        f"{info}/WHEEL",
        f"{info}/entry_points.txt",
    ]
    assert meta == (
        "Metadata-Version: 2.1\n"
        "Name: fleetdeck-agent\n"
        "Version: 9.8.7\n"
        "Summary: The fleetdeck endpoint agent, without the server's dependencies.\n"
        "License: MIT\n"
        "Requires-Python: >=3.11\n"
        "Requires-Dist: msgspec>=0.18,<1\n"
        "Requires-Dist: psutil>=5.9,<8\n"
        "Requires-Dist: wsproto>=1.2,<2\n"
    )
    assert whl == (
        "Wheel-Version: 1.0\nGenerator: fleetdeck.core.agentdist\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    assert scripts == "[console_scripts]\nfleetdeck-agent = fleetdeck.agent.main:main\n"
    assert init == init_text()


def test_the_agent_wheel_defaults_to_the_servers_version_and_package(tmp_path: Path) -> None:
    wheel = build_agent_wheel(tmp_path)
    assert wheel.name == f"fleetdeck_agent-{fleetdeck.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        assert (
            f"Version: {fleetdeck.__version__}\n"
            in zf.read(f"fleetdeck_agent-{fleetdeck.__version__}.dist-info/METADATA").decode()
        )
        assert "fleetdeck/agent/main.py" in zf.namelist()


# ------------------------------------------------------------------ re-packing an installed distribution


def installed_dist(
    site: Path, monkeypatch: pytest.MonkeyPatch, *, wheel: str | None, record: bool = True
) -> Path:
    """A distribution ``Fake.Pkg`` 2.0 installed in ``site`` (on ``sys.path``) the way pip
    leaves one: files listed in RECORD, a script outside site-packages, caches, pip's files."""
    info = site / "fake_pkg-2.0.dist-info"
    files = {
        "fake_pkg/__init__.py": b"init",
        "fake_pkg/core.so": b"\x7fELF",
        "fake_pkg/.keep": b"",
        "fake_pkg/RECORD": b"a data file that happens to be called RECORD",
        "fake_pkg/__pycache__/__init__.cpython-311.pyc": b"cache",
        "fake_pkg/__pycache__/notes.txt": b"in a cache",
        "fake_pkg/legacy.pyc": b"compiled",
        "fake_pkg/legacy.pyo": b"optimized",
        "fake_pkg-2.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: Fake.Pkg\nVersion: 2.0\n",
        "fake_pkg-2.0.dist-info/INSTALLER": b"pip\n",
        "fake_pkg-2.0.dist-info/REQUESTED": b"",
        "fake_pkg-2.0.dist-info/direct_url.json": b"{}",
        "fake_pkg-2.0.dist-info/top_level.txt": b"fake_pkg\n",
    }
    if wheel is not None:
        files["fake_pkg-2.0.dist-info/WHEEL"] = wheel.encode()
    for name, data in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(data)
    (site.parent / "bin").mkdir(exist_ok=True)
    (site.parent / "bin" / "fake-cli").write_bytes(b"#!/bin/sh\n")
    if record:
        listed = [*files, "../bin/fake-cli", "fake_pkg-2.0.dist-info/RECORD"]
        (info / "RECORD").write_text("".join(f"{n},,\n" for n in listed))
    monkeypatch.syspath_prepend(str(site))
    return site


WHEEL_TAGS = (
    "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n"
    "Tag: cp311-cp311-manylinux_2_17_x86_64\nTag: cp311-cp311-manylinux2014_x86_64\n"
    "Tag: cp311-abi3-manylinux2014_x86_64\n"
    "Tag:cp311-cp311-manylinux_2_28_x86_64\n"  # no space after the colon
)


def test_an_installed_distribution_is_repacked_without_caches_scripts_or_pips_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed_dist(tmp_path / "site", monkeypatch, wheel=WHEEL_TAGS)
    out = tmp_path / "out" / "wheels"
    wheel = repack_installed("fake-pkg", out)
    # the tags' parts as PEP 425 compressed sets, each sorted
    assert (
        wheel
        == out
        / "fake_pkg-2.0-cp311-abi3.cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl"
    )
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        got = {n: zf.read(n) for n in names}
    assert names == [
        "fake_pkg/.keep",
        "fake_pkg/RECORD",
        "fake_pkg/__init__.py",
        "fake_pkg/core.so",
        "fake_pkg-2.0.dist-info/METADATA",
        "fake_pkg-2.0.dist-info/RECORD",
        "fake_pkg-2.0.dist-info/WHEEL",
        "fake_pkg-2.0.dist-info/top_level.txt",
    ]
    assert got["fake_pkg/core.so"] == b"\x7fELF"
    assert got["fake_pkg-2.0.dist-info/WHEEL"] == WHEEL_TAGS.encode()
    assert got["fake_pkg-2.0.dist-info/RECORD"].decode().splitlines()[-1] == "fake_pkg-2.0.dist-info/RECORD,,"


def test_a_distribution_without_a_record_or_a_tag_is_not_repacked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed_dist(tmp_path / "a" / "site", monkeypatch, wheel=WHEEL_TAGS, record=False)
    with pytest.raises(LookupError) as no_record:
        repack_installed("fake-pkg", tmp_path / "out")
    assert str(no_record.value) == "fake-pkg: installed without a .dist-info RECORD; cannot re-pack it"
    monkeypatch.undo()

    installed_dist(tmp_path / "b" / "site", monkeypatch, wheel="Wheel-Version: 1.0\nRoot-Is-Purelib: true\n")
    with pytest.raises(LookupError) as no_tag:
        repack_installed("fake-pkg", tmp_path / "out")
    assert str(no_tag.value) == "fake-pkg: its WHEEL file names no tag; cannot re-pack it"
    monkeypatch.undo()

    installed_dist(tmp_path / "c" / "site", monkeypatch, wheel=None)
    with pytest.raises(LookupError) as no_wheel:
        repack_installed("Fake.Pkg", tmp_path / "out")
    assert str(no_wheel.value) == "Fake.Pkg: its WHEEL file names no tag; cannot re-pack it"
    assert not (tmp_path / "out").exists()  # refused before anything was written


# ------------------------------------------------------------------ what the server serves


def test_the_agents_dependencies_are_named_without_their_ranges() -> None:
    assert dependency_names() == ["msgspec", "psutil", "wsproto"]
    assert bundled_names() == ["msgspec", "psutil", "wsproto", "h11"]


def test_a_served_file_is_described_by_its_project_digest_and_size(tmp_path: Path) -> None:
    path = tmp_path / "Some_Project-1.0-py3-none-any.whl"
    path.write_bytes(b"wheel bytes")
    assert agentdist._describe(path) == DistFile(
        "Some_Project-1.0-py3-none-any.whl", path, "some-project", sha(b"wheel bytes"), 11
    )


def test_the_served_files_are_the_agent_wheel_and_its_dependencies_built_once(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    dist = AgentDist(cache, tmp_path / "no-wheelhouse")
    assert dist.cache_dir == cache and dist.wheelhouse == tmp_path / "no-wheelhouse"
    files = dist.files()
    assert sorted(f.project for f in files.values()) == [
        "fleetdeck-agent",
        "h11",
        "msgspec",
        "psutil",
        "wsproto",
    ]
    for name, f in files.items():
        assert f.name == name and f.path == cache / name
        data = f.path.read_bytes()
        assert (f.sha256, f.size) == (sha(data), len(data))
    assert f"fleetdeck_agent-{fleetdeck.__version__}-py3-none-any.whl" in files
    (cache / f"fleetdeck_agent-{fleetdeck.__version__}-py3-none-any.whl").unlink()
    assert dist.files() is files  # built once: the second call neither builds nor looks


def test_wheels_in_the_wheelhouse_are_served_and_win_over_a_repacked_one_of_the_same_name(
    tmp_path: Path,
) -> None:
    house = tmp_path / "wheelhouse"
    house.mkdir()
    h11 = repack_installed("h11", tmp_path / "probe").name
    (house / h11).write_bytes(b"an admin's h11 wheel")
    (house / "other-1.0-cp312-cp312-win_amd64.whl").write_bytes(b"for windows")
    (house / "README.txt").write_bytes(b"not a wheel")
    files = AgentDist(tmp_path / "cache", house).files()
    assert files[h11].path == house / h11
    assert files[h11].sha256 == sha(b"an admin's h11 wheel")
    assert files["other-1.0-cp312-cp312-win_amd64.whl"] == DistFile(
        "other-1.0-cp312-cp312-win_amd64.whl",
        house / "other-1.0-cp312-cp312-win_amd64.whl",
        "other",
        sha(b"for windows"),
        11,
    )
    assert "README.txt" not in files
    assert sorted(f.project for f in files.values()) == [
        "fleetdeck-agent",
        "h11",
        "msgspec",
        "other",
        "psutil",
        "wsproto",
    ]


def test_a_wheelhouse_that_is_a_file_adds_nothing(tmp_path: Path) -> None:
    house = tmp_path / "wheelhouse.whl"
    house.write_bytes(b"a file, not a directory")
    files = AgentDist(tmp_path / "cache", house).files()
    assert {f.path.parent for f in files.values()} == {tmp_path / "cache"}
    assert len(files) == 5
    none = AgentDist(tmp_path / "cache2")  # no wheelhouse at all
    assert none.wheelhouse is None
    assert sorted(none.files()) == sorted(files)


# ------------------------------------------------------------------ the unit and the install line


def test_the_unit_names_the_command_and_the_state_directory() -> None:
    unit = agent_unit("/opt/fd/bin/fleetdeck-agent --x", "/srv/state")
    assert "\nExecStart=/opt/fd/bin/fleetdeck-agent --x\n" in unit
    assert "\nEnvironment=FLEETDECK_AGENT_STATE_DIR=/srv/state\n" in unit
    assert "@" not in unit
    assert "\nEnvironment=FLEETDECK_AGENT_STATE_DIR=/var/lib/fleetdeck-agent\n" in agent_unit("/bin/a")
    assert agent_unit("/bin/a") == agentdist._UNIT.replace("@EXEC_START@", "/bin/a").replace(
        "@STATE_DIR@", "/var/lib/fleetdeck-agent"
    )


def test_the_install_line_pins_the_key_only_over_https() -> None:
    assert install_line("http://fleet:8080/", "fde_tok") == (
        "curl -fsSL 'http://fleet:8080/install/agent.sh?token=fde_tok' | sudo sh"
    )
    assert install_line("https://fleet:8443", "t", "sha256//AbC=") == (
        "curl -fsSL --pinnedpubkey 'sha256//AbC=' -k 'https://fleet:8443/install/agent.sh?token=t' | sudo sh"
    )
    assert install_line("https://fleet:8443//", "t") == (
        "curl -fsSL 'https://fleet:8443/install/agent.sh?token=t' | sudo sh"
    )
    assert (
        install_line("https://fleet", "t", "")
        == "curl -fsSL 'https://fleet/install/agent.sh?token=t' | sudo sh"
    )
    assert install_line("http://BOX/", "t") == "curl -fsSL 'http://BOX/install/agent.sh?token=t' | sudo sh"
    assert install_line("http://fleet", "t", "sha256//AbC=") == (
        "curl -fsSL 'http://fleet/install/agent.sh?token=t' | sudo sh"
    )


# ------------------------------------------------------------------ the command line


def test_the_command_builds_the_agent_wheel_and_on_request_its_dependencies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert agentdist.main([str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [str(tmp_path / "a" / f"fleetdeck_agent-{fleetdeck.__version__}-py3-none-any.whl")]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [Path(printed[0]).name]

    assert agentdist.main([str(tmp_path / "b"), "--with-dependencies"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [Path(p).parent for p in printed] == [tmp_path / "b"] * 5
    assert [Path(p).name.split("-")[0] for p in printed] == [
        "fleetdeck_agent",
        "msgspec",
        "psutil",
        "wsproto",
        "h11",
    ]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(Path(p).name for p in printed)


def test_the_command_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        agentdist.main(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith("usage: python -m fleetdeck.core.agentdist [-h] [--with-dependencies] out_dir ")
    assert "The agent's own distribution" in text
    assert text.endswith(
        "--with-dependencies also re-pack this Python's msgspec, psutil, wsproto and h11 as wheels"
        " (offline installs)"
    )
    with pytest.raises(SystemExit) as wrong:
        agentdist.main([])
    assert wrong.value.code == 2
