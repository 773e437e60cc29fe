"""Packages, families, package groups and installation records."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

from pydantic import Field

from fleetdeck.api.v1.schemas.common import Bool, Id, IdList, Int, RequestModel, ResponseModel, Str, Str255
from fleetdeck.core.errors import ValidationFailed
from fleetdeck.core.packages.entities import PackageDetail, PackageFields, PayloadFile

Text = Annotated[Str, Field(max_length=1024 * 1024)]
Codes = Annotated[Str, Field(max_length=255, examples=["0,3010"])]
PostAction = Annotated[
    Int, Field(ge=0, le=3, description="0 none, 1 restart, 2 shut down, 3 restart the agent")
]
Upgrade = Annotated[
    Int,
    Field(ge=0, le=2, description="0 keep old records, 1 installer replaces old versions, 2 uninstall first"),
]
Lines = Annotated[Str, Field(description="Newline-separated; empty = any.", max_length=65_536)]


class FileIn(RequestModel):
    name: Annotated[Str, Field(min_length=1, max_length=1024)]
    content: Annotated[str, Field(description="Base64 (standard alphabet).")]


def decode_files(files: list[FileIn] | None) -> list[PayloadFile] | None:
    if files is None:
        return None
    out = []
    for f in files:
        try:
            out.append(PayloadFile(f.name, base64.b64decode(f.content, validate=True)))
        except (binascii.Error, ValueError):
            raise ValidationFailed(
                f"file {f.name!r} is not valid base64", field="files", reason="payload_corrupt"
            ) from None
    return out


class OpsiImportIn(RequestModel):
    """An opsi package file (``.opsi``), base64-encoded (the request body limit applies)."""

    file: FileIn
    force_product_id: Annotated[Str, Field(max_length=128)] | None = None
    property_defaults: dict[str, list[Str | bool] | Str | bool] | None = Field(
        None, description="Default values to set for the package's properties, by property name."
    )


class _PackageFieldsIn(RequestModel):
    description: Text | None = None
    install_procedure: Text | None = None
    install_success_codes: Codes | None = None
    install_post_action: PostAction | None = None
    uninstall_procedure: Text | None = None
    uninstall_success_codes: Codes | None = None
    download_for_uninstall: Bool | None = None
    uninstall_post_action: PostAction | None = None
    upgrade_behavior: Upgrade | None = None
    line_endings: Annotated[Str, Field(max_length=10)] | None = None
    compatible_os: Lines | None = None
    compatible_os_version: Lines | None = None
    compatible_architecture: Lines | None = None
    license_count: Int | None = Field(None, description="Informational; negative clears it.")
    priority: Annotated[Int, Field(ge=-100, le=100)] | None = Field(
        None, description="Order among packages that do not depend on each other: higher first."
    )

    def fields(self) -> PackageFields:
        return PackageFields(
            **self.model_dump(exclude={"files", "version", "package_version", "family_name", "depends_on"})
        )


class PackageCreate(_PackageFieldsIn):
    """A package (a version of a family; the family is created when no family has that name).
    ``files`` become its payload: one ZIP is kept as is, anything else is zipped."""

    family_name: Annotated[Str, Field(min_length=1, max_length=255)]
    version: Annotated[Str, Field(min_length=1, max_length=255)]
    package_version: Annotated[Str, Field(min_length=1, max_length=64)] = "1"
    install_procedure: Text = Field(min_length=1)
    files: Annotated[list[FileIn], Field(max_length=1000)] = []
    depends_on: IdList = []


class PackageUpdate(_PackageFieldsIn):
    """Absent fields stay; ``files`` replaces the payload (``[]`` removes it)."""

    version: Annotated[Str, Field(min_length=1, max_length=255)] | None = None
    package_version: Annotated[Str, Field(min_length=1, max_length=64)] | None = None
    files: Annotated[list[FileIn], Field(max_length=1000)] | None = None
    depends_on: IdList | None = None


class DependencyRuleOut(ResponseModel):
    requires_id: int
    action: str
    required_action: str | None
    required_status: str | None
    requirement_type: str
    required_version: str | None = None
    required_package_version: str | None = None


class PackageOut(ResponseModel):
    id: int
    family_id: int
    family_key: str
    family_name: str
    version: str
    package_version: str
    description: str
    install_procedure: str
    install_success_codes: str
    install_post_action: int
    uninstall_procedure: str
    uninstall_success_codes: str
    download_for_uninstall: bool
    uninstall_post_action: int
    upgrade_behavior: int
    line_endings: str | None
    compatible_os: str
    compatible_os_version: str
    compatible_architecture: str
    license_count: int | None
    payload_sha256: str | None
    payload_size: int | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    install_count: int
    depends_on: list[int] = Field(description="Packages installed before this one (the install rules).")
    priority: int
    dependency_rules: list[DependencyRuleOut] = Field(
        description="Every dependency rule, also those for other actions (opsi's ProductDependency)."
    )


class NotRunOut(ResponseModel):
    file: str = Field(description="The file or directory of the package.")
    why: str = Field(description="Why fleetdeck keeps it without running it.")


class ImportOut(ResponseModel):
    package: PackageOut
    replaced: bool = Field(
        description="The same product, version and package version existed and was replaced."
    )
    unresolved: list[str] = Field(
        description="Required products with no package here: their dependency rules were left out."
    )
    not_run: list[NotRunOut] = Field(
        default_factory=list,
        description="What the package brings for the server (opsi's SERVER_DATA, preinst and postinst"
        " scripts, custom directories): kept with the package, never run or installed on the server.",
    )


class InstallationOut(ResponseModel):
    id: int
    computer_id: int
    hostname: str
    package_id: int
    family_id: int
    family_name: str
    version: str
    installed_at: datetime
    procedure: str
    job_id: int | None
    # the package family's state on the computer (the same fact as opsi's productOnClient)
    action_request: str = Field(description="requested action: none, setup, uninstall, ...")
    last_action: str | None = Field(description="last action run: setup or uninstall (null: none yet)")
    action_result: str | None = Field(description="its result: none, successful or failed")


class GroupRefOut(ResponseModel):
    id: int
    name: str
    parent_id: int | None
    sequence: int


class PendingJobOut(ResponseModel):
    id: int
    batch_id: int
    batch_name: str
    computer_id: int
    hostname: str
    kind: str
    status: str
    sequence: int


class PackageDetailOut(PackageOut):
    groups: list[GroupRefOut]
    installations: list[InstallationOut]
    pending_jobs: list[PendingJobOut]

    @classmethod
    def of(cls, d: PackageDetail) -> PackageDetailOut:
        return cls.model_validate(
            {
                **PackageOut.model_validate(d.package).model_dump(),
                "groups": [GroupRefOut.model_validate(g) for g in d.groups],
                "installations": [InstallationOut.model_validate(i) for i in d.installations],
                "pending_jobs": [PendingJobOut.model_validate(j) for j in d.pending_jobs],
            }
        )


class FamilyOut(ResponseModel):
    id: int
    key: str
    name: str
    notes: str
    license_count: int | None
    created_at: datetime
    created_by: str
    package_count: int
    install_count: int
    newest_package_created: datetime | None
    oldest_package_created: datetime | None


class FamilyUpdate(RequestModel):
    name: Annotated[Str, Field(min_length=1, max_length=255)] | None = None
    notes: Text | None = None
    license_count: Int | None = None


class PackageGroupOut(ResponseModel):
    id: int
    key: str
    name: str
    parent_id: int | None
    description: str
    created_at: datetime
    package_count: int


class PackageGroupCreate(RequestModel):
    name: Annotated[Str255, Field(min_length=1)]
    parent_id: Id | None = None
    description: Text = ""


class PackageGroupUpdate(RequestModel):
    name: Annotated[Str255, Field(min_length=1)] | None = None
    description: Text | None = None
    parent_id: Id | None = None


class MemberIn(RequestModel):
    package_id: Id
    sequence: Annotated[Int, Field(ge=1)] | None = Field(None, description="Absent: appended at the end.")


class MemberOut(ResponseModel):
    sequence: int
    package: PackageOut


class InstallationCreate(RequestModel):
    computer_id: Id
    package_id: Id
