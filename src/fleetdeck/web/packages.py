"""The package pages: the list (search, paging), a package's page, upload (a new package with
its payload), edit (procedures, options, a new payload), delete, and the package's properties.

Each change is one core call (``packages.create``/``update``/``delete``, ``properties.put``/
``delete``): core checks the permission, the fields and writes the audit record, as for
``/api/v1/packages``. The upload is a multipart form; the request body limit of ``/api/v1``
(``max_body_bytes``) applies to it as to every request, and ``static/upload.js`` shows its
progress and refuses a file that is too large before sending it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleetdeck.core.authz import Perm
from fleetdeck.core.errors import NotFound, ValidationFailed
from fleetdeck.core.packages.entities import PackageFields, PayloadFile
from fleetdeck.core.query import AnyOf, Cond, Expr, Op, Query, SortKey
from fleetdeck.core.settings.configs import Config
from fleetdeck.web.app import Call, WebUI

PAGE = 50
SEARCHED = ("family_name", "version", "description")
POST_ACTIONS = {0: "none", 1: "restart", 2: "shut down", 3: "restart the agent"}
UPGRADE_BEHAVIORS = {
    0: "keep the old version's record",
    1: "the installer replaces older versions",
    2: "uninstall older versions first",
}
TEXT_FIELDS = (
    "description",
    "install_procedure",
    "install_success_codes",
    "uninstall_procedure",
    "uninstall_success_codes",
    "compatible_os",
    "compatible_os_version",
    "compatible_architecture",
)
CHOICE_FIELDS = {
    "install_post_action": POST_ACTIONS,
    "uninstall_post_action": POST_ACTIONS,
    "upgrade_behavior": UPGRADE_BEHAVIORS,
}
# every field a package form shows; a core error naming another field is shown on the form
FORM_FIELDS = frozenset(
    {"family_name", "version", "package_version", "priority", "files", *TEXT_FIELDS, *CHOICE_FIELDS}
)
PROPERTY_FIELDS = frozenset({"key", "kind", "description", "possible_values", "default_values"})


def _like(text: str) -> str:
    return text if "*" in text else f"*{text}*"


def _files(call: Call) -> list[PayloadFile]:
    """The uploaded files (already within the request body limit); an empty file input is none."""
    if call.form is None:
        return []
    out = []
    for value in call.form.getlist("files"):
        if isinstance(value, UploadFile) and value.filename:
            value.file.seek(0)
            out.append(PayloadFile(value.filename, value.file.read()))
    return out


def _form(call: Call) -> dict[str, str]:
    names = ("family_name", "version", "package_version", "priority", *TEXT_FIELDS, *CHOICE_FIELDS)
    form = {name: call.field(name) for name in names}
    form["download_for_uninstall"] = "1" if call.field("download_for_uninstall") else ""
    return form


def _fields(form: dict[str, str], errors: dict[str, str]) -> PackageFields:
    """The form as core's ``PackageFields``; a choice or number that is not one is an error of
    its field (core checks the rest)."""
    values: dict[str, Any] = {name: form[name].replace("\r\n", "\n") for name in TEXT_FIELDS}
    for name, choices in CHOICE_FIELDS.items():
        text = form[name].strip()
        if not text.isdigit() or int(text) not in choices:
            errors[name] = "Choose one of the options."
        else:
            values[name] = int(text)
    priority = form["priority"].strip() or "0"
    try:
        values["priority"] = int(priority) if len(priority) < 6 else 1000
    except ValueError:
        values["priority"] = 1000
    if not -100 <= values["priority"] <= 100:
        errors["priority"] = "The priority is a whole number from -100 to 100."
    values["download_for_uninstall"] = bool(form["download_for_uninstall"])
    return PackageFields(**values)


def _error_field(exc: ValidationFailed, fallback: str, known: frozenset[str] = FORM_FIELDS) -> str:
    return exc.field if exc.field in known else fallback


def _lines(text: str, kind: str, errors: dict[str, str], name: str) -> list[Any]:
    values = [line.strip() for line in text.splitlines() if line.strip()]
    if kind != "bool":
        return values
    if any(v.lower() not in ("true", "false") for v in values):
        errors[name] = "The values of a yes/no property are true or false, one per line."
        return []
    return [v.lower() == "true" for v in values]


def routes(ui: WebUI) -> list[Route]:
    services = ui.services

    def blank() -> dict[str, str]:
        form = {name: "" for name in ("family_name", "version", "priority", *TEXT_FIELDS)}
        form |= {"package_version": "1", "install_success_codes": "0", "uninstall_success_codes": "0"}
        form |= {name: "0" for name in CHOICE_FIELDS} | {"download_for_uninstall": ""}
        return form

    def render_form(call: Call, status: int = 200, **context: Any) -> Response:
        call.user.actor.require(Perm.MANAGE_PACKAGES)  # a viewer gets "not allowed", not a form
        context.setdefault("form", blank())
        return ui.render(
            call,
            "package_form.html",
            status,
            post_actions=POST_ACTIONS,
            upgrade_behaviors=UPGRADE_BEHAVIORS,
            max_upload=ui.max_upload_bytes,
            **context,
        )

    # ------------------------------------------------------------------ list

    def listing(call: Call) -> Response:
        q = call.arg("q").strip()[:150]
        page_no = call.page_number()
        where: list[Expr] = []
        if q:
            where.append(AnyOf(tuple(Cond(f, Op.LIKE, _like(q)) for f in SEARCHED)))
        page = services.packages.find(
            call.user.actor,
            Query(
                tuple(where),
                (SortKey("family_name"), SortKey("created_at", True), SortKey("id", True)),
                PAGE,
                (page_no - 1) * PAGE,
            ),
        )
        pages = max(1, -(-page.total // PAGE))

        def url(page: int) -> str:
            kept = {k: v for k, v in (("q", q), ("page", page)) if v not in ("", 1)}
            return "/packages" + (f"?{urlencode(kept)}" if kept else "")

        return ui.render(
            call,
            "packages_table.html" if call.htmx else "packages.html",
            packages=page.items,
            total=page.total,
            q=q,
            page=page_no,
            pages=pages,
            url=url,
            can_manage=call.user.can(Perm.MANAGE_PACKAGES),
            can_deploy=call.user.can(Perm.DEPLOY),
        )

    # ------------------------------------------------------------------ upload (create)

    def new_package(call: Call) -> Response:
        return render_form(call)

    def create(call: Call) -> Response:
        form = _form(call)
        errors: dict[str, str] = {}
        for name, message in (
            ("family_name", "Enter the package's name."),
            ("version", "Enter its version."),
            ("install_procedure", "Enter the command that installs it."),
        ):
            if not form[name].strip():
                errors[name] = message
        if not form["package_version"].strip():
            errors["package_version"] = "Enter the package version (1 for the first build)."
        fields = _fields(form, errors)
        if not errors:
            try:
                info = services.packages.create(
                    call.user.actor,
                    form["family_name"],
                    form["version"],
                    fields,
                    package_version=form["package_version"].strip(),
                    files=_files(call),
                )
                return RedirectResponse(f"/packages/{info.id}?done=created", 303)
            except ValidationFailed as exc:
                errors[_error_field(exc, "family_name")] = str(exc)
        return render_form(call, 400, form=form, errors=errors)

    # ------------------------------------------------------------------ one package

    def detail(call: Call, status: int = 200, **context: Any) -> Response:
        actor = call.user.actor
        package_id = call.path_id("package_id")
        found = services.packages.get(actor, package_id)
        props = services.properties.find(actor, [package_id])
        context.setdefault("prop_form", {"kind": "str"})
        return ui.render(
            call,
            "package.html",
            status,
            detail=found,
            p=found.package,
            properties=[p.prop for p in props],
            post_actions=POST_ACTIONS,
            upgrade_behaviors=UPGRADE_BEHAVIORS,
            can_manage=call.user.can(Perm.MANAGE_PACKAGES),
            can_deploy=call.user.can(Perm.DEPLOY),
            done=call.arg("done")[:80],
            **context,
        )

    def show(call: Call) -> Response:
        return detail(call)

    def edit(call: Call) -> Response:
        found = services.packages.get(call.user.actor, call.path_id("package_id")).package
        form = {
            name: str(getattr(found, name) or "") for name in (*TEXT_FIELDS, "version", "package_version")
        }
        form |= {name: str(getattr(found, name)) for name in (*CHOICE_FIELDS, "priority")}
        form |= {
            "family_name": found.family_name,
            "download_for_uninstall": "1" if found.download_for_uninstall else "",
        }
        return render_form(call, package=found, form=form)

    def update(call: Call) -> Response:
        package_id = call.path_id("package_id")
        form = _form(call)
        errors: dict[str, str] = {}
        for name in ("version", "package_version", "install_procedure"):
            if not form[name].strip():
                errors[name] = "This field is required."
        fields = _fields(form, errors)
        files = _files(call)
        if not errors:
            try:
                services.packages.update(
                    call.user.actor,
                    package_id,
                    fields,
                    version=form["version"],
                    package_version=form["package_version"],
                    files=files or None,  # no file chosen: the payload stays
                )
                return RedirectResponse(f"/packages/{package_id}?done=saved", 303)
            except ValidationFailed as exc:
                errors[_error_field(exc, "version")] = str(exc)
        found = services.packages.get(call.user.actor, package_id).package
        return render_form(call, 400, package=found, form=form, errors=errors)

    def delete(call: Call) -> Response:
        package_id = call.path_id("package_id")
        try:
            services.packages.delete(call.user.actor, package_id, force=call.field("force") == "1")
        except ValidationFailed as exc:
            return detail(call, 400, errors={"delete": str(exc)})
        return RedirectResponse("/packages?deleted=1", 303)

    # ------------------------------------------------------------------ properties

    def put_property(call: Call) -> Response:
        package_id = call.path_id("package_id")
        form = {name: call.field(name) for name in PROPERTY_FIELDS}
        form |= {"editable": call.field("editable"), "multi_value": call.field("multi_value")}
        errors: dict[str, str] = {}
        key = form["key"].strip()
        if not key:
            errors["key"] = "Enter the property's key."
        kind = form["kind"] if form["kind"] in ("str", "bool") else ""
        if not kind:
            errors["kind"] = "Choose text or yes/no."
        possible = _lines(form["possible_values"], kind, errors, "possible_values")
        default = _lines(form["default_values"], kind, errors, "default_values")
        if not errors:
            prop = Config(
                key=key,
                kind=kind,
                description=form["description"].strip(),
                possible_values=possible,
                default_values=default,
                editable=bool(form["editable"]),
                multi_value=bool(form["multi_value"]),
            )
            try:
                services.properties.put(call.user.actor, package_id, prop)
                return RedirectResponse(
                    f"/packages/{package_id}?{urlencode({'done': f'property {key} saved'})}#properties", 303
                )
            except ValidationFailed as exc:
                errors[_error_field(exc, "key", PROPERTY_FIELDS)] = str(exc)
        return detail(call, 400, prop_form=form, prop_errors=errors)

    def delete_property(call: Call) -> Response:
        package_id = call.path_id("package_id")
        key = call.field("key")
        if not services.properties.delete(call.user.actor, package_id, key):
            raise NotFound("package property", key)
        return RedirectResponse(
            f"/packages/{package_id}?{urlencode({'done': f'property {key} deleted'})}#properties", 303
        )

    return [
        Route("/packages", ui.endpoint(listing), methods=["GET"]),
        Route("/packages", ui.endpoint(create), methods=["POST"]),
        Route("/packages/new", ui.endpoint(new_package), methods=["GET"]),
        Route("/packages/{package_id:int}", ui.endpoint(show), methods=["GET"]),
        Route("/packages/{package_id:int}", ui.endpoint(update), methods=["POST"]),
        Route("/packages/{package_id:int}/edit", ui.endpoint(edit), methods=["GET"]),
        Route("/packages/{package_id:int}/delete", ui.endpoint(delete), methods=["POST"]),
        Route("/packages/{package_id:int}/properties", ui.endpoint(put_property), methods=["POST"]),
        Route("/packages/{package_id:int}/properties/delete", ui.endpoint(delete_property), methods=["POST"]),
    ]
