"""``fleetdeck run`` and ``fleetdeck jobs list/show/cancel``."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from fleetdeck.cli.remote import output
from fleetdeck.cli.remote.client import Remote
from fleetdeck.cli.remote.common import Page, verb
from fleetdeck.cli.remote.follow import Printer, follow
from fleetdeck.cli.remote.resolve import ComputerRefs, GroupRefs, computer_ids, hostnames, targets

app = typer.Typer(help="Jobs (commands, actions, deployments) on a running server.", no_args_is_help=True)

COLUMNS: list[output.Column] = [
    output.field("id"),
    output.field("batch_id"),
    output.field("computer_id"),
    output.field("kind"),
    output.field("status"),
    output.field("exit_code"),
    output.field("created_at"),
    output.field("finished_at"),
    ("command", lambda r: str(r["command"].get("command", ""))[:60]),
]


def failed(job: dict[str, Any]) -> bool:
    return job["status"] != "succeeded" or (job["exit_code"] or 0) != 0


def label(names: dict[int, str], computer_id: int) -> str:
    """The host name, with the id where several computers share it (clones, test machines)."""
    name = names.get(computer_id, "")
    shared = sum(1 for n in names.values() if n == name) > 1
    return f"{name}#{computer_id}" if shared or not name else name


def summary(jobs: list[dict[str, Any]], names: dict[int, str]) -> None:
    """Per computer: status and exit code, on stderr (stdout is the commands' own output)."""
    from rich.table import Table

    out = Table("computer", "job", "status", "exit code", "message", title="results")
    for job in sorted(jobs, key=lambda j: names.get(j["computer_id"], "")):
        style = "red" if failed(job) else "green"
        out.add_row(
            names.get(job["computer_id"], str(job["computer_id"])),
            str(job["id"]),
            f"[{style}]{job['status']}[/{style}]",
            output.cell(job["exit_code"]),
            job["message"],
        )
    output.errors.print(out)


@verb(None)
def run(
    remote: Remote,
    command: Annotated[list[str], typer.Argument(help="The command line (quote it, or put it after --).")],
    computer: ComputerRefs = None,
    group: GroupRefs = None,
    interpreter: Annotated[
        str | None, typer.Option(help="sh, bash, zsh, powershell or cmd (default: the platform's shell).")
    ] = None,
    cwd: Annotated[str | None, typer.Option(help="Working directory on the computer.")] = None,
    timeout: Annotated[int, typer.Option(min=1, help="Seconds before the agent kills the command.")] = 300,
    expires_in: Annotated[
        int | None, typer.Option(min=1, help="Jobs not delivered within this many seconds expire.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the jobs until they end.")] = True,
    json_out: output.JsonOut = False,
) -> None:
    """Run a command on computers and group members, with live output and exit codes.

    Exit code 0 when every job succeeded, 1 when any failed, timed out, was cancelled or
    expired. Ctrl-C stops following; the jobs keep running."""
    body: dict[str, Any] = {"command": " ".join(command), "timeout_sec": timeout}
    body |= {
        k: v for k, v in {"interpreter": interpreter, "cwd": cwd, "expires_in_sec": expires_in}.items() if v
    }
    body["computer_ids"], body["group_ids"] = targets(remote, computer, group)
    created = remote.data("POST", "/commands", body)
    job_ids: list[int] = created["job_ids"]
    if not wait:
        if json_out:
            output.emit_json(created)
        else:
            typer.echo(f"command {created['id']}: {len(job_ids)} jobs ({', '.join(map(str, job_ids))})")
        return
    if not job_ids:
        typer.echo("no computers to run on", err=True)
        raise typer.Exit(1)
    _follow_batch(remote, created["id"], job_ids, json_out)


def _follow_batch(remote: Remote, batch_id: int, job_ids: list[int], json_out: bool) -> None:
    first = remote.get("/jobs", **{"filter[batch_id]": batch_id, "page[limit]": 1000})["data"]
    by_job = {j["id"]: j["computer_id"] for j in first}
    names = hostnames(remote, list(by_job.values()))
    job_names = {j: label(names, c) for j, c in by_job.items()}
    printer = Printer(job_names)
    try:
        done = follow(remote, job_ids, (lambda *_: None) if json_out else printer)
    except KeyboardInterrupt:
        printer.close()
        typer.echo(
            f"\nstopped following; the jobs go on: fleetdeck jobs list -f batch_id={batch_id}", err=True
        )
        raise typer.Exit(130) from None
    printer.close()
    jobs = [done[j] for j in job_ids]
    if json_out:
        output.emit_json([{**j, "hostname": names.get(j["computer_id"], "")} for j in jobs])
    else:
        summary(jobs, names)
    if any(failed(j) for j in jobs):
        raise typer.Exit(1)


@verb(app, "list", paged="-id")
def list_jobs(
    remote: Remote,
    page: Page,
    computer: Annotated[
        str | None, typer.Option("--computer", "-c", help="Computer id or host name.")
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="Status(es), comma-separated: queued,running,...")
    ] = None,
    batch: Annotated[int | None, typer.Option(help="Jobs of this command (batch id).")] = None,
    json_out: output.JsonOut = False,
) -> None:
    """Jobs, newest first (fields: id, batch_id, computer_id, kind, status, exit_code, ...)."""
    cid = computer_ids(remote, [computer])[0] if computer else None
    rows, count = page.fetch(remote, "/jobs", {"computer_id": cid, "status": status, "batch_id": batch})
    output.listing(rows, COLUMNS, json_out, count)


@verb(app, "show")
def show(
    remote: Remote,
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    json_out: output.JsonOut = False,
) -> None:
    """A job with its output."""
    job: dict[str, Any] = remote.data("GET", f"/jobs/{job_id}")
    if json_out:
        output.emit_json(job)
        return
    output.record(job, False, skip=("stdout", "stderr"), title=f"job {job_id}")
    output.console.print(f"command: {job['command'].get('command', job['command'])}")
    if job["stdout"]:
        output.console.rule("stdout")
        sys.stdout.write(job["stdout"] if job["stdout"].endswith("\n") else job["stdout"] + "\n")
    if job["stderr"]:
        output.console.rule("stderr")
        sys.stdout.write(job["stderr"] if job["stderr"].endswith("\n") else job["stderr"] + "\n")


@verb(app, "cancel")
def cancel(
    remote: Remote,
    job_ids: Annotated[list[int], typer.Argument(help="Job ids.")],
    json_out: output.JsonOut = False,
) -> None:
    """Cancel jobs: a queued one at once, a running one is stopped by its agent."""
    jobs = [remote.data("POST", f"/jobs/{j}/cancel") for j in job_ids]
    if json_out:
        output.emit_json(jobs)
    else:
        for job in jobs:
            typer.echo(
                f"job {job['id']}: {job['status']}{' (cancel requested)' if job['cancel_requested'] else ''}"
            )
