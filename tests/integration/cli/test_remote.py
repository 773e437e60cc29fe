"""The CLI's remote verbs (``cli/remote``) as a separate process against a real server on a
loopback socket (``tests/live_server.py``): login and contexts, the list/show verbs with their
filters and paging, groups, queued jobs, uploads, reports, TLS, and the errors users see.
Commands that must run on an agent are in tests/e2e/test_cli_e2e.py."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.settings import Settings
from tests import factories
from tests.cutting_proxy import CuttingProxy
from tests.integration.cli.remote import Cli
from tests.live_server import LiveServer, running
from tests.opsi_packages import build_opsi

PASSWORD = "admin-password-1"  # the ``admin`` fixture's


@pytest.fixture
def live(settings: Settings, runtime: Runtime, admin: Actor) -> Iterator[LiveServer]:
    with running(settings, runtime, max_body_bytes=64 * 1024) as server:
        yield server


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home" / "cli.toml")


@pytest.fixture
def logged_in(cli: Cli, live: LiveServer) -> Cli:
    cli.ok("login", live.url, "--user", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    return cli


def test_login_keeps_an_api_token_not_the_password(
    cli: Cli, live: LiveServer, runtime: Runtime, admin: Actor
) -> None:
    out = cli.ok("login", live.url, "--user", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert "logged in to" in out
    text = cli.config.read_text()
    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o600
    assert PASSWORD not in text
    (token,) = runtime.services.users.list_tokens(admin)
    assert token.name.startswith("fleetdeck CLI on ")
    assert f'token_id = "{token.id}"' in text
    contexts = cli.json("config", "list")
    assert contexts == [
        {
            "current": True,
            "name": f"127.0.0.1:{live.port}",
            "server": live.url,
            "user": "admin",
            "ca": "",
            "token": "set",
        }
    ]
    assert cli.json("computers", "list") == {"data": [], "count": 0}


def test_a_wrong_password_is_the_servers_message_and_exit_1(cli: Cli, live: LiveServer) -> None:
    err = cli.fails(1, "login", live.url, "--user", "admin", "--password-stdin", stdin="wrong\n")
    assert "fleetdeck: error:" in err and "HTTP 401" in err
    assert not cli.config.exists()


def test_without_a_server_or_token_it_says_what_to_do(cli: Cli, live: LiveServer) -> None:
    assert "fleetdeck login <url>" in cli.fails(2, "computers", "list")
    assert f"fleetdeck login {live.url}" in cli.fails(2, "computers", "list", FLEETDECK_URL=live.url)
    assert "no context named 'nope'" in cli.fails(2, "jobs", "list", "--context", "nope")
    err = cli.fails(1, "computers", "list", FLEETDECK_URL=live.url, FLEETDECK_TOKEN="fd_not-a-token")
    assert "HTTP 401" in err and "log in again" in err
    dead = httpx.URL(live.url).copy_with(port=1)
    assert "cannot reach" in cli.fails(1, "computers", "list", FLEETDECK_URL=str(dead), FLEETDECK_TOKEN="x")


def test_env_overrides_the_config_file(
    logged_in: Cli, live: LiveServer, runtime: Runtime, admin: Actor
) -> None:
    factories.computer(runtime.services, admin, "web-01")
    token = runtime.services.users.create_token(admin, "script", "read", None).token
    other = Cli(logged_in.config.with_name("none.toml"))
    assert other.json("computers", "list", FLEETDECK_URL=live.url, FLEETDECK_TOKEN=token)["count"] == 1
    # a read-only token given in the environment beats the context's read+write one
    err = logged_in.fails(1, "groups", "add", "1", "web-01", FLEETDECK_TOKEN=token)
    assert "HTTP 403" in err


def test_contexts_use_list_delete_and_logout(
    cli: Cli, live: LiveServer, runtime: Runtime, admin: Actor
) -> None:
    token = runtime.services.users.create_token(admin, "given", "read+write", None).token
    cli.ok("login", live.url, "--name", "a", "--user", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    cli.ok("login", live.url, "--name", "b", "--token", token)
    assert [(c["name"], c["current"]) for c in cli.json("config", "list")] == [("a", False), ("b", True)]
    cli.ok("config", "use", "a")
    assert [c["name"] for c in cli.json("config", "list") if c["current"]] == ["a"]
    assert "no context named 'c'" in cli.fails(2, "config", "use", "c")
    # logout revokes the token the CLI made, on the server
    assert len(runtime.services.users.list_tokens(admin)) == 2
    cli.ok("logout")
    assert [t.name for t in runtime.services.users.list_tokens(admin)] == ["given"]
    assert "not logged in" in cli.fails(2, "computers", "list")
    assert cli.json("computers", "list", "--context", "b")["count"] == 0
    cli.ok("config", "delete", "b")
    assert [c["name"] for c in cli.json("config", "list")] == ["a"]


def test_computers_list_filters_pages_and_show(logged_in: Cli, runtime: Runtime, admin: Actor) -> None:
    ids = [factories.computer(runtime.services, admin, h, os="Debian") for h in ("web-01", "web-02", "db-01")]
    page = logged_in.json("computers", "list", "--filter", "hostname=web*", "--limit", "1")
    assert page["count"] == 2 and [c["hostname"] for c in page["data"]] == ["web-01"]
    page = logged_in.json("computers", "list", "-f", "hostname=web*", "--limit", "1", "--offset", "1")
    assert [c["hostname"] for c in page["data"]] == ["web-02"]
    every = logged_in.json("computers", "list", "--all", "--sort", "-hostname", "--limit", "1")
    assert [c["hostname"] for c in every["data"]] == ["web-02", "web-01", "db-01"]
    assert logged_in.json("computers", "list", "-f", f"id[gt]={ids[0]}")["count"] == 2
    assert logged_in.json("computers", "list", "--online")["count"] == 0
    table = logged_in.ok("computers", "list")
    assert "web-01" in table and "db-01" in table and "offline" in table
    shown = logged_in.json("computers", "show", "WEB-02")
    assert shown["id"] == ids[1] and shown["os"] == "Debian" and shown["software"] == []
    assert "web-02" in logged_in.ok("computers", "show", str(ids[1]))
    assert "no computer named 'nope'" in logged_in.fails(1, "computers", "show", "nope")
    assert "HTTP 404" in logged_in.fails(1, "computers", "show", "999999")
    err = logged_in.fails(1, "computers", "list", "-f", "colour=red")
    assert "HTTP 422" in err and "colour" in err
    assert "invalid filter" in logged_in.fails(2, "computers", "list", "-f", "hostname")


def test_groups_add_show_remove(logged_in: Cli, runtime: Runtime, admin: Actor) -> None:
    web = [factories.computer(runtime.services, admin, h) for h in ("web-01", "web-02")]
    gid = factories.group(runtime.services, admin, "Web servers")
    assert logged_in.json("groups", "add", "web servers", "web-01", str(web[1])) == {"added": web}
    assert "0 added" in logged_in.ok("groups", "add", "Web servers", "web-01")
    shown = logged_in.json("groups", "show", str(gid))
    assert shown["name"] == "Web servers" and [m["hostname"] for m in shown["members"]] == [
        "web-01",
        "web-02",
    ]
    assert logged_in.json("computers", "list", "--group", "Web servers")["count"] == 2
    logged_in.ok("groups", "remove", "Web servers", "web-01")
    assert [g["member_count"] for g in logged_in.json("groups", "list")["data"]] == [1]
    assert "web-02" in logged_in.ok("groups", "show", "Web servers")
    assert "no group named 'db'" in logged_in.fails(1, "groups", "show", "db")


def test_jobs_of_a_command_queued_for_an_offline_computer(
    logged_in: Cli, runtime: Runtime, admin: Actor
) -> None:
    cid = factories.computer(runtime.services, admin, "web-01")
    created = json.loads(logged_in.ok("run", "--json", "--no-wait", "-c", "web-01", "--", "echo", "hi"))
    (job_id,) = created["job_ids"]
    (job,) = logged_in.json("jobs", "list", "--batch", str(created["id"]))["data"]
    assert job["id"] == job_id and job["status"] == "queued" and job["computer_id"] == cid
    assert job["command"]["command"] == "echo hi"
    assert logged_in.json("jobs", "list", "-c", "web-01", "--status", "queued,sent")["count"] == 1
    assert "echo hi" in logged_in.ok("jobs", "show", str(job_id))
    (cancelled,) = logged_in.json("jobs", "cancel", str(job_id))
    assert cancelled["status"] == "cancelled"
    assert "HTTP 409" in logged_in.fails(1, "jobs", "cancel", str(job_id))
    assert "--computer or --group" in logged_in.fails(2, "run", "true")


def test_upload_streams_files_as_a_package(logged_in: Cli, live: LiveServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    (src / "install.sh").write_text("#!/bin/sh\necho installed\n")
    (src / "bin" / "tool").write_bytes(bytes(range(256)) * 40)
    created = logged_in.json(
        "packages", "upload", str(src), "--name", "Tool", "--version", "2.0", "--install", "sh install.sh"
    )
    assert created["family_name"] == "Tool" and created["version"] == "2.0"
    (listed,) = logged_in.json("packages", "list")["data"]
    assert listed["id"] == created["id"] and listed["payload_size"] == created["payload_size"]
    token = logged_in.config.read_text().split('token = "')[1].split('"')[0]
    payload = httpx.get(
        f"{live.url}/api/v1/packages/{created['id']}/payload", headers={"Authorization": f"Bearer {token}"}
    )
    assert hashlib.sha256(payload.content).hexdigest() == created["payload_sha256"]
    import zipfile

    with zipfile.ZipFile(io.BytesIO(payload.content)) as zf:
        assert sorted(zf.namelist()) == ["bin/tool", "install.sh"]
        assert zf.read("bin/tool") == bytes(range(256)) * 40
    out = logged_in.ok(
        "packages", "upload", str(src / "install.sh"), "-n", "Tool", "-V", "2.1", "--install", "x"
    )
    assert "Tool 2.1-1" in out
    # streamed: the JSON body limit (64 KiB here) does not apply to payloads
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * 100_000)
    assert "Big 1-1" in logged_in.ok("packages", "upload", str(big), "-n", "Big", "-V", "1", "--install", "x")
    assert "--install" in logged_in.fails(2, "packages", "upload", str(big))
    # two files of one name cannot share a payload: said before a package is made
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "install.sh").write_text("echo\n")
    args = ["-n", "Two", "-V", "1", "--install", "x"]
    err = logged_in.fails(2, "packages", "upload", str(src / "install.sh"), str(tmp_path / "other"), *args)
    assert "'install.sh' given twice" in err
    assert logged_in.json("packages", "list")["count"] == 3


def _token(cli: Cli) -> str:
    return cli.config.read_text().split('token = "')[1].split('"')[0]


def _payload(live: LiveServer, cli: Cli, package_id: int) -> bytes:
    r = httpx.get(
        f"{live.url}/api/v1/packages/{package_id}/payload",
        headers={"Authorization": f"Bearer {_token(cli)}"},
    )
    assert r.status_code == 200, r.text
    return r.content


def _big_zip(path: Path, size: int) -> bytes:
    """A ZIP (stored, random content) of about ``size`` bytes: kept by the server as it is."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("install.sh", "#!/bin/sh\n")
        zf.writestr("big.bin", os.urandom(size))
    return path.read_bytes()


