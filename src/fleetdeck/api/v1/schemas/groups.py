"""Hierarchical computer groups and their membership."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from fleetdeck.api.v1.schemas.common import Id, IdList, RequestModel, ResponseModel, Str

GroupName = Annotated[Str, Field(min_length=1, max_length=255)]
Description = Annotated[Str, Field(max_length=65_536)]


class GroupOut(ResponseModel):
    id: int
    key: str
    name: str
    parent_id: int | None
    description: str
    created_at: datetime
    member_count: int


class GroupCreate(RequestModel):
    name: GroupName
    parent_id: Id | None = None
    description: Description = ""


class GroupUpdate(RequestModel):
    """Absent fields are left unchanged; ``"parent_id": null`` moves the group to the root."""

    name: GroupName | None = None
    description: Description | None = None
    parent_id: Id | None = None


class Members(RequestModel):
    computer_ids: Annotated[IdList, Field(min_length=1)]


class MembersAdded(ResponseModel):
    added: list[int] = Field(description="Computers that were not members before.")
