"""Computer groups: the tree (parents and children as core keeps them), create, rename, move,
delete, and members added or removed.

Each change is one core call (``groups.create``/``update``/``delete``/``add_members``/
``remove_members``): core checks ``manage_computers`` and writes the audit record, as for
``/api/v1/groups``. The tree is drawn from one ``groups.find`` (every computer group with its
member count); the UI only arranges it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleetdeck.core.authz import Perm
from fleetdeck.core.errors import Conflict, NotFound, ValidationFailed
from fleetdeck.core.groups.service import GroupInfo
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.web.app import Call, WebUI

MEMBERS_PAGE = 50
MAX_NAMES = 1000  # host names per "add members" form


@dataclass(frozen=True, slots=True)
class Node:
    group: GroupInfo
    depth: int


def tree(groups: list[GroupInfo]) -> list[Node]:
    """Groups in tree order (each parent before its children, siblings by name), with depth.
    A group whose parent is not in the list shows at the top."""
    ids = {g.id for g in groups}
    children: dict[int | None, list[GroupInfo]] = {}
    for g in groups:
        children.setdefault(g.parent_id if g.parent_id in ids else None, []).append(g)

    def walk(parent: int | None, depth: int) -> Iterator[Node]:
        for g in sorted(children.get(parent, []), key=lambda x: (x.name.casefold(), x.id)):
            yield Node(g, depth)
            yield from walk(g.id, depth + 1)

    return list(walk(None, 0))


def _below(nodes: list[Node], group_id: int) -> set[int]:
    """The group and every group below it (not valid as its new parent)."""
    out, inside, level = set(), False, 0
    for n in nodes:
        if n.group.id == group_id:
            inside, level = True, n.depth
            out.add(n.group.id)
        elif inside and n.depth > level:
            out.add(n.group.id)
        elif inside:
            inside = False
    return out


def _parent(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < len(text) < 19 else None


def read_form(call: Call, errors: dict[str, str]) -> dict[str, str]:
    """The create and the edit form (name, parent, description); errors by field."""
    form = {k: call.field(k).strip() for k in ("name", "parent", "description")}
    if not form["name"]:
        errors["name"] = "Enter a name."
    elif len(form["name"]) > 255:
        errors["name"] = "The name is at most 255 characters."
    if len(form["description"]) > 2000:
        errors["description"] = "The description is at most 2000 characters."
    if form["parent"] and _parent(form["parent"]) is None:
        errors["parent"] = "Choose a parent group from the list."
    return form


def _ids(values: list[str]) -> list[int]:
    return sorted({int(v) for v in values if v.isdigit() and 0 < len(v) < 19})[:MAX_NAMES]


def routes(ui: WebUI) -> list[Route]:
    services = ui.services

    def all_groups(call: Call) -> list[Node]:
        return tree(services.groups.find(call.user.actor, Query(sort=(SortKey("name"),), limit=None)).items)

    def groups_page(call: Call, status: int = 200, **context: Any) -> Response:
        context.setdefault("form", {"name": "", "parent": call.arg("parent"), "description": ""})
        nodes = all_groups(call)
        kids: dict[int | None, list[Node]] = {}
        for n in nodes:  # tree order: each list of children comes out sorted
            kids.setdefault(n.group.parent_id if n.depth else None, []).append(n)
        return ui.render(
            call,
            "groups.html",
            status,
            nodes=nodes,
            kids=kids,
            can_edit=call.user.can(Perm.MANAGE_COMPUTERS),
            done=call.arg("done"),
            **context,
        )

    def show_groups(call: Call) -> Response:
        return groups_page(call)

    def create_group(call: Call) -> Response:
        errors: dict[str, str] = {}
        form = read_form(call, errors)
        if not errors:
            try:
                g = services.groups.create(
                    call.user.actor,
                    form["name"],
                    parent_id=_parent(form["parent"]),
                    description=form["description"],
                )
                return RedirectResponse(f"/groups/{g.id}?{urlencode({'done': 'created'})}", 303)
            except ValidationFailed as exc:
                errors["name"] = str(exc)
            except Conflict as exc:
                errors["name"] = str(exc)
            except NotFound:
                errors["parent"] = "That parent group no longer exists."
        return groups_page(call, 400, form=form, errors=errors)

    def group_page(call: Call, group_id: int, status: int = 200, **context: Any) -> Response:
        actor = call.user.actor
        group = services.groups.get(actor, group_id)
        nodes = all_groups(call)
        page_no = call.page_number()
        members = services.computers.find(
            actor,
            Query(
                (Cond("group_ids", Op.CONTAINS, group_id),),
                (SortKey("hostname"), SortKey("id")),
                MEMBERS_PAGE,
                (page_no - 1) * MEMBERS_PAGE,
            ),
        )
        by_id = {n.group.id: n.group for n in nodes}
        trail: list[GroupInfo] = []
        cursor = group.parent_id
        while cursor is not None and cursor in by_id and len(trail) < 64:
            trail.insert(0, by_id[cursor])
            cursor = by_id[cursor].parent_id
        context.setdefault(
            "form",
            {"name": group.name, "parent": str(group.parent_id or ""), "description": group.description},
        )
        return ui.render(
            call,
            "group.html",
            status,
            g=group,
            trail=trail,
            children=[n.group for n in nodes if n.group.parent_id == group_id],
            parents=[n for n in nodes if n.group.id not in _below(nodes, group_id)],
            members=members.items,
            total=members.total,
            page=page_no,
            pages=max(1, -(-members.total // MEMBERS_PAGE)),
            can_edit=call.user.can(Perm.MANAGE_COMPUTERS),
            done=call.arg("done"),
            **context,
        )

    def show_group(call: Call) -> Response:
        return group_page(call, call.path_id("group_id"))

    def update_group(call: Call) -> Response:
        group_id = call.path_id("group_id")
        errors: dict[str, str] = {}
        form = read_form(call, errors)
        if not errors:
            try:
                services.groups.update(
                    call.user.actor,
                    group_id,
                    name=form["name"],
                    description=form["description"],
                    parent_id=_parent(form["parent"]),
                    move=True,
                )
                return RedirectResponse(f"/groups/{group_id}?{urlencode({'done': 'saved'})}", 303)
            except ValidationFailed as exc:
                errors["parent" if exc.field == "parent_id" else "name"] = str(exc)
            except Conflict as exc:
                errors["name"] = str(exc)
            except NotFound as exc:
                if exc.object_id == group_id:
                    raise
                errors["parent"] = "That parent group no longer exists."
        return group_page(call, group_id, 400, form=form, errors=errors)

    def delete_group(call: Call) -> Response:
        group_id = call.path_id("group_id")
        try:
            services.groups.delete(call.user.actor, group_id)
        except Conflict as exc:
            return group_page(call, group_id, 409, delete_error=str(exc))
        return RedirectResponse(f"/groups?{urlencode({'done': 'deleted'})}", 303)

    def add_members(call: Call) -> Response:
        """Host names, one per line (or separated by spaces or commas), read with one query."""
        group_id = call.path_id("group_id")
        actor = call.user.actor
        text = call.field("hostnames")
        wanted = [n for n in text.replace(",", " ").split() if n][: MAX_NAMES + 1]
        errors: dict[str, str] = {}
        if not wanted:
            errors["hostnames"] = "Enter the names of the computers to add."
        elif len(wanted) > MAX_NAMES:
            errors["hostnames"] = f"At most {MAX_NAMES} names at a time."
        if not errors:
            found = services.computers.find(
                actor, Query((Cond("hostname", Op.IN, wanted),), limit=None)
            ).items
            known = {c.hostname.casefold() for c in found}
            missing = [n for n in wanted if n.casefold() not in known]
            if missing:
                shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
                errors["hostnames"] = f"No computer is named {shown}."
            else:
                added = services.groups.add_members(actor, group_id, [c.id for c in found])
                word = f"added {len(added)} computer{'' if len(added) == 1 else 's'}"
                return RedirectResponse(f"/groups/{group_id}?{urlencode({'done': word})}", 303)
        return group_page(call, group_id, 400, errors=errors, hostnames=text[:20_000])

    def remove_members(call: Call) -> Response:
        group_id = call.path_id("group_id")
        ids = _ids(call.fields("computer"))
        if not ids:
            return group_page(call, group_id, 400, remove_error="Choose the computers to remove.")
        services.groups.remove_members(call.user.actor, group_id, ids)
        word = f"removed {len(ids)} computer{'' if len(ids) == 1 else 's'}"
        return RedirectResponse(f"/groups/{group_id}?{urlencode({'done': word})}", 303)

    return [
        Route("/groups", ui.endpoint(show_groups), methods=["GET"]),
        Route("/groups", ui.endpoint(create_group), methods=["POST"]),
        Route("/groups/{group_id:int}", ui.endpoint(show_group), methods=["GET"]),
        Route("/groups/{group_id:int}", ui.endpoint(update_group), methods=["POST"]),
        Route("/groups/{group_id:int}/delete", ui.endpoint(delete_group), methods=["POST"]),
        Route("/groups/{group_id:int}/members", ui.endpoint(add_members), methods=["POST"]),
        Route("/groups/{group_id:int}/members/remove", ui.endpoint(remove_members), methods=["POST"]),
    ]
