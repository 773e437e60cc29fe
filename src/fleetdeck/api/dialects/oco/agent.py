"""OCO's agent API (``/api-agent.php``): existing OCO agents (>= 1.1.7) connect unchanged.

The transport only translates. Per request it parses OCO's envelope, makes one call of core's
polling-agent service (``core.polling``: signatures, replay protection, registration, jobs,
inventory, job states) and renders OCO's answer, signed with the computer's server key.

What OCO does, in its order:

* ``Content-Type`` not exactly ``application/json`` -> 400 ``Content type mismatch``;
* a body that is not a JSON-RPC object with ``jsonrpc`` "2.0", ``method``, ``params`` and
  ``id`` -> 400 ``Invalid JSON data``; so are missing method arguments;
* authentication failures (unknown computer, registration off, missing or wrong
  ``x-oco-agent-signature``, a timestamp not newer than the last one) -> 401 with the reason
  as plain text; so is a job of another computer;
* answers: ``{"id", "error": null, "result": {"success", "params", "timestamp"}}``, signed
  (HMAC-SHA256 of the body, hex) in ``x-oco-server-signature``; ``result.timestamp`` grows
  with every answer (the agent refuses one that does not).

* an inventory less than 25 s after the last one while an admin's forced inventory is pending
  -> 400 ``Update refused (too often or invalid data)`` (core's ``InventoryAnswer.accepted``).

Not served: agents older than 1.1.7 (plain-text keys, the old ``?id=`` download): refused
(401) with the reason. Event log entries and rotated passwords are asked for in the hello as
the settings say (``core.polling.records``) and stored.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from fleetdeck.api.dialects.oco.settings import AGENT_REGISTRATION_ENABLED_KEY, AGENT_REGISTRATION_KEY
from fleetdeck.api.kit.bodies import BodyInvalid, decode_json
from fleetdeck.core.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.polling.records import PasswordRequest
from fleetdeck.core.polling.service import (
    Answer,
    HelloAnswer,
    JobReport,
    PollFacts,
    Registration,
    SignedRequest,
    StoredAnswer,
    outdated,
    sign,
)
from fleetdeck.core.services import Services
from fleetdeck.protocol import messages as msg

PATH = "/api-agent.php"
CONTENT_TYPE = "application/json"
SIGNATURE_HEADER = "x-oco-agent-signature"
SERVER_SIGNATURE_HEADER = "x-oco-server-signature"
# OCO's job states as its agent reports them
STATE_FAILED, STATE_DOWNLOADING, STATE_EXECUTING, STATE_SUCCEEDED = -1, 1, 2, 3
# OCO's package post actions: what the job entry's restart/shutdown/exit fields mean
POST_ACTIONS = {1: "restart", 2: "shutdown", 3: "exit"}
EPOCH = "1970-01-01 00:00:00"
MAX_UPTIME_SEC = 100 * 365 * 86400  # more is no uptime (and no date a computer can hold)


class Refused(Exception):
    """An answer OCO gives as a bare status with a plain-text reason."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _invalid() -> Refused:
    return Refused(400, "Invalid JSON data")


class Clock:
    """``result.timestamp``: the time, but never less than (or equal to) the last one given,
    even if the system clock steps back; the agent refuses an answer whose timestamp does not
    grow."""

    def __init__(self) -> None:
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            now = round(time.time(), 6)
            self._last = now if now > self._last else round(self._last + 1e-6, 6)
            return self._last