@pytest.mark.parametrize("resumable", [False, True], ids=["put", "resumable"])
def test_upload_of_5_mib_is_byte_identical_on_the_server(
    logged_in: Cli, live: LiveServer, runtime: Runtime, admin: Actor, tmp_path: Path, resumable: bool
) -> None:
    data = _big_zip(tmp_path / "big.zip", 5 * 1024 * 1024)
    args = ["--resumable-above", str(1024 * 1024)] if resumable else []
    created = logged_in.json(
        "packages",
        "upload",
        str(tmp_path / "big.zip"),
        "-n",
        "Big",
        "-V",
        "1",
        "--install",
        "sh install.sh",
        *args,
    )
    assert created["payload_sha256"] == hashlib.sha256(data).hexdigest()
    assert created["payload_size"] == len(data)
    assert _payload(live, logged_in, created["id"]) == data
    assert runtime.services.packages.pending_uploads(admin, created["id"]) == []
    # a file that is no ZIP is zipped by the CLI, which checks the server stored that ZIP
    raw = tmp_path / "setup.bin"
    raw.write_bytes(os.urandom(2 * 1024 * 1024))
    created = logged_in.json("packages", "upload", str(raw), "-n", "Raw", "-V", "1", "--install", "x", *args)
    import zipfile

    with zipfile.ZipFile(io.BytesIO(_payload(live, logged_in, created["id"]))) as zf:
        assert zf.namelist() == ["setup.bin"] and zf.read("setup.bin") == raw.read_bytes()


