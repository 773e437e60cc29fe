from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from fleetdeck.api.v1.schemas.common import Id, RequestModel, ResponseModel


class ReleaseOut(ResponseModel):
    id: int
    version: str
    filename: str
    sha256: str
    size: int
    signature: str = Field(description="Ed25519 (base64) over the release statement (docs/deployment.md).")
    rollout: str = Field(description="none, group (the computers of group_id) or all.")
    group_id: int | None
    created_at: datetime
    created_by: str
    rolled_out_at: datetime | None


class RolloutIn(RequestModel):
    rollout: Literal["none", "group", "all"]
    group_id: Id | None = None


class ReleaseKeyOut(ResponseModel):
    public_key: str = Field(description="The Ed25519 release key (base64 of 32 bytes) agents pin.")


class UpdateStatusOut(ResponseModel):
    computer_id: int
    hostname: str
    agent_version: str = Field(description="The version the computer's agent runs (its last hello).")
    version: str = Field(description="The release its last update was to.")
    state: str = Field(description="downloading, installing, probing, done, failed or rolled_back.")
    error: str
    updated_at: datetime
