"""Package families, package groups and dependencies: the pages around the packages list.

Families (``/package-families``): rename, notes and licence count, delete (refused by core while
the family has packages). Package groups (``/package-groups``): create, rename, move, describe,
delete, and their members in order (add, move to a place, remove). A package's dependencies
(``/packages/{id}/dependencies``): the packages to install before it (core's plain rule; the
other opsi rules stay, and are listed). Each change is one core call (``packages.update_family``,
``delete_family``, ``create_group``, ``update_group``, ``delete_group``, ``add_to_group``,
``move_in_group``, ``remove_from_group``, ``set_dependencies``): core checks
``manage_packages``, writes the audit record and holds the rules; a refusal is shown next to
the field or button that caused it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleetdeck.core.authz import Perm
from fleetdeck.core.errors import Conflict, NotFound, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.web import group_forms
from fleetdeck.web.app import Call, WebUI

CHOICES = 1000  # packages offered by a select (as the deployment form)
MAX_NOTES = 10_000
REFUSED = (ValidationFailed, Conflict, NotFound)


_id = group_forms.positive_id


def _done(target: str, text: str) -> RedirectResponse:
    return RedirectResponse(f"{target}?{urlencode({'done': text})}", 303)


def routes(ui: WebUI) -> list[Route]:
    services = ui.services

    def package_choices(call: Call, also: tuple[int, ...] = ()) -> list[Any]:
        """Packages for a select, by family then newest first, plus ``also`` (chosen ones that
        may lie beyond the first ``CHOICES``)."""
        actor = call.user.actor
        sort = (SortKey("family_name"), SortKey("created_at", True))
        found = services.packages.find(actor, Query((), sort, CHOICES)).items
        missing = sorted(set(also) - {p.id for p in found})
        if missing:
            found += services.packages.find(actor, Query((Cond("id", Op.IN, missing),), sort, None)).items
        return found

    # ------------------------------------------------------------------ families

    def families(call: Call) -> Response:
        return ui.render(
            call,
            "package_families.html",
            families=sorted(services.packages.list_families(call.user.actor), key=lambda f: f.name.lower()),
            can_manage=call.user.can(Perm.MANAGE_PACKAGES),
            done=call.arg("done")[:80],
        )

    def family_page(call: Call, status: int = 200, **context: Any) -> Response:
        info = services.packages.get_family(call.user.actor, call.path_id("family_id"))
        context.setdefault(
            "form",
            {
                "name": info.name,
                "notes": info.notes,
                "license_count": "" if info.license_count is None else str(info.license_count),
            },
        )
        return ui.render(
            call,
            "package_family.html",
            status,
            f=info,
            can_manage=call.user.can(Perm.MANAGE_PACKAGES),
            done=call.arg("done")[:80],
            **context,
        )

    def show_family(call: Call) -> Response:
        return family_page(call)

    def update_family(call: Call) -> Response:
        family_id = call.path_id("family_id")
        form = {k: call.field(k) for k in ("name", "notes", "license_count")}
        errors: dict[str, str] = {}
        count_text = form["license_count"].strip()
        count = -1  # empty: no licence count (core stores None for a negative one)
        if count_text:
            if not count_text.isdigit() or len(count_text) > 9:
                errors["license_count"] = "The licence count is a whole number from 0, or empty for none."
            else:
                count = int(count_text)
        if len(form["notes"]) > MAX_NOTES:
            errors["notes"] = f"The notes are at most {MAX_NOTES} characters."
        if not errors:
            try:
                services.packages.update_family(
                    call.user.actor, family_id, name=form["name"], notes=form["notes"], license_count=count
                )
                return _done(f"/package-families/{family_id}", "saved")
            except ValidationFailed as exc:
                errors["name"] = str(exc)
        return family_page(call, 400, form=form, errors=errors)

    def delete_family(call: Call) -> Response:
        family_id = call.path_id("family_id")
        try:
            services.packages.delete_family(call.user.actor, family_id)
        except ValidationFailed as exc:
            return family_page(
                call, 409, errors={"delete": f"Not deleted: {exc}; delete its packages first."}
            )
        return _done("/package-families", "family deleted")

    # ------------------------------------------------------------------ groups

    def groups_page(call: Call, status: int = 200, **context: Any) -> Response:
        rows = services.packages.list_groups(call.user.actor, all_levels=True)
        context.setdefault("form", dict.fromkeys(group_forms.FIELDS, ""))
        return ui.render(
            call,
            "package_groups.html",
            status,
            groups=rows,
            names={g.id: g.name for g in rows},
            parents=group_forms.parents((g.id, g.name) for g in rows),
            can_manage=call.user.can(Perm.MANAGE_PACKAGES),
            done=call.arg("done")[:80],
            **context,
        )

    def show_groups(call: Call) -> Response:
        return groups_page(call)

    def create_group(call: Call) -> Response:
        errors: dict[str, str] = {}
        form = group_forms.read(call, errors)
        if not errors:
            try:
                g = services.packages.create_group(
                    call.user.actor,
                    form["name"],
                    parent_id=_id(form["parent"]),
                    description=form["description"].strip(),
                )
                return _done(f"/package-groups/{g.id}", "created")
            except REFUSED as exc:
                field, message = group_forms.refusal(exc)
                errors[field] = message
        return groups_page(call, 400, form=form, errors=errors)

    def group_page(call: Call, status: int = 200, **context: Any) -> Response:
        actor = call.user.actor
        group_id = call.path_id("group_id")
        info = services.packages.get_group(actor, group_id)
        members = services.packages.group_packages(actor, group_id)
        every = services.packages.list_groups(actor, all_levels=True)
        context.setdefault(
            "form",
            {"name": info.name, "parent": str(info.parent_id or ""), "description": info.description},
        )
        can_manage = call.user.can(Perm.MANAGE_PACKAGES)
        return ui.render(
            call,
            "package_group.html",
            status,
            g=info,
            members=members,
            names={g.id: g.name for g in every},
            subgroups=[g for g in every if g.parent_id == group_id],
            parents=group_forms.parents(((g.id, g.name) for g in every), group_id),
            choices=package_choices(call) if can_manage else [],
            member_ids={p.id for _, p in members},
            can_manage=can_manage,
            done=call.arg("done")[:80],
            **context,
        )

    def show_group(call: Call) -> Response:
        return group_page(call)

    def update_group(call: Call) -> Response:
        group_id = call.path_id("group_id")
        errors: dict[str, str] = {}
        form = group_forms.read(call, errors)
        if not errors:
            try:
                services.packages.update_group(
                    call.user.actor,
                    group_id,
                    name=form["name"],
                    description=form["description"].strip(),
                    parent_id=_id(form["parent"]),
                    move=True,
                )
                return _done(f"/package-groups/{group_id}", "saved")
            except REFUSED as exc:
                if isinstance(exc, NotFound) and exc.object_id == group_id:
                    raise
                field, message = group_forms.refusal(exc)
                errors[field] = message
        return group_page(call, 400, form=form, errors=errors)

    def delete_group(call: Call) -> Response:
        group_id = call.path_id("group_id")
        try:
            services.packages.delete_group(call.user.actor, group_id)
        except (Conflict, ValidationFailed) as exc:
            return group_page(call, 409, errors={"delete": f"Not deleted: {exc}."})
        return _done("/package-groups", "group deleted")

    def add_member(call: Call) -> Response:
        group_id = call.path_id("group_id")
        package_id = _id(call.field("package"))
        if package_id is None:
            return group_page(call, 400, errors={"package": "Choose a package to add."})
        try:
            services.packages.add_to_group(call.user.actor, group_id, package_id)
        except NotFound as exc:
            if exc.object_type != "package":
                raise
            return group_page(call, 400, errors={"package": f"The package {package_id} does not exist."})
        return _done(f"/package-groups/{group_id}", "package added")

    def move_member(call: Call) -> Response:
        group_id = call.path_id("group_id")
        package_id = call.path_id("package_id")
        place = _id(call.field("sequence"))
        if place is None:
            return group_page(call, 400, errors={"sequence": "The place is a whole number from 1."})
        services.packages.move_in_group(call.user.actor, group_id, package_id, place)
        return _done(f"/package-groups/{group_id}", "order saved")

    def remove_member(call: Call) -> Response:
        group_id = call.path_id("group_id")
        services.packages.remove_from_group(call.user.actor, group_id, call.path_id("package_id"))
        return _done(f"/package-groups/{group_id}", "package removed")

    # ------------------------------------------------------------------ dependencies

    def dependencies_page(call: Call, status: int = 200, **context: Any) -> Response:
        actor = call.user.actor
        detail = services.packages.get(actor, call.path_id("package_id"))
        p = detail.package
        can_manage = call.user.can(Perm.MANAGE_PACKAGES)
        required = (
            services.packages.find(
                actor, Query((Cond("id", Op.IN, list(p.depends_on)),), (SortKey("family_name"),), None)
            ).items
            if p.depends_on
            else []
        )
        context.setdefault("chosen", {str(i) for i in p.depends_on})
        return ui.render(
            call,
            "package_dependencies.html",
            status,
            p=p,
            required=required,
            choices=[c for c in package_choices(call, p.depends_on) if c.id != p.id] if can_manage else [],
            can_manage=can_manage,
            done=call.arg("done")[:80],
            **context,
        )

    def show_dependencies(call: Call) -> Response:
        return dependencies_page(call)

    def set_dependencies(call: Call) -> Response:
        package_id = call.path_id("package_id")
        given = call.fields("requires")
        ids = sorted({i for i in (_id(v) for v in given) if i is not None})
        if len(ids) != len(set(given)) or len(ids) > CHOICES:
            return dependencies_page(
                call, 400, chosen=set(given), errors={"requires": "Choose packages from the list."}
            )
        try:
            services.packages.set_dependencies(call.user.actor, package_id, ids)
        except (ValidationFailed, NotFound) as exc:
            if isinstance(exc, NotFound) and exc.object_id == package_id:
                raise
            message = (
                str(exc)
                if isinstance(exc, ValidationFailed)
                else f"The package {exc.object_id} does not exist."
            )
            return dependencies_page(call, 400, chosen=set(given), errors={"requires": message})
        return _done(f"/packages/{package_id}/dependencies", "saved")

    return [
        Route("/package-families", ui.endpoint(families), methods=["GET"]),
        Route("/package-families/{family_id:int}", ui.endpoint(show_family), methods=["GET"]),
        Route("/package-families/{family_id:int}", ui.endpoint(update_family), methods=["POST"]),
        Route("/package-families/{family_id:int}/delete", ui.endpoint(delete_family), methods=["POST"]),
        Route("/package-groups", ui.endpoint(show_groups), methods=["GET"]),
        Route("/package-groups", ui.endpoint(create_group), methods=["POST"]),
        Route("/package-groups/{group_id:int}", ui.endpoint(show_group), methods=["GET"]),
        Route("/package-groups/{group_id:int}", ui.endpoint(update_group), methods=["POST"]),
        Route("/package-groups/{group_id:int}/delete", ui.endpoint(delete_group), methods=["POST"]),
        Route("/package-groups/{group_id:int}/members", ui.endpoint(add_member), methods=["POST"]),
        Route(
            "/package-groups/{group_id:int}/members/{package_id:int}/move",
            ui.endpoint(move_member),
            methods=["POST"],
        ),
        Route(
            "/package-groups/{group_id:int}/members/{package_id:int}/remove",
            ui.endpoint(remove_member),
            methods=["POST"],
        ),
        Route("/packages/{package_id:int}/dependencies", ui.endpoint(show_dependencies), methods=["GET"]),
        Route("/packages/{package_id:int}/dependencies", ui.endpoint(set_dependencies), methods=["POST"]),
    ]