def test_a_resumable_upload_cut_off_goes_on_from_the_servers_offset(
    logged_in: Cli, live: LiveServer, runtime: Runtime, admin: Actor, tmp_path: Path
) -> None:
    data = _big_zip(tmp_path / "big.zip", 5 * 1024 * 1024)
    cutter = CuttingProxy(
        live.port, 2 * 1024 * 1024, b"PATCH /api/v1/uploads/", "request", record=b" /api/v1/uploads/"
    )
    try:
        created = logged_in.json(
            "packages",
            "upload",
            str(tmp_path / "big.zip"),
            "-n",
            "Cut",
            "-V",
            "1",
            "--install",
            "x",
            "--resumable-above",
            "0",
            FLEETDECK_URL=f"http://127.0.0.1:{cutter.port}",
            FLEETDECK_TOKEN=_token(logged_in),
        )
    finally:
        cutter.close()
    assert cutter.cuts == 1
    assert _payload(live, logged_in, created["id"]) == data
    assert created["payload_sha256"] == hashlib.sha256(data).hexdigest()
    # after the cut: HEAD, then a PATCH from where the server stood (bytes before the cut kept)
    heads = [h.decode("latin-1") for h in cutter.heads]
    offsets = [
        int(line.split(":")[1])
        for h in heads
        for line in h.split("\r\n")
        if line.lower().startswith("upload-offset:")
    ]
    assert offsets[0] == 0 and offsets[-1] > 0 and len(offsets) >= 2, heads
    assert any(h.startswith("HEAD /api/v1/uploads/") for h in heads), heads


