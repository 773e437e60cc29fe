"""Streaming payload uploads (``/uploads``, ``/packages/{id}/payload``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from fleetdeck.api.v1.schemas.common import Id, Int, RequestModel, ResponseModel, Str255

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class UploadCreate(RequestModel):
    package_id: Id = Field(description="The package whose payload this upload becomes.")
    length: Annotated[
        Int, Field(ge=1, description="The payload's size in bytes, sent in one or more pieces.")
    ]
    filename: Str255 = Field(
        "",
        description="The file's name: a file that is no ZIP is stored as the one member of a ZIP under"
        " this name (as the JSON upload does).",
    )
    sha256: Sha256Hex | None = Field(
        None, description="The payload's SHA-256 (hex); when given, the completed upload must match it."
    )


class UploadOut(ResponseModel):
    id: int
    package_id: int | None
    length: int | None
    offset: int = Field(description="Bytes received so far: send the next piece from here.")
    filename: str
    expected_sha256: str | None
    sha256: str | None = Field(description="The stored payload's SHA-256, once complete.")
    complete: bool
    created_at: datetime
    created_by: str
    completed_at: datetime | None
