"""Names to ids: a computer by id or host name, a group by id or name. One request per kind
however many are named (``filter[..][iin]``), so a command on 500 hosts is not 500 look-ups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer

from fleetdeck.cli.remote.client import Remote, fail
from fleetdeck.cli.remote.config import usage_error

ComputerRefs = Annotated[
    list[str] | None, typer.Option("--computer", "-c", help="Computer id or host name (repeatable).")
]
GroupRefs = Annotated[list[str] | None, typer.Option("--group", "-g", help="Group id or name (repeatable).")]


def _ids(remote: Remote, path: str, field: str, refs: Sequence[str], what: str) -> list[int]:
    ids = [int(r) for r in refs if r.isdigit()]
    names = [r for r in refs if not r.isdigit()]
    if names:
        rows = remote.get(path, **{f"filter[{field}][iin]": ",".join(names), "page[limit]": 1000})["data"]
        found: dict[str, list[int]] = {}
        for row in rows:
            found.setdefault(str(row[field]).lower(), []).append(int(row["id"]))
        for name in names:
            hits = found.get(name.lower(), [])
            if not hits:
                fail(f"no {what} named {name!r}")
            if len(hits) > 1:
                fail(f"{len(hits)} {what}s are named {name!r} (ids {', '.join(map(str, hits))}): give the id")
            ids.append(hits[0])
    return list(dict.fromkeys(ids))


def computer_ids(remote: Remote, refs: Sequence[str]) -> list[int]:
    return _ids(remote, "/computers", "hostname", refs, "computer")


def group_ids(remote: Remote, refs: Sequence[str]) -> list[int]:
    return _ids(remote, "/groups", "name", refs, "group")


def one(ids: list[int]) -> int:
    assert len(ids) == 1
    return ids[0]


def hostnames(remote: Remote, ids: Sequence[int]) -> dict[int, str]:
    """Host names of these computers, in pages of 1000 ids."""
    names: dict[int, str] = {}
    unique = sorted(set(ids))
    for start in range(0, len(unique), 1000):
        part = unique[start : start + 1000]
        rows: list[dict[str, Any]] = remote.get(
            "/computers", **{"filter[id][in]": ",".join(map(str, part)), "page[limit]": 1000}
        )["data"]
        names.update({int(r["id"]): str(r["hostname"]) for r in rows})
    return names


def targets(
    remote: Remote, computers: list[str] | None, groups: list[str] | None
) -> tuple[list[int], list[int]]:
    """The computer and group ids of ``--computer`` and ``--group`` (at least one is needed)."""
    if not computers and not groups:
        usage_error("name at least one --computer or --group")
    return computer_ids(remote, computers or []), group_ids(remote, groups or [])
