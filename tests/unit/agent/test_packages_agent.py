"""The agent's package executor: unpacking safely, running in order, sequence-mode skips."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import pytest

from fleetdeck.agent.packages import PackageRunner
from fleetdeck.agent.payload import PayloadError, base_url, unpack
from fleetdeck.agent.power import PowerActions
from fleetdeck.protocol import messages as m


def make_zip(path: Path, **files: bytes) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    path.write_bytes(buf.getvalue())
    return path


def test_unpack_rejects_zip_slip(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    ok = make_zip(tmp_path / "ok.zip", **{"a.sh": b"x", "sub/b.txt": b"y"})
    assert unpack(ok, root) == 2 and (root / "sub" / "b.txt").read_bytes() == b"y"
    for evil in ("../escape.txt", "/etc/evil", "a/../../escape"):
        bad = make_zip(tmp_path / "bad.zip", **{"fine.txt": b"1", evil: b"x"})
        target = tmp_path / "t"
        target.mkdir(exist_ok=True)
        with pytest.raises(PayloadError):
            unpack(bad, target)
        assert not (tmp_path / "escape.txt").exists() and not (target / "fine.txt").exists()
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(PayloadError):
        unpack(tmp_path / "junk.zip", root)


def test_base_url() -> None:
    assert base_url("wss://fleet:8443/agent/v1/ws") == "https://fleet:8443"
    assert base_url("ws://127.0.0.1:8080/prefix/agent/v1/ws") == "http://127.0.0.1:8080/prefix"


def job(job_id: int, procedure: str, container: int = 1, mode: int = 0, **extra: object) -> m.JobSpec:
    params = {"procedure": procedure, "success_codes": "0", "container_id": container, "sequence_mode": mode}
    return m.JobSpec(id=job_id, kind="package_install", params={**params, **extra})


def test_jobs_run_one_at_a_time_in_order_and_sequence_mode_skips(tmp_path: Path) -> None:
    sent: list[m.Message] = []

    async def send(msg: m.Message) -> None:
        sent.append(msg)

    log = tmp_path / "order"

    async def scenario() -> list[tuple[m.JobResult, tuple[int, int]]]:
        runner = PackageRunner(send, None, PowerActions(simulate=True))
        jobs = [
            job(1, f"sleep 0.2; echo 1 >> {log}"),
            job(2, f"echo 2 >> {log}; exit 4", container=7, mode=1),
            job(3, f"echo 3 >> {log}", container=7, mode=1),
            job(4, f"echo 4 >> {log}", post_action=1, post_action_timeout_min=2),
        ]
        for j in jobs:
            runner.enqueue(j.id)
        return list(await asyncio.gather(*(runner.run(j) for j in reversed(jobs))))[::-1]

    results = asyncio.run(scenario())
    assert log.read_text().split() == ["1", "2", "4"]
    assert [(r.status, r.exit_code) for r, _ in results] == [
        ("succeeded", 0),
        ("failed", 4),
        ("failed", -8888),
        ("succeeded", 0),
    ]
    assert results[3][1] == (1, 2) and results[1][1] == (0, 0)
    phases = [u.phase for u in sent if isinstance(u, m.JobUpdate)]
    assert phases.count("execute") == 3


def test_download_without_server_is_an_agent_error(tmp_path: Path) -> None:
    async def send(msg: m.Message) -> None:
        return None

    async def scenario() -> m.JobResult:
        runner = PackageRunner(send, None, PowerActions(simulate=True))
        spec = job(9, "true", download=True, payload_path="/agent/v1/payload/1", payload_sha256="0" * 64)
        runner.enqueue(spec.id)
        result, _ = await runner.run(spec)
        return result

    result = asyncio.run(scenario())
    assert (result.status, result.exit_code) == ("failed", -9999)


def test_power_actions_are_only_logged_when_simulated() -> None:
    power = PowerActions(simulate=True)
    asyncio.run(power.run(2, 0))
    asyncio.run(power.run(0, 0))
    assert power.performed == [(2, 0)]


def test_package_properties_become_environment_variables() -> None:
    from fleetdeck.agent.packages import property_env

    assert property_env({"start_server": [True], "lang": ["de", "en"], "odd-key.x": []}) == {
        "FLEETDECK_PROPERTY_START_SERVER": "true",
        "FLEETDECK_PROPERTY_LANG": "de,en",
        "FLEETDECK_PROPERTY_ODD_KEY_X": "",
    }
    assert property_env(None) == {}