def _string(value: Any) -> str | None:
    """A text argument: strings, and numbers as OCO (PHP) takes them."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _rows(value: Any) -> list[Mapping[str, Any]]:
    """A list of objects; anything else (and anything in it that is no object) is left out."""
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and abs(number) < 2**63 else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _signed(request: Request, body: bytes, params: Mapping[str, Any]) -> SignedRequest:
    hostname = _string(params.get("hostname"))
    if hostname is None:
        raise _invalid()
    source = request.headers.get("x-forwarded-for") or (request.client.host if request.client else "")
    return SignedRequest(
        hostname=hostname,
        timestamp=params.get("timestamp"),
        body=body,
        signature=request.headers.get(SIGNATURE_HEADER),
        source=source.split(",")[0].strip(),
    )


# ---------------------------------------------------------------- inventory


def inventory(hostname: str, data: Mapping[str, Any]) -> msg.Inventory:
    """An OCO agent's inventory in fleetdeck's model (the fleetdeck agent's ``Inventory``)."""
    os_name = _text(data.get("os"))
    family = "windows" if "windows" in os_name.lower() else "darwin" if "mac" in os_name.lower() else "linux"
    uptime = _number(data.get("uptime"))
    interfaces: dict[str, msg.NetworkInterface] = {}
    for nic in _rows(data.get("networks")):
        name = _text(nic.get("interface")) or "?"
        mac = _text(nic.get("mac"))
        iface = interfaces.setdefault(name, msg.NetworkInterface(name=name, mac="" if mac == "-" else mac))
        address = _text(nic.get("addr"))
        if address:
            iface.addresses.append(
                msg.Address(
                    address=address,
                    family="ipv6" if ":" in address else "ipv4",
                    netmask=_text(nic.get("netmask")).replace("-", ""),
                    broadcast=_text(nic.get("broadcast")).replace("-", ""),
                )
            )
    filesystems = [
        msg.Filesystem(
            mountpoint=_text(p.get("mountpoint")) or _text(p.get("drive")),
            fstype=_text(p.get("filesystem")) or _text(p.get("type")),
            size_bytes=max(0, _int(p.get("size")) or 0),
            free_bytes=max(0, _int(p.get("free")) or 0),
            device=_text(p.get("device")) or _text(p.get("name")),
        )
        for p in _rows(data.get("partitions"))
    ]
    software = [
        msg.Software(
            name=_string(s.get("name")) or "",
            version=_string(s.get("version")) or "",
            description=_text(s.get("description")),
        )
        for s in _rows(data.get("software"))
        if _string(s.get("name"))
    ]
    logins = []
    for login in _rows(data.get("logins")):
        if not _text(login.get("username")):
            continue
        try:
            started = datetime.strptime(_text(login.get("timestamp")), "%Y-%m-%d %H:%M:%S")
            at: float | None = started.replace(tzinfo=UTC).timestamp()
        except ValueError:
            at = None
        logins.append(
            msg.LoggedInUser(
                name=_text(login.get("username")), terminal=_text(login.get("console")), started=at
            )
        )
    return msg.Inventory(
        hostname=hostname,
        os=os_name,
        os_version=_string(data.get("os_version")) or "",
        os_family=family,
        kernel=_string(data.get("kernel_version")) or "",
        architecture=_text(data.get("architecture")),
        cpu_model=_text(data.get("cpu")),
        ram_bytes=max(0, _int(data.get("ram")) or 0),
        boot_time=time.time() - uptime if uptime is not None and 0 <= uptime < MAX_UPTIME_SEC else None,
        manufacturer=_text(data.get("manufacturer")),
        model=_text(data.get("model")),
        serial=_string(data.get("serial")) or "",
        battery_level=_number(data.get("battery_level")),
        battery_status=_int(data.get("battery_status")),
        bios_version=_string(data.get("bios_version")) or "",
        domain=_text(data.get("domain")),
        filesystems=filesystems,
        network_interfaces=list(interfaces.values()),
        software=software,
        logged_in_users=logins,
    )


def software_job(spec: msg.JobSpec) -> dict[str, Any]:
    """A job as OCO's hello lists it."""
    p = spec.params
    timeout = int(p.get("post_action_timeout_min") or 1)
    action = POST_ACTIONS.get(int(p.get("post_action") or 0))
    return {
        "id": spec.id,
        "container-id": p.get("container_id"),
        "package-id": p.get("package_id"),
        "download": bool(p.get("download")),
        "procedure": p.get("procedure") or "",
        "sequence-mode": int(p.get("sequence_mode") or 0),
        "restart": timeout if action == "restart" else None,
        "shutdown": timeout if action == "shutdown" else None,
        "exit": timeout if action == "exit" else None,
    }


def password_request(p: PasswordRequest) -> dict[str, Any]:
    """A due password as OCO's hello asks for it (``old_password`` for macOS only)."""
    out: dict[str, Any] = {"username": p.username, "alphabet": p.alphabet, "length": p.length}
    if p.old_password is not None:
        out["old_password"] = p.old_password
    return out


def job_report(data: Mapping[str, Any]) -> JobReport:
    """``update_job_state``'s data; refused (400) as OCO refuses it."""
    if data.get("job-id") is None or data.get("state") is None or "return-code" not in data:
        raise _invalid()
    if data.get("message") is None:
        raise _invalid()
    job_id, state = _int(data["job-id"]), _int(data["state"])
    if job_id is None:
        raise Refused(400, f"Job »{_string(data['job-id']) or ''}« not found")
    code = _int(data["return-code"])
    message = _string(data["message"]) or ""
    if state == STATE_DOWNLOADING:
        return JobReport(job_id, "download", progress=_number(data.get("download-progress")))
    if state == STATE_EXECUTING:
        return JobReport(job_id, "execute", output=message)
    if state == STATE_SUCCEEDED:
        return JobReport(job_id, "done", exit_code=code, output=message)
    if state is not None and state < 0:
        return JobReport(job_id, "failed", exit_code=code, output=message)
    raise Refused(400, f"Invalid job state {_string(data['state']) or ''}")


# ---------------------------------------------------------------- the endpoint


def endpoint(services: Services) -> Callable[[Request], Awaitable[Response]]:
    polling = services.polling
    settings = services.settings
    stamp = Clock()

    def registration() -> Registration:
        key = settings.get_secret(AGENT_REGISTRATION_KEY) if settings.is_set(AGENT_REGISTRATION_KEY) else ""
        return Registration(enabled=bool(settings.value(AGENT_REGISTRATION_ENABLED_KEY)), key=key or "")

    def signed_answer(rpc_id: Any, answer: Answer, params: Any, success: bool = True) -> Response:
        body = {
            "id": rpc_id,
            "error": None,
            "result": {"success": success, "params": params, "timestamp": stamp()},
        }
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        return Response(
            raw,
            media_type=CONTENT_TYPE,
            headers={SERVER_SIGNATURE_HEADER: sign(answer.server_key, raw)},
        )

    def hello(req: SignedRequest, data: Mapping[str, Any]) -> tuple[Answer, dict[str, Any]]:
        facts = PollFacts(
            agent_version=_string(data.get("agent_version")) or "",
            uptime_sec=_number(data.get("uptime")),
            inventory_wanted=bool(data.get("force_update")),
            # OCO takes both when both are there; the agent's False (no battery) clears them
            battery=data.get("battery_level") is not None and data.get("battery_status") is not None,
            battery_level=_number(data.get("battery_level")),
            battery_status=_int(data.get("battery_status")),
        )
        answer: HelloAnswer = polling.hello(req, registration(), facts)
        return answer, {
            "server-key": answer.new_server_key,
            "agent-key": answer.new_agent_key,
            "update": 1 if answer.inventory_due else 0,
            "logins-since": EPOCH,
            "software-jobs": [software_job(j) for j in answer.jobs],
            "events": [
                {"since": q.since.strftime("%Y-%m-%d %H:%M:%S"), "log": q.log, "query": q.query}
                for q in answer.event_queries
            ],
            "update-passwords": [password_request(p) for p in answer.password_requests],
        }

    def update(req: SignedRequest, data: Mapping[str, Any]) -> tuple[Answer, dict[str, Any]]:
        if not data:
            raise _invalid()
        answer = polling.inventory(req, inventory(req.hostname, data))
        if not answer.accepted:  # OCO's words; the agent tries again when the hello asks
            raise Refused(400, "Update refused (too often or invalid data)")
        return answer, {"policies": {"machine": []}}

    def job_state(req: SignedRequest, data: Mapping[str, Any]) -> tuple[Answer, dict[str, Any]]:
        report = job_report(data)
        try:
            answer = polling.job_state(req, report)
        except NotFound:
            raise Refused(400, f"Job »{report.job_id}« not found") from None
        except PermissionDenied:
            raise Refused(401, f"Computer not allowed to update job »{report.job_id}«") from None
        return answer, {"job-succeeded": answer.succeeded}

    def events(req: SignedRequest, data: Mapping[str, Any]) -> tuple[Answer, Any]:
        if not data or not isinstance(data.get("events"), list):
            raise _invalid()
        return polling.events(req, _rows(data["events"])), []  # PHP's empty array

    def passwords(req: SignedRequest, data: Mapping[str, Any]) -> tuple[Answer, Any]:
        """OCO's ``success`` is true only when a password was stored (or revoked): the agent
        changes the local password only after that."""
        if not data or not isinstance(data.get("passwords"), list):
            raise _invalid()
        try:
            return polling.passwords(req, _rows(data["passwords"])), []
        except ValidationFailed as exc:
            raise Refused(400, exc.message) from None

    calls = {
        "oco.agent.hello": hello,
        "oco.agent.update": update,
        "oco.agent.update_job_state": job_state,
        "oco.agent.events": events,
        "oco.agent.passwords": passwords,
    }

    def download(req: SignedRequest, package_id: Any) -> Response:
        try:
            answer = polling.payload(req, package_id)
        except NotFound:
            raise Refused(400, "Package not found") from None
        except PermissionDenied:
            raise Refused(400, "No active job for this package") from None
        assert answer.payload is not None
        return FileResponse(
            answer.payload.path, media_type="application/zip", filename=f"package-{package_id}.zip"
        )

    def serve(request: Request, body: bytes) -> Response:
        try:
            payload = decode_json(body)
        except BodyInvalid:
            raise _invalid() from None
        if (
            not isinstance(payload, dict)
            or payload.get("jsonrpc") != "2.0"
            or not isinstance(payload.get("method"), str)
            or payload.get("params") is None
            or payload.get("id") is None
        ):
            raise _invalid()
        params = _object(payload["params"])
        method = payload["method"]
        if method == "oco.agent.download":
            if params.get("package-id") is None:
                raise _invalid()
            return download(_signed(request, body, params), params["package-id"])
        call = calls.get(method)
        if call is None:
            raise Refused(400, "Unknown method")
        req = _signed(request, body, params)
        if req.signature is None:
            version = _string(_object(params.get("data")).get("agent_version")) or ""
            if "agent-key" in params or outdated(version):
                polling.refuse_outdated(req, version)
        answer, out = call(req, _object(params.get("data")))
        success = answer.stored if isinstance(answer, StoredAnswer) else True
        return signed_answer(payload["id"], answer, out, success)

    async def handle(request: Request) -> Response:
        if request.headers.get("content-type") != CONTENT_TYPE:
            if request.query_params.get("id"):  # the download of agents older than 1.1.7
                return PlainTextResponse(
                    "Agents older than 1.1.7 download with a plain-text key, which this server does"
                    " not accept; update the OCO agent",
                    401,
                )
            return PlainTextResponse("Content type mismatch", 400)
        body = await request.body()
        try:
            return await run_in_threadpool(serve, request, body)
        except Refused as exc:
            return PlainTextResponse(exc.text, exc.status)
        except AuthenticationFailed as exc:
            return PlainTextResponse(exc.message, 401)
        except ValidationFailed:
            return PlainTextResponse("Invalid JSON data", 400)

    return handle
