"""``cmdb.logbook.read`` / ``cmdb.logbook.create``: i-doit's logbook over core's audit log.

Every change of an object or of its entries is already audited with old and new values;
the logbook shows those rows in i-doit's shape (events ``C__LOGBOOK_EVENT__*``, changes keyed
``category::attribute`` with ``from``/``to``). A written message is a line of its own, with
i-doit's sources and alert levels."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fleetdeck.api.dialects.idoit import render
from fleetdeck.api.dialects.idoit.errors import Code, IdoitError
from fleetdeck.api.dialects.idoit.registry import METHODS, Context
from fleetdeck.api.dialects.idoit.schemas import numeric, record_status, required
from fleetdeck.core.cmdb.values import LogbookEntry

SOURCES = {
    "C__LOGBOOK_SOURCE__INTERNAL": (1, "Internal"),
    "C__LOGBOOK_SOURCE__EXTERNAL": (2, "External"),
    "C__LOGBOOK_SOURCE__USER": (3, "Manual entries"),
    "C__LOGBOOK_SOURCE__ALL": (4, "All!"),
    "C__LOGBOOK_SOURCE__RT": (1001, "RT Ticket"),
    "C__LOGBOOK_SOURCE__JDISC": (1004, "JDisc Import"),
    "C__LOGBOOK_SOURCE__IMPORT": (1005, "Import"),
}
SOURCE_BY_ID = {sid: (const, title) for const, (sid, title) in SOURCES.items()}
LEVELS = {f"C__LOGBOOK__ALERT_LEVEL__{n}": n + 1 for n in range(4)}
# What a written line comes from when the request names no source: an outside system.
DEFAULT_SOURCE = "C__LOGBOOK_SOURCE__EXTERNAL"
EVENTS = {
    "cmdb_object.create": "C__LOGBOOK_EVENT__OBJECT_CREATED",
    "cmdb_object.archive": "C__LOGBOOK_EVENT__OBJECT_ARCHIVED",
    "cmdb_object.delete": "C__LOGBOOK_EVENT__OBJECT_DELETED",
    "cmdb_object.recycle": "C__LOGBOOK_EVENT__OBJECT_RECYCLED",
    "cmdb_object.purge": "C__LOGBOOK_EVENT__OBJECT_PURGED",
    "cmdb_entry.save": "C__LOGBOOK_EVENT__CATEGORY_CHANGED",
    "cmdb_entry.archive": "C__LOGBOOK_EVENT__CATEGORY_ARCHIVED",
    "cmdb_entry.delete": "C__LOGBOOK_EVENT__CATEGORY_DELETED",
    "cmdb_entry.retire": "C__LOGBOOK_EVENT__CATEGORY_DELETED",
    "cmdb_entry.recycle": "C__LOGBOOK_EVENT__CATEGORY_RECYCLED",
    "cmdb_entry.purge": "C__LOGBOOK_EVENT__CATEGORY_PURGED",
}
OTHER_EVENT = "C__LOGBOOK_EVENT__OBJECT_CHANGED"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$")


def _since(value: Any) -> datetime | None:
    """``since``: a Unix time (number or digits) or a date ``Y-m-d[ H:i[:s]]`` (UTC); the
    rest of PHP's ``strtotime`` vocabulary ("yesterday") is refused with a clear error."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        if _DATE.match(text):
            try:
                return datetime.fromisoformat(text).replace(tzinfo=UTC)
            except ValueError:
                pass
    raise IdoitError(
        Code.INVALID_PARAMS,
        f"Parameter since has to be a Unix timestamp or a date 'Y-m-d H:i:s': {value!r}.",
    )


def _choice(value: Any, table: dict[str, int], name: str, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip() in table:
        return table[value.strip()]
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip().isdigit():
        number = int(str(value).strip())
        if number in table.values():
            return number
    raise IdoitError(Code.INVALID_PARAMS, f"Parameter {name} is not a known {name}: {value!r}.")


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise IdoitError(Code.INVALID_PARAMS, f"Parameter {name} has to be a string.")
    return value


def _line(e: LogbookEntry) -> dict[str, Any]:
    written = e.message is not None
    const, title = SOURCE_BY_ID.get(e.source or 1, SOURCE_BY_ID[1])
    return {
        "logbook_id": str(e.id),
        "logbook_catg_id": str(e.id),
        "comment": e.comment,
        "description": e.description,
        "changes": {k: {"from": old, "to": new} for k, (old, new) in e.changes.items()},
        "date": render.when(e.at),
        "username": e.username,
        "event": e.message if written else EVENTS.get(e.action, OTHER_EVENT),
        "object_id": str(e.object_id),
        "object_title": e.object_title,
        "object_title_static": e.object_title,
        "source": title,
        "source_constant": const,
        "level_id": str(e.level),
    }


@METHODS.method("cmdb.logbook.read")
def logbook_read(
    ctx: Context,
    id: Any = None,
    object_id: Any = None,
    catg_logbook_id: Any = None,
    since: Any = None,
    status: Any = None,
    limit: Any = None,
) -> list[dict[str, Any]]:
    """Logbook lines, newest first (at most ``limit``, default 1000): all, one (``id`` or
    ``catg_logbook_id``), one object's, those ``since`` a time, those of objects in ``status``."""
    line = id if id is not None else catg_logbook_id
    count = 1000 if limit is None or limit == "" else numeric(limit, "limit")
    entries = ctx.services.cmdb.logbook(
        ctx.actor,
        entry_id=numeric(line, "id") if line is not None else None,
        object_id=numeric(object_id, "object_id") if object_id is not None else None,
        since=_since(since),
        status=record_status(status) if status is not None else None,
        limit=count,
    )
    return [_line(e) for e in entries]


@METHODS.method("cmdb.logbook.create")
def logbook_create(
    ctx: Context,
    object_id: Any = None,
    object_ids: Any = None,
    message: Any = None,
    description: Any = None,
    comment: Any = None,
    source: Any = None,
    alert_level: Any = None,
) -> dict[str, Any]:
    """Write ``message`` into the logbook of ``object_id`` (or each of ``object_ids``, a list
    or a comma-separated string)."""
    if object_ids is not None:
        refs = object_ids.split(",") if isinstance(object_ids, str) else object_ids
        if not isinstance(refs, list) or not refs:
            raise IdoitError(Code.INVALID_PARAMS, "Parameter object_ids has to be a list of object ids.")
        ids = [numeric(r.strip() if isinstance(r, str) else r, "object_ids") for r in refs]
    else:
        ids = [numeric(required(object_id, "object_id"), "object_id")]
    text = _text(required(message, "message"), "message")
    if not text.strip():
        raise IdoitError(Code.INVALID_PARAMS, "Parameter message must not be empty.")
    sources = {const: sid for const, (sid, _) in SOURCES.items()}
    lines = ctx.services.cmdb.log(
        ctx.actor,
        ids,
        text,
        description=_text(description, "description"),
        comment=_text(comment, "comment"),
        source=_choice(source, sources, "source", sources[DEFAULT_SOURCE]),
        level=_choice(alert_level, LEVELS, "alert_level", 1),
    )
    return {"success": True, "id": lines[-1], "message": "Logbook entry/entries successfully created."}
