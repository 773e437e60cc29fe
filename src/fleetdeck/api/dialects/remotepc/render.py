"""Core values in RemotePC's shapes: the success envelope, pagination, users and devices.
Every value in a device is a string, as RemotePC sends them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fleetdeck.core.computers.by_name import CommentInfo
from fleetdeck.core.computers.entities import ComputerRow
from fleetdeck.core.people.entities import EndUserInfo

SUCCESS = "SUCCESS"
FAMILIES = {"windows": "Windows", "linux": "Linux", "macos": "Mac", "darwin": "Mac"}


def ok(message: Any) -> dict[str, Any]:
    return {"status": "OK", "code": 200, "message": message}


def pagination(per_page: int, total: int, index: int) -> dict[str, int]:
    return {
        "records_per_page": per_page,
        "total_records": total,
        "total_page_count": math.ceil(total / per_page) if per_page else 0,
        "current_page_index": index,
    }


def user(u: EndUserInfo) -> dict[str, str]:
    return {"firstname": u.first_name, "username": u.email, "lastname": u.last_name}


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def device(c: ComputerRow, comment: CommentInfo | None) -> dict[str, str]:
    family = FAMILIES.get(c.os_family.lower(), c.os_family or c.os)
    return {
        "machine_id": c.uid,
        "host_name": c.hostname,
        "host_os_version": c.os_version,
        "host_ip": c.remote_address,
        # fleetdeck has no viewer sessions yet: the time the computer was last seen
        "viewer_last_session_time": _time(c.last_seen),
        "comments": comment.text if comment else "",
        "host_os_text": family,
        "host_status_text": "Online" if c.online else "Offline",
    }


def statuses(done: Mapping[str, bool]) -> dict[str, str]:
    return {address: "SUCCESS" if ok_ else "FAILED" for address, ok_ in done.items()}
