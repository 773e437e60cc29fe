"""User administration (admins only; core checks the permission)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from fleetdeck.api.v1.deps import CurrentActor, ServicesDep
from fleetdeck.api.v1.schemas.common import Data, DataList, IdPath, data_list, errors
from fleetdeck.api.v1.schemas.users import PasswordSet, Unlock, Unlocked, UserCreate, UserOut, UserUpdate

router = APIRouter(prefix="/users", tags=["users"], responses=errors(401, 403, 422))
bans = APIRouter(prefix="/login-failures", tags=["users"], responses=errors(401, 403, 422))


@router.get("")
def list_users(actor: CurrentActor, services: ServicesDep) -> DataList[UserOut]:
    """All users, by id."""
    users = [UserOut.model_validate(u) for u in services.users.list_users(actor)]
    return data_list(users, len(users))


@router.post("", status_code=201, responses=errors(400, 409))
def create_user(body: UserCreate, actor: CurrentActor, services: ServicesDep) -> Data[UserOut]:
    user = services.users.create(
        actor, body.username, body.password, body.role, full_name=body.full_name, email=body.email
    )
    return Data(data=UserOut.model_validate(user))


@router.get("/{user_id}", responses=errors(404))
def get_user(user_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[UserOut]:
    return Data(data=UserOut.model_validate(services.users.get(actor, user_id)))


@router.patch("/{user_id}", responses=errors(400, 404, 409))
def update_user(
    user_id: IdPath, body: UserUpdate, actor: CurrentActor, services: ServicesDep
) -> Data[UserOut]:
    """Change role, name, e-mail or the disabled flag. Disabling a user ends their sessions."""
    user = services.users.update(
        actor, user_id, role=body.role, full_name=body.full_name, email=body.email, disabled=body.disabled
    )
    return Data(data=UserOut.model_validate(user))


@router.delete("/{user_id}", status_code=204, responses=errors(404, 409))
def delete_user(user_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    services.users.delete(actor, user_id)
    return Response(status_code=204)


@router.put("/{user_id}/password", status_code=204, responses=errors(400, 404))
def set_password(user_id: IdPath, body: PasswordSet, actor: CurrentActor, services: ServicesDep) -> Response:
    """Set a user's password; their existing sessions end."""
    services.users.set_password(actor, user_id, body.password)
    return Response(status_code=204)


@bans.post("/clear", responses=errors(400))
def unlock(body: Unlock, actor: CurrentActor, services: ServicesDep) -> Data[Unlocked]:
    """Forget failed logins so a locked-out user name or address may log in again at once."""
    cleared = services.users.unlock(actor, body.username, body.address)
    return Data(data=Unlocked(failures_cleared=cleared))
