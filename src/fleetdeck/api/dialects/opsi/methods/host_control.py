"""opsi's ``hostControl_*`` / ``hostControlSafe_*`` through fleetdeck's agent and core.

Answers are opsi's per-host shape ``{hostId: {"result": ..., "error": None|"..."}}``
(``reachable``: ``{hostId: bool}``). What runs:

- ``start``: real Wake-on-LAN packets to the host's MACs (core's WolService).
- ``reachable``: whether the host's agent is connected now.
- ``execute``: a command job on each connected host (the one job model: it shows in
  ``/api/v1/jobs`` too); with ``waitForEnding`` the call waits for the results up to ``timeout``.
- ``uptime`` and ``getActiveSessions``: from the live inventory (boot time, logged-in users).
- ``reboot``, ``shutdown``, ``showPopup``: an ``action`` job for each connected host (core's
  ``create_actions``), run by the agent: it reports, then reboots or shuts down; a popup is
  written to the logged-in users' terminals. The jobs expire after a few minutes, so a host that
  drops off before it gets one is not rebooted by surprise when it returns.
- ``fireEvent("on_demand")`` and ``processActionRequests``: hands the host's queued jobs (its
  action requests) to its agent now. fleetdeck pushes jobs the moment they are queued, so this
  only matters for jobs held back by time frames or IP ranges; other events answer an error.
- ``opsiclientdRpc``: the opsiclientd methods that have a counterpart above (``fireEvent``,
  ``showPopup``, ``reboot``, ``shutdown``, ``uptime``, ``execute``, ``getActiveSessions``,
  ``processActionRequests``); other methods answer an error per host.

Hosts whose agent is not connected answer opsi's "Host currently not connected to messagebus".
``hostControl*`` needs the run-commands permission (opsi: admins only); clients may not call it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fleetdeck.api.dialects.opsi.errors import (
    BackendMissingDataError,
    BackendPermissionDeniedError,
    OpsiValueError,
)
from fleetdeck.api.dialects.opsi.interface import SPEC
from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.filters import value_matches
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.authz import Perm
from fleetdeck.core.computers.entities import ComputerSummary
from fleetdeck.core.jobs.entities import ActionRequest, CommandRequest, JobStatus

NOT_CONNECTED = "Host currently not connected to messagebus"
NOT_OFFERED = "not supported by the fleetdeck agent"
FINAL = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.TIMEOUT, JobStatus.CANCELLED, JobStatus.EXPIRED}
_hosts = HostAdapter()

Answer = dict[str, Any]


def targets(ctx: Context, host_ids: Any, safe: bool) -> dict[str, ComputerSummary]:
    if ctx.is_client:
        raise BackendPermissionDeniedError("hostControl is for administrators")
    ctx.actor.require(Perm.RUN_COMMANDS)
    wanted = [] if host_ids is None else (host_ids if isinstance(host_ids, list) else [host_ids])
    if safe and not wanted:
        raise BackendMissingDataError("No matching host ids found")
    _, computers = _hosts.computers(ctx)
    found = {hid: c for hid, c in computers.items() if not wanted or value_matches(hid, wanted)}
    if not found:
        raise BackendMissingDataError("No matching host ids found")
    return found


def per_host(
    hosts: dict[str, ComputerSummary], each: Callable[[str, ComputerSummary], Any]
) -> dict[str, Answer]:
    out: dict[str, Answer] = {}
    for hid, c in hosts.items():
        try:
            out[hid] = {"result": each(hid, c), "error": None}
        except _HostError as exc:
            out[hid] = {"result": None, "error": str(exc)}
    return out


class _HostError(Exception):
    pass


def _online(c: ComputerSummary, need: str = "") -> None:
    """The host's agent is connected (and, with ``need``, can do that: a computer run by an OCO
    agent runs no command and no action, whatever its connection)."""
    if need and need not in c.capabilities:
        raise _HostError(
            f"Host is managed by a {c.agent_kind} agent, which cannot run {need}"
            f" (it can do: {', '.join(c.capabilities)})"
        )
    if not c.online:
        raise _HostError(NOT_CONNECTED)


def start(ctx: Context, safe: bool, hostIds: Any = None) -> dict[str, Answer]:
    hosts = targets(ctx, hostIds, safe)
    net = ctx.services.computers.network_identities(ctx.actor, [c.id for c in hosts.values()])

    def wake(hid: str, c: ComputerSummary) -> str:
        if c.id not in net or not net[c.id].macs:
            raise _HostError(f"Failed to get hardware address for host '{hid}'")
        ctx.services.wol.wake_computers(ctx.actor, [c.id])
        return "sent"

    return per_host(hosts, wake)


def reachable(ctx: Context, safe: bool, hostIds: Any = None, timeout: Any = None) -> dict[str, bool]:
    """Whether each host's agent answers a ping within ``timeout`` seconds (opsi: ``forceInt``
    of it, 3 when not given), all hosts asked at once. Hosts not connected are False at once."""
    hosts = targets(ctx, hostIds, safe)
    try:
        seconds = 3 if not timeout else int(timeout)
    except (TypeError, ValueError):
        raise OpsiValueError(f"Bad int value '{timeout}'") from None
    answers = ctx.services.computers.probe(
        ctx.actor, [c.id for c in hosts.values()], min(max(seconds, 1), 300)
    )
    return {hid: answers[c.id] for hid, c in hosts.items()}


def uptime(ctx: Context, safe: bool, hostIds: Any = None) -> dict[str, Answer]:
    def seconds(hid: str, c: ComputerSummary) -> int:
        _online(c)
        boot = ctx.services.computers.get(ctx.actor, c.id).boot_time
        if boot is None:
            raise _HostError("boot time unknown")
        return int((datetime.now(UTC) - boot.replace(tzinfo=boot.tzinfo or UTC)).total_seconds())

    return per_host(targets(ctx, hostIds, safe), seconds)


def sessions(ctx: Context, safe: bool, hostIds: Any = None) -> dict[str, Answer]:
    def users(hid: str, c: ComputerSummary) -> list[dict[str, Any]]:
        _online(c)
        detail = ctx.services.computers.get(ctx.actor, c.id)
        return [
            {
                "SessionId": u.terminal,
                "UserName": u.username,
                "Domain": u.host,
                "LogonTime": u.started_at.strftime("%Y-%m-%d %H:%M:%S") if u.started_at else None,
            }
            for u in detail.logged_in_users
        ]

    return per_host(targets(ctx, hostIds, safe), users)


def execute(
    ctx: Context,
    safe: bool,
    command: Any,
    hostIds: Any = None,
    waitForEnding: Any = True,
    captureStderr: Any = True,
    encoding: Any = None,
    timeout: Any = 300,
) -> dict[str, Answer]:
    hosts = targets(ctx, hostIds, safe)
    limit = max(1, min(int(timeout or 300), 3600))
    online = {hid: c for hid, c in hosts.items() if c.online and "commands" in c.capabilities}
    jobs: dict[int, int] = {}
    if online:
        created = ctx.services.jobs.create_commands(
            ctx.actor,
            CommandRequest(command=str(command), timeout_sec=limit),
            computer_ids=[c.id for c in online.values()],
        )
        for job_id in created.job_ids:
            jobs[ctx.services.jobs.get(ctx.actor, job_id).computer_id] = job_id
    finished: dict[int, Any] = {}
    if bool(waitForEnding) and jobs:  # results are announced as they are stored: no polling
        infos = ctx.services.jobs.wait(ctx.actor, list(jobs.values()), limit + 5)
        finished = {info.computer_id: info for info in infos if info.status in FINAL}

    def result(hid: str, c: ComputerSummary) -> Any:
        _online(c, "commands")
        if not bool(waitForEnding):
            return None
        info = finished.get(c.id)
        if info is None:
            raise _HostError(f"Timed out after {limit} seconds  while waiting for response")
        if info.status is not JobStatus.SUCCEEDED:
            raise _HostError(info.message or info.stderr or f"command ended: {info.status.value}")
        out = info.stdout + (info.stderr if bool(captureStderr) else "")
        return out.splitlines()

    return per_host(hosts, result)


ACTION_EXPIRY = timedelta(minutes=5)
EVENTS = ("on_demand",)  # opsiclientd events with a fleetdeck meaning


def _act(ctx: Context, hosts: dict[str, ComputerSummary], request: ActionRequest) -> dict[str, Answer]:
    online = [c.id for c in hosts.values() if c.online and "actions" in c.capabilities]
    if online:
        ctx.services.jobs.create_actions(ctx.actor, request, computer_ids=online, expires_in=ACTION_EXPIRY)

    def result(hid: str, c: ComputerSummary) -> None:
        _online(c, "actions")

    return per_host(hosts, result)


def reboot(ctx: Context, safe: bool, hostIds: Any = None) -> dict[str, Answer]:
    return _act(ctx, targets(ctx, hostIds, safe), ActionRequest(action="reboot"))


def shutdown(ctx: Context, safe: bool, hostIds: Any = None) -> dict[str, Answer]:
    return _act(ctx, targets(ctx, hostIds, safe), ActionRequest(action="shutdown"))


def show_popup(
    ctx: Context,
    safe: bool,
    message: Any,
    hostIds: Any = None,
    mode: Any = "prepend",
    addTimestamp: Any = True,
    displaySeconds: Any = None,
) -> dict[str, Answer]:
    """``mode`` and ``displaySeconds`` steer opsiclientd's popup window; a terminal message has
    neither, so they are accepted and not used."""
    if not isinstance(message, str) or not message.strip():
        raise OpsiValueError("message must be a non-empty string")
    if mode not in ("prepend", "append", "replace"):
        raise OpsiValueError(f"Invalid mode: {mode!r}")
    hosts = targets(ctx, hostIds, safe)
    text = message
    if bool(addTimestamp):
        text = f"[{datetime.now(UTC).astimezone().strftime('%Y-%m-%d %H:%M:%S')}] {message}"
    return _act(ctx, hosts, ActionRequest(action="message", message=text))


def fire_event(ctx: Context, safe: bool, event: Any, hostIds: Any = None) -> dict[str, Answer]:
    hosts = targets(ctx, hostIds, safe)
    if event not in EVENTS:
        return per_host(hosts, _refuse(f"event {event!r} is {NOT_OFFERED} (known: {', '.join(EVENTS)})"))
    return process_action_requests(ctx, safe, hostIds=list(hosts))


def process_action_requests(
    ctx: Context, safe: bool, hostIds: Any = None, productIds: Any = None, visibility: Any = None
) -> dict[str, Answer]:
    """``productIds`` and ``visibility`` narrow what opsiclientd processes; fleetdeck hands over
    every queued job of the host, as it would anyway."""
    hosts = targets(ctx, hostIds, safe)
    ctx.services.jobs.redeliver(ctx.actor, [c.id for c in hosts.values() if c.online])

    def result(hid: str, c: ComputerSummary) -> None:
        _online(c)

    return per_host(hosts, result)


def _refuse(reason: str) -> Callable[[str, ComputerSummary], None]:
    def each(hid: str, c: ComputerSummary) -> None:
        raise _HostError(reason)

    return each


def opsiclientd_rpc(
    ctx: Context, safe: bool, method: Any, params: Any = None, hostIds: Any = None, timeout: Any = None
) -> dict[str, Answer]:
    impl = CLIENTD_METHODS.get(str(method))
    if impl is None:
        return per_host(
            targets(ctx, hostIds, safe), _refuse(f"opsiclientd method {method!r} is {NOT_OFFERED}")
        )
    args = params if isinstance(params, list) else ([] if params is None else [params])
    try:
        answer = impl(ctx, safe, *args, hostIds=hostIds)
    except TypeError as exc:
        raise OpsiValueError(f"Invalid params for {method}: {exc}") from exc
    if isinstance(answer, dict) and all(isinstance(v, bool) for v in answer.values()):
        return {hid: {"result": v, "error": None} for hid, v in answer.items()}
    return dict(answer)


IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {
    "start": start,
    "reachable": reachable,
    "uptime": uptime,
    "getActiveSessions": sessions,
    "execute": execute,
    "reboot": reboot,
    "shutdown": shutdown,
    "showPopup": show_popup,
    "fireEvent": fire_event,
    "processActionRequests": process_action_requests,
}
CLIENTD_METHODS: dict[str, Callable[..., Any]] = dict(IMPLEMENTATIONS)
IMPLEMENTATIONS["opsiclientdRpc"] = opsiclientd_rpc


def _bind(impl: Callable[..., Any], safe: bool) -> Callable[..., Any]:
    def method(ctx: Context, **kwargs: Any) -> Any:
        return impl(ctx, safe, **kwargs)

    return method


for _name, _impl in IMPLEMENTATIONS.items():
    for _prefix, _safe in (("hostControl", False), ("hostControlSafe", True)):
        if f"{_prefix}_{_name}" in SPEC:
            crud.declare(f"{_prefix}_{_name}", _bind(_impl, _safe))
