"""Agent releases (self-update, ``core/agentupdates.py``): publish, roll out, follow.

``POST /agent-releases?filename=fleetdeck_agent-V-py3-none-any.whl`` takes the wheel as the
raw body (``application/octet-stream``; the 1 MiB body limit applies, an agent wheel is ~0.2
MiB); ``POST /agent-releases/build`` publishes the agent of this server's own version.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from fleetdeck.api.v1.deps import CurrentActor, ServicesDep
from fleetdeck.api.v1.schemas.common import Data, DataList, data_list, errors
from fleetdeck.api.v1.schemas.releases import ReleaseKeyOut, ReleaseOut, RolloutIn, UpdateStatusOut

router = APIRouter(tags=["agents"], responses=errors(401, 403))

Version = Annotated[str, Path(min_length=1, max_length=50, pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$")]
Filename = Annotated[
    str, Query(min_length=1, max_length=255, description="fleetdeck_agent-V-py3-none-any.whl")
]


@router.get("/agent-releases")
def list_releases(actor: CurrentActor, services: ServicesDep) -> DataList[ReleaseOut]:
    """Published agent releases, oldest first."""
    items = [ReleaseOut.model_validate(r) for r in services.agent_updates.releases(actor)]
    return data_list(items, len(items))


@router.post("/agent-releases", status_code=201, responses=errors(409, 413, 422))
async def publish_release(
    request: Request, filename: Filename, actor: CurrentActor, services: ServicesDep
) -> Data[ReleaseOut]:
    """Publish an agent wheel (the raw body): stored, hashed and signed; rollout ``none``."""
    import asyncio

    body = await request.body()
    release = await asyncio.to_thread(services.agent_updates.publish, actor, filename, body)
    return Data(data=ReleaseOut.model_validate(release))


@router.post("/agent-releases/build", status_code=201, responses=errors(409, 422))
def publish_own_release(actor: CurrentActor, services: ServicesDep) -> Data[ReleaseOut]:
    """Build the agent of this server's version (``make agent-wheel``) and publish it."""
    return Data(data=ReleaseOut.model_validate(services.agent_updates.publish_built(actor)))


@router.post("/agent-releases/{version}/rollout", responses=errors(404, 422))
def rollout_release(
    version: Version, body: RolloutIn, actor: CurrentActor, services: ServicesDep
) -> Data[ReleaseOut]:
    """Target a computer group first (``group`` + ``group_id``), then ``all``; ``none`` withdraws."""
    release = services.agent_updates.rollout(actor, version, body.rollout, body.group_id)
    return Data(data=ReleaseOut.model_validate(release))


@router.get("/agent-releases/key")
def release_key(actor: CurrentActor, services: ServicesDep) -> Data[ReleaseKeyOut]:
    """The release key agents pin at enrollment (to sign offline, compare it)."""
    return Data(data=ReleaseKeyOut(public_key=services.agent_updates.public_key_for(actor)))


@router.get("/agent-updates")
def update_statuses(actor: CurrentActor, services: ServicesDep) -> DataList[UpdateStatusOut]:
    """Each computer's last agent update: release, state, error, the version it runs."""
    items = [UpdateStatusOut.model_validate(s) for s in services.agent_updates.statuses(actor)]
    return data_list(items, len(items))
