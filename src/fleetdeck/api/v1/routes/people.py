"""End users: accepting an invitation (public: the link's token is the credential) and the
computers assigned to a user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from fleetdeck.api.v1.deps import VIA, CurrentActor, ServicesDep, source_of
from fleetdeck.api.v1.schemas.common import Data, IdPath, errors
from fleetdeck.api.v1.schemas.users import PasswordSet, UserOut

router = APIRouter(tags=["people"], responses=errors(422))

Token = Annotated[str, Path(min_length=1, max_length=200)]


@router.post("/invitations/{token}/accept", status_code=201, responses=errors(400, 404))
def accept_invitation(
    token: Token, body: PasswordSet, request: Request, services: ServicesDep
) -> Data[UserOut]:
    """Accept an e-mailed invitation and choose a password (6-20 characters of letters, digits
    and ``~`!@#$%^&*()-_+={}|[];\\'"<>,.?/``): the end user's account is made, the invitation
    is used up. An unknown token is 404, an expired one 422."""
    user = services.people.accept(token, body.password, source_of(request), via=VIA)
    return Data(data=UserOut.model_validate(user))


@router.get("/users/{user_id}/computers", responses=errors(401, 403, 404))
def assigned_computers(user_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[list[int]]:
    """The ids of the computers assigned to the user (an end user sees and reaches only these)."""
    return Data(data=services.people.assigned(actor, user_id))
