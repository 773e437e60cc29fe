"""Packages, package families, package groups and installation records."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.responses import FileResponse

from fleetdeck.api.kit.opsi_package import OpsiPackageError, read_opsi_package
from fleetdeck.api.v1.deps import CurrentActor, ServicesDep
from fleetdeck.api.v1.listing import SYNTAX, ListQuery
from fleetdeck.api.v1.schemas.common import Data, DataList, IdPath, IdQuery, data_list, errors
from fleetdeck.api.v1.schemas.packages import (
    FamilyOut,
    FamilyUpdate,
    ImportOut,
    InstallationCreate,
    InstallationOut,
    MemberIn,
    MemberOut,
    NotRunOut,
    OpsiImportIn,
    PackageCreate,
    PackageDetailOut,
    PackageGroupCreate,
    PackageGroupOut,
    PackageGroupUpdate,
    PackageOut,
    PackageUpdate,
    decode_files,
)
from fleetdeck.core.errors import ValidationFailed
from fleetdeck.core.packages.entities import PackageImport

router = APIRouter(tags=["packages"], responses=errors(401, 403, 422))


@router.get(
    "/packages",
    description="Packages (fields: id, family_id, version, package_version, description, upgrade_behavior, "
    "created_at, created_by, updated_at).\n" + SYNTAX,
)
def list_packages(query: ListQuery, actor: CurrentActor, services: ServicesDep) -> DataList[PackageOut]:
    page = services.packages.find(actor, query)
    return data_list([PackageOut.model_validate(p) for p in page.items], page.total)


@router.post("/packages", status_code=201, responses=errors(404))
def create_package(body: PackageCreate, actor: CurrentActor, services: ServicesDep) -> Data[PackageOut]:
    """Files travel base64-encoded in JSON (the request body limit applies: ``max_body_bytes``).
    A duplicate family + version (+ package version) is a 422 with reason
    ``package_exists_with_version``."""
    package = services.packages.create(
        actor,
        body.family_name,
        body.version,
        body.fields(),
        package_version=body.package_version,
        files=decode_files(body.files) or [],
        depends_on=body.depends_on,
    )
    return Data(data=PackageOut.model_validate(package))


@router.post("/packages/import-opsi", status_code=201)
def import_opsi_package(body: OpsiImportIn, actor: CurrentActor, services: ServicesDep) -> Data[ImportOut]:
    """Imports an opsi package file (``.opsi``, as opsi-makepackage builds it: tar or cpio,
    ``OPSI/control.toml`` or ``OPSI/control``, ``CLIENT_DATA``): the package with its properties,
    dependency rules and CLIENT_DATA as payload. The same product, version and package version
    is replaced. A file that is no importable opsi package is a 422 with reason
    ``invalid_package_archive`` and a message saying what is wrong."""

    def read() -> PackageImport:  # run by core after its permission check
        (archive,) = decode_files([body.file]) or []
        try:
            return read_opsi_package(
                archive.content,
                property_defaults=dict(body.property_defaults or {}),
                force_product_id=body.force_product_id,
                name=archive.name,
            )
        except OpsiPackageError as exc:
            raise ValidationFailed(str(exc), field="file", reason="invalid_package_archive") from None

    result = services.packages.import_package(actor, read)
    return Data(
        data=ImportOut(
            package=PackageOut.model_validate(result.package),
            replaced=result.replaced,
            unresolved=list(result.unresolved),
            not_run=[NotRunOut(file=f, why=w) for f, w in result.not_run],
        )
    )


@router.get("/packages/{package_id}", responses=errors(404))
def get_package(package_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[PackageDetailOut]:
    """A package with its groups, installations and pending jobs."""
    return Data(data=PackageDetailOut.of(services.packages.get(actor, package_id)))


@router.patch("/packages/{package_id}", responses=errors(404))
def update_package(
    package_id: IdPath, body: PackageUpdate, actor: CurrentActor, services: ServicesDep
) -> Data[PackageOut]:
    package = services.packages.update(
        actor,
        package_id,
        body.fields(),
        version=body.version,
        package_version=body.package_version,
        files=decode_files(body.files),
        depends_on=body.depends_on,
    )
    return Data(data=PackageOut.model_validate(package))


@router.delete("/packages/{package_id}", status_code=204, responses=errors(404))
def delete_package(
    package_id: IdPath, actor: CurrentActor, services: ServicesDep, force: bool = False
) -> Response:
    """Without ``force``, a package with pending jobs or dependent packages is refused (422,
    reasons ``delete_failed_active_jobs`` / ``delete_failed_dependent_packages``)."""
    services.packages.delete(actor, package_id, force=force)
    return Response(status_code=204)


@router.get("/packages/{package_id}/payload", responses=errors(404))
def download_payload(package_id: IdPath, actor: CurrentActor, services: ServicesDep) -> FileResponse:
    """The payload ZIP (needs the manage_packages permission)."""
    ref = services.packages.payload(actor, package_id)
    return FileResponse(
        ref.path,
        media_type="application/zip",
        filename=f"package-{package_id}.zip",
        headers={"X-Payload-SHA256": ref.sha256},
    )


@router.get("/package-families")
def list_families(actor: CurrentActor, services: ServicesDep) -> DataList[FamilyOut]:
    families = services.packages.list_families(actor)
    return data_list([FamilyOut.model_validate(f) for f in families], len(families))


@router.get("/package-families/{family_id}", responses=errors(404))
def get_family(family_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[FamilyOut]:
    return Data(data=FamilyOut.model_validate(services.packages.get_family(actor, family_id)))


@router.patch("/package-families/{family_id}", responses=errors(404))
def update_family(
    family_id: IdPath, body: FamilyUpdate, actor: CurrentActor, services: ServicesDep
) -> Data[FamilyOut]:
    family = services.packages.update_family(
        actor, family_id, name=body.name, notes=body.notes, license_count=body.license_count
    )
    return Data(data=FamilyOut.model_validate(family))


@router.delete("/package-families/{family_id}", status_code=204, responses=errors(404))
def delete_family(family_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    """Only a family without packages can be deleted."""
    services.packages.delete_family(actor, family_id)
    return Response(status_code=204)


@router.get("/package-groups")
def list_package_groups(actor: CurrentActor, services: ServicesDep) -> DataList[PackageGroupOut]:
    """Every package group (use ``parent_id`` to draw the tree)."""
    groups = services.packages.list_groups(actor, all_levels=True)
    return data_list([PackageGroupOut.model_validate(g) for g in groups], len(groups))


@router.post("/package-groups", status_code=201, responses=errors(404, 409))
def create_package_group(
    body: PackageGroupCreate, actor: CurrentActor, services: ServicesDep
) -> Data[PackageGroupOut]:
    group = services.packages.create_group(
        actor, body.name, parent_id=body.parent_id, description=body.description
    )
    return Data(data=PackageGroupOut.model_validate(group))


@router.get("/package-groups/{group_id}", responses=errors(404))
def get_package_group(group_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[PackageGroupOut]:
    return Data(data=PackageGroupOut.model_validate(services.packages.get_group(actor, group_id)))


@router.patch("/package-groups/{group_id}", responses=errors(404, 409))
def update_package_group(
    group_id: IdPath, body: PackageGroupUpdate, actor: CurrentActor, services: ServicesDep
) -> Data[PackageGroupOut]:
    group = services.packages.update_group(
        actor,
        group_id,
        name=body.name,
        description=body.description,
        parent_id=body.parent_id,
        move="parent_id" in body.model_fields_set,
    )
    return Data(data=PackageGroupOut.model_validate(group))


@router.delete("/package-groups/{group_id}", status_code=204, responses=errors(404, 409))
def delete_package_group(group_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    services.packages.delete_group(actor, group_id)
    return Response(status_code=204)


@router.get("/package-groups/{group_id}/members", responses=errors(404))
def list_group_members(group_id: IdPath, actor: CurrentActor, services: ServicesDep) -> DataList[MemberOut]:
    members = services.packages.group_packages(actor, group_id)
    return data_list(
        [MemberOut(sequence=seq, package=PackageOut.model_validate(p)) for seq, p in members], len(members)
    )


@router.post("/package-groups/{group_id}/members", responses=errors(404))
def add_group_member(
    group_id: IdPath, body: MemberIn, actor: CurrentActor, services: ServicesDep
) -> DataList[MemberOut]:
    """Append a package (or, with ``sequence``, put it at that place). Returns the members."""
    services.packages.add_to_group(actor, group_id, body.package_id, sequence=body.sequence)
    return list_group_members(group_id, actor, services)


@router.delete("/package-groups/{group_id}/members/{package_id}", status_code=204, responses=errors(404))
def remove_group_member(
    group_id: IdPath, package_id: IdPath, actor: CurrentActor, services: ServicesDep
) -> Response:
    services.packages.remove_from_group(actor, group_id, package_id)
    return Response(status_code=204)


@router.get("/installations")
def list_installations(
    actor: CurrentActor, services: ServicesDep, computer_id: IdQuery = None, package_id: IdQuery = None
) -> DataList[InstallationOut]:
    """Packages fleetdeck installed (or was told are installed), by computer and/or package."""
    rows = services.packages.list_installations(actor, computer_id=computer_id, package_id=package_id)
    return data_list([InstallationOut.model_validate(i) for i in rows], len(rows))


@router.post("/installations", status_code=201, responses=errors(404))
def assign_installation(
    body: InstallationCreate, actor: CurrentActor, services: ServicesDep
) -> Data[InstallationOut]:
    """Record a package as installed without running anything."""
    row = services.packages.assign_installation(actor, body.computer_id, body.package_id)
    return Data(data=InstallationOut.model_validate(row))


@router.delete("/installations/{installation_id}", status_code=204, responses=errors(404))
def remove_installation(installation_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    """Forget the record (nothing is uninstalled; use POST /deployments/uninstall for that)."""
    services.packages.remove_installation(actor, installation_id)
    return Response(status_code=204)