def test_upload_of_an_opsi_package(logged_in: Cli, tmp_path: Path) -> None:
    path = tmp_path / "demo.opsi"
    path.write_bytes(build_opsi())
    imported = logged_in.json("packages", "upload", str(path))
    assert imported["package"]["family_key"] and imported["replaced"] is False
    assert logged_in.json("packages", "list")["count"] == 1


def test_reports_run_as_csv_and_json(logged_in: Cli, runtime: Runtime, admin: Actor, tmp_path: Path) -> None:
    for h in ("b,2", 'a"1'):
        factories.computer(runtime.services, admin, h)
    runtime.services.reports.create(admin, "Hosts", "SELECT hostname, notes FROM computers ORDER BY hostname")
    (report,) = logged_in.json("reports", "list")["data"]
    rows = list(csv.reader(io.StringIO(logged_in.ok("reports", "run", "hosts", "--csv"))))
    assert rows == [["hostname", "notes"], ['a"1', ""], ["b,2", ""]]
    target = tmp_path / "out.csv"
    logged_in.ok("reports", "run", str(report["id"]), "--csv", "-o", str(target))
    assert target.read_bytes().startswith(b"hostname,notes\r\n")
    assert logged_in.json("reports", "run", "Hosts")["rows"][0]["hostname"] == 'a"1'
    assert "no report named 'nope'" in logged_in.fails(1, "reports", "run", "nope")


@pytest.fixture
def tls_live(settings: Settings, runtime: Runtime, admin: Actor) -> Iterator[LiveServer]:
    with running(settings, runtime, tls="auto") as server:
        yield server


def test_tls_with_the_servers_ca_or_a_pinned_certificate(
    cli: Cli, tls_live: LiveServer, settings: Settings, runtime: Runtime, admin: Actor
) -> None:
    url = f"https://127.0.0.1:{tls_live.port}"
    token = runtime.services.users.create_token(admin, "t", "read+write", None).token
    err = cli.fails(1, "login", url, "--token", token)
    assert "does not verify" in err and "--ca" in err
    ca = settings.data_dir / "tls" / "ca-cert.pem"
    cli.ok("login", url, "--token", token, "--ca", str(ca), "--name", "by-ca")
    assert cli.json("computers", "list")["count"] == 0
    pem = ssl.get_server_certificate(("127.0.0.1", tls_live.port))
    seen = "sha256:" + hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    wrong = "sha256:" + "0" * 64
    assert "not trusted" in cli.fails(1, "login", url, "--token", token, "--trust", "--fingerprint", wrong)
    assert "--fingerprint" in cli.fails(2, "login", url, "--token", token, "--trust")
    cli.ok("login", url, "--token", token, "--trust", "--fingerprint", seen.upper().replace("SHA256:", ""))
    assert cli.json("computers", "list")["count"] == 0
    # FLEETDECK_CA beats the pinned certificate: a wrong one fails
    assert "does not verify" in cli.fails(
        1, "computers", "list", FLEETDECK_CA=str(Path(ssl.get_default_verify_paths().openssl_cafile))
    )
