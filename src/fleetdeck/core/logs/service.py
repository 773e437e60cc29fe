"""Client logs: text logs that managed computers (or admins) write per log type and object, e.g.
an installer's log per computer. Files under ``<data dir>/logs/<type>/<object id>.log``.

Names are checked against strict patterns and the final path must stay inside the type's
directory, so no input reaches outside it. A write replaces the file (the previous one is kept
as ``.log.1``) or appends; a file never grows beyond ``max_bytes`` (the oldest lines go).
Writing needs ``MANAGE_COMPUTERS``, or being the computer the log belongs to.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import ValidationFailed

TYPE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
# At most 247 characters: the file name, up to "<object id>.log.tmp", must fit the 255 bytes
# file systems allow (a longer id made the write fail with an OSError instead of a clear error).
OBJECT_RE = re.compile(r"^[a-z0-9][a-z0-9\-_. ]{0,246}$")
MAX_BYTES = 10_000_000
ROTATE_ABOVE = 5_000_000


def _cut(data: bytes, limit: int) -> bytes:
    """The last ``limit`` bytes, starting after a newline where there is one."""
    if len(data) <= limit:
        return data
    tail = data[-limit:]
    nl = tail.find(b"\n")
    return tail[nl + 1 :] if 0 <= nl < len(tail) - 1 else tail


class ClientLogService:
    def __init__(self, audit: AuditLog, root: Path | None) -> None:
        self._audit = audit
        self._root = root or Path(tempfile.gettempdir()) / "fleetdeck-logs"
        self._lock = threading.Lock()

    def path(self, log_type: str, object_id: str) -> Path:
        if not TYPE_RE.match(log_type):
            raise ValidationFailed(f"invalid log type {log_type!r}", field="log_type")
        if not OBJECT_RE.match(object_id) or ".." in object_id:
            raise ValidationFailed(f"invalid object id {object_id!r}", field="object_id")
        base = (self._root / log_type).resolve()
        path = (base / f"{object_id}.log").resolve()
        if path.parent != base:
            raise ValidationFailed(f"invalid object id {object_id!r}", field="object_id")
        return path

    def read(self, actor: Actor, log_type: str, object_id: str, max_size: int = 0) -> str:
        """The log as text ("" when there is none); ``max_size`` > 0 keeps its last characters."""
        actor.require(Perm.READ)
        path = self.path(log_type, object_id)
        try:
            text = path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        if max_size > 0 and len(text) > max_size:
            text = text[-max_size:]
            nl = text.find("\n")
            text = text[nl + 1 :] if 0 <= nl < len(text) - 1 else text
        return text

    def write(
        self,
        actor: Actor,
        log_type: str,
        object_id: str,
        data: str,
        *,
        append: bool = False,
        computer_id: int | None = None,
    ) -> None:
        path = self.path(log_type, object_id)
        own = actor.computer_id is not None and actor.computer_id == computer_id
        perm = None if own else Perm.MANAGE_COMPUTERS
        with self._audit.mutation(
            actor, "client_log.write", "client_log", f"{log_type}/{object_id}", perm=perm
        ) as m:
            raw = _cut(data.encode("utf-8"), MAX_BYTES)
            m.detail = {"bytes": len(raw), "append": append}
            with self._lock:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
                old = path.read_bytes() if append and path.exists() else b""
                if append and len(old) + len(raw) <= ROTATE_ABOVE:
                    raw = old + raw
                elif path.exists():
                    os.replace(path, path.with_suffix(".log.1"))
                tmp = path.with_suffix(".log.tmp")
                tmp.write_bytes(raw)
                os.replace(tmp, path)
