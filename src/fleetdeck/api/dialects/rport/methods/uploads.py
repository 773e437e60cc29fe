"""rportd's file uploads: ``POST /files`` (multipart) pushes a file to clients through core's file
push (``core/jobs/files.py``): the server keeps it and each client's agent fetches it and writes
it to ``dest`` with the requested mode, owner and group (``force``: overwrite; ``sync``: only
when it differs). The answer comes at once, ``{uuid, filepath, size}``; delivery is a job per
client. Needs the ``uploads`` permission.

``group_id`` (repeatable) targets the members of client groups, as core decides them in the
transaction that makes the jobs (an unknown group, or groups without members, is a 400).

Not built yet (answered with a clear error in rportd's format): targeting by ``tags``, and the
``/ws/uploads`` progress socket.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.registry import Auth, Context, route
from fleetdeck.core.jobs.files import BadDestination, FilePutRequest

FIELDS = {"upload", "client_id", "group_id", "tags", "dest", "force", "sync", "mode", "user", "group", "id"}
TRUE = {"true", "1", "on", "yes", "t"}
FALSE = {"false", "0", "off", "no", "f", ""}
MAX_GROUPS = 100  # client groups one push may target (their rules become one SQL condition)


def _flag(form: Any, name: str) -> bool:
    value = str(form.get(name) or "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise RportError(400, f"invalid {name} value {value!r}: true or false")


def _text(form: Any, name: str) -> str:
    values = form.getlist(name)
    if len(values) > 1:
        raise RportError(400, f"{name} given more than once")
    value = values[0] if values else ""
    if not isinstance(value, str):
        raise RportError(400, f"{name} must be a text field")
    return value.strip()


def _values(form: Any, name: str) -> list[str]:
    """A repeatable text field's values, trimmed, blanks dropped, each once (first place kept)."""
    values = [str(v).strip() for v in form.getlist(name) if not isinstance(v, UploadFile)]
    return list(dict.fromkeys(v for v in values if v))


@route("POST", "/files")
def files_post(ctx: Context) -> Response:
    form = ctx.form
    if not ctx.me.can(render.PERMISSIONS["uploads"]):
        raise RportError(403, 'user does not have "uploads" permission')
    unknown = sorted(set(form.keys()) - FIELDS)
    if unknown:
        raise RportError(400, f"unknown form field {unknown[0]!r}")
    upload = form.get("upload")
    if not isinstance(upload, UploadFile):
        raise RportError(400, "missing file in the 'upload' field")
    if _text(form, "tags"):
        raise RportError(400, "not implemented: tags targets; give client_id or group_id")
    client_ids = _values(form, "client_id")
    group_ids = _values(form, "group_id")
    if not client_ids and not group_ids:
        raise RportError(400, "at least 1 client should be specified")
    if len(group_ids) > MAX_GROUPS:
        raise RportError(400, f"at most {MAX_GROUPS} groups may be given")
    request = FilePutRequest(
        dest=_text(form, "dest"),
        mode=_text(form, "mode"),
        user=_text(form, "user"),
        group=_text(form, "group"),
        force=_flag(form, "force"),
        sync=_flag(form, "sync"),
        filename=upload.filename or "",
    )
    try:
        pushed = ctx.services.file_pushes.push(
            ctx.me, upload.file, request, computer_uids=client_ids, rule_groups=group_ids
        )
    except BadDestination as exc:
        raise RportError(400, exc.message, code="BAD_DESTINATION") from None
    return render.ok({"uuid": pushed.uuid, "filepath": pushed.dest, "size": pushed.size})


@route("GET", "/ws/uploads", auth=Auth.NONE, stub=True)
def ws_uploads(ctx: Context) -> Response:
    raise RportError(501, "not implemented: the upload progress websocket (/ws/uploads)")
