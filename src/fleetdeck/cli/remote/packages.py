"""``fleetdeck packages list/upload`` and ``fleetdeck deploy``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    DownloadColumn,
    MofNCompleteColumn,
    TextColumn,
    TransferSpeedColumn,
)

from fleetdeck.cli.remote import output
from fleetdeck.cli.remote.client import Remote, fail
from fleetdeck.cli.remote.common import Page, verb
from fleetdeck.cli.remote.config import usage_error
from fleetdeck.cli.remote.follow import FINAL
from fleetdeck.cli.remote.resolve import ComputerRefs, GroupRefs, targets
from fleetdeck.cli.remote.upload import RESUMABLE_ABOVE, collect, send_opsi, send_package

app = typer.Typer(help="Packages on a running server.", no_args_is_help=True)
POLL_SEC = 1.0

COLUMNS: list[output.Column] = [
    output.field("id"),
    output.field("family_name"),
    output.field("version"),
    output.field("package_version"),
    ("size", lambda r: "" if r["payload_size"] is None else f"{r['payload_size']:,}"),
    ("installed", lambda r: r["install_count"]),
    output.field("created_at"),
    output.field("description"),
]


@verb(app, "list", paged="-id")
def list_packages(remote: Remote, page: Page, json_out: output.JsonOut = False) -> None:
    """Packages (fields: id, family_id, version, package_version, description, created_at, ...)."""
    rows, count = page.fetch(remote, "/packages")
    output.listing(rows, COLUMNS, json_out, count)


@verb(app, "upload")
def upload(
    remote: Remote,
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Payload files or directories; or one .opsi package.", exists=True, readable=True
        ),
    ],
    name: Annotated[str | None, typer.Option("--name", "-n", help="Package family name.")] = None,
    version: Annotated[str | None, typer.Option("--version", "-V", help="Package version.")] = None,
    package_version: Annotated[str, typer.Option(help="Revision of the package itself.")] = "1",
    install: Annotated[str | None, typer.Option(help="Install command line (run in the payload).")] = None,
    uninstall: Annotated[str | None, typer.Option(help="Uninstall command line.")] = None,
    description: Annotated[str, typer.Option(help="Description.")] = "",
    resumable_above: Annotated[
        int,
        typer.Option(
            min=0,
            help="Payloads larger than this many bytes go by the resumable upload, which"
            " survives dropped connections.",
        ),
    ] = RESUMABLE_ABOVE,
    json_out: output.JsonOut = False,
) -> None:
    """Upload a package: payload files with --name, --version and --install; or an opsi
    package (.opsi), which carries all of that itself. The payload is streamed (one ZIP; other
    files are zipped locally first) and its SHA-256 checked against the server's."""
    opsi = len(files) == 1 and files[0].suffix == ".opsi" and files[0].is_file()
    fields: dict[str, Any]
    if opsi:
        fields = {}
    else:
        if not (name and version and install):
            usage_error("--name, --version and --install are needed (or give one .opsi file)")
        fields = {
            "family_name": name,
            "version": version,
            "package_version": package_version,
            "install_procedure": install,
            "description": description,
        }
        if uninstall:
            fields["uninstall_procedure"] = uninstall
    uploads = collect(files)
    total = sum(u.size for u in uploads)
    bar = output.progress(
        json_out, TextColumn("{task.percentage:>3.0f}%"), DownloadColumn(), TransferSpeedColumn()
    )
    with bar:
        task = bar.add_task("upload", total=total)

        def advance(sent: int) -> None:
            bar.update(task, advance=sent)

        def position(done: int, size: int) -> None:
            bar.update(task, completed=done, total=size)

        if opsi:
            result = send_opsi(remote, fields, uploads[0], advance)
            package = result["package"]
        else:
            result = package = send_package(remote, fields, uploads, position, resumable_above)
    if json_out:
        output.emit_json(result)
        return
    typer.echo(
        f"package {package['id']}: {package['family_name']} {package['version']}-"
        f"{package['package_version']} ({total:,} bytes in {len(uploads)} files)"
    )


def package_ids(remote: Remote, refs: list[str]) -> list[int]:
    """Ids as given; ``family`` the family's newest package, ``family@version`` that version's."""
    ids = [int(r) for r in refs if r.isdigit()]
    named = [r for r in refs if not r.isdigit()]
    if named:
        families = {f["name"].lower(): f["id"] for f in remote.data("GET", "/package-families")}
        for ref in named:
            family, _, version = ref.partition("@")
            fid = families.get(family.lower())
            if fid is None:
                fail(f"no package family named {family!r}")
            params = {"filter[family_id]": fid, "sort": "-id", "page[limit]": 1}
            if version:
                params["filter[version]"] = version
            rows = remote.get("/packages", **params)["data"]
            if not rows:
                fail(f"no package {ref!r}")
            ids.append(int(rows[0]["id"]))
    return list(dict.fromkeys(ids))


@verb(None)
def deploy(
    remote: Remote,
    packages: Annotated[list[str], typer.Argument(help="Package ids, family names or family@version.")],
    computer: ComputerRefs = None,
    group: GroupRefs = None,
    name: Annotated[str | None, typer.Option(help="Deployment name (default: the packages).")] = None,
    force_same_version: Annotated[bool, typer.Option(help="Install again where installed.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow until every job ended.")] = True,
    json_out: output.JsonOut = False,
) -> None:
    """Deploy packages (with their dependencies) to computers and groups, with a progress bar
    until every job ended. Exit code 1 when the deployment failed."""
    computers, groups = targets(remote, computer, group)
    body = {
        "name": name or ("deploy " + " ".join(packages))[:255],
        "package_ids": package_ids(remote, packages),
        "computer_ids": computers,
        "computer_group_ids": groups,
        "force_same_version": force_same_version,
    }
    created = remote.data("POST", "/deployments", body)
    if not wait:
        if json_out:
            output.emit_json(created)
        else:
            typer.echo(f"deployment {created['id']}: {len(created['job_ids'])} jobs")
        return
    try:
        result = _follow_deployment(remote, int(created["id"]), len(created["job_ids"]), json_out)
    except KeyboardInterrupt:
        typer.echo(f"\nstopped following; deployment {created['id']} goes on", err=True)
        raise typer.Exit(130) from None
    if json_out:
        output.emit_json(result)
    else:
        output.table(
            result["jobs"],
            [
                output.field("hostname"),
                output.field("family_name"),
                output.field("version"),
                output.field("status"),
                output.field("exit_code"),
                output.field("message"),
            ],
            title=f"deployment {result['id']}: {result['status']}",
        )
    if result["status"] == "failed":
        raise typer.Exit(1)


def _follow_deployment(remote: Remote, container_id: int, jobs: int, json_out: bool) -> dict[str, Any]:
    """Polls the deployment once a second (one request: the deployment with its jobs)."""
    progress = output.progress(json_out, MofNCompleteColumn())
    with progress:
        task = progress.add_task(f"deployment {container_id}", total=jobs)
        while True:
            info: dict[str, Any] = remote.data("GET", f"/deployments/{container_id}")
            ended = sum(1 for j in info["jobs"] if j["status"] in FINAL)
            running = [j for j in info["jobs"] if j["status"] not in FINAL]
            phase = next((f"{j['hostname']}: {j['phase']}" for j in running if j["phase"]), info["status"])
            progress.update(
                task,
                completed=ended,
                total=len(info["jobs"]) or jobs,
                description=f"deployment {container_id} ({phase})",
            )
            if info["status"] in ("succeeded", "failed"):
                return info
            time.sleep(POLL_SEC)
