"""Hierarchical computer groups and their members."""

from __future__ import annotations

from fastapi import APIRouter, Response

from fleetdeck.api.v1.deps import CurrentActor, ServicesDep
from fleetdeck.api.v1.listing import SYNTAX, ListQuery
from fleetdeck.api.v1.schemas.common import Data, DataList, IdPath, data_list, errors
from fleetdeck.api.v1.schemas.computers import ComputerOut
from fleetdeck.api.v1.schemas.groups import GroupCreate, GroupOut, GroupUpdate, Members, MembersAdded

router = APIRouter(prefix="/groups", tags=["groups"], responses=errors(401, 403, 422))


@router.get("", description="Groups (fields: id, key, name, parent_id, kind, created_at).\n" + SYNTAX)
def list_groups(query: ListQuery, actor: CurrentActor, services: ServicesDep) -> DataList[GroupOut]:
    page = services.groups.find(actor, query)
    return data_list([GroupOut.model_validate(g) for g in page.items], page.total)


@router.post("", status_code=201, responses=errors(400, 404, 409))
def create_group(body: GroupCreate, actor: CurrentActor, services: ServicesDep) -> Data[GroupOut]:
    """Names are unique among siblings (409)."""
    group = services.groups.create(actor, body.name, parent_id=body.parent_id, description=body.description)
    return Data(data=GroupOut.model_validate(group))


@router.get("/{group_id}", responses=errors(404))
def get_group(group_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[GroupOut]:
    return Data(data=GroupOut.model_validate(services.groups.get(actor, group_id)))


@router.patch("/{group_id}", responses=errors(400, 404, 409))
def update_group(
    group_id: IdPath, body: GroupUpdate, actor: CurrentActor, services: ServicesDep
) -> Data[GroupOut]:
    """Rename, describe or move. ``"parent_id": null`` moves to the root; leaving it out keeps the
    parent. Moving a group below itself is a 422."""
    group = services.groups.update(
        actor,
        group_id,
        name=body.name,
        description=body.description,
        parent_id=body.parent_id,
        move="parent_id" in body.model_fields_set,
    )
    return Data(data=GroupOut.model_validate(group))


@router.delete("/{group_id}", status_code=204, responses=errors(404, 409))
def delete_group(group_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    """A group with subgroups cannot be deleted (409)."""
    services.groups.delete(actor, group_id)
    return Response(status_code=204)


@router.get(
    "/{group_id}/members",
    responses=errors(404),
    description="The group's (direct) member computers.\n" + SYNTAX,
)
def list_members(
    group_id: IdPath, query: ListQuery, actor: CurrentActor, services: ServicesDep
) -> DataList[ComputerOut]:
    services.groups.get(actor, group_id)  # 404 for an unknown group rather than an empty list
    page = services.computers.find(actor, query, group_id=group_id)
    return data_list([ComputerOut.model_validate(c) for c in page.items], page.total)


@router.post("/{group_id}/members", responses=errors(400, 404))
def add_members(
    group_id: IdPath, body: Members, actor: CurrentActor, services: ServicesDep
) -> Data[MembersAdded]:
    """Add computers; ones that are members already are left alone. An unknown computer is a 404."""
    return Data(data=MembersAdded(added=services.groups.add_members(actor, group_id, body.computer_ids)))


@router.delete("/{group_id}/members", status_code=204, responses=errors(400, 404))
def remove_members(group_id: IdPath, body: Members, actor: CurrentActor, services: ServicesDep) -> Response:
    """Remove computers; ones that are not members are ignored."""
    services.groups.remove_members(actor, group_id, body.computer_ids)
    return Response(status_code=204)


@router.delete("/{group_id}/members/{computer_id}", status_code=204, responses=errors(404))
def remove_member(
    group_id: IdPath, computer_id: IdPath, actor: CurrentActor, services: ServicesDep
) -> Response:
    services.groups.remove_members(actor, group_id, [computer_id])
    return Response(status_code=204)
