"""Login (the one endpoint without authentication), the current user and their API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from fleetdeck.api.v1.deps import VIA, CurrentActor, ServicesDep, source_of
from fleetdeck.api.v1.schemas.common import Data, DataList, IdPath, data_list, errors
from fleetdeck.api.v1.schemas.users import (
    LoginIn,
    LoginOut,
    PasswordChange,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserOut,
)
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import AuthenticationFailed

router = APIRouter(tags=["auth"], responses=errors(401, 422))


def _user_id(actor: Actor) -> int:
    if actor.user_id is None:  # pragma: no cover - only users authenticate on this API
        raise AuthenticationFailed("not a user")
    return actor.user_id


@router.post("/auth/login", responses=errors(400, 429))
def login(body: LoginIn, request: Request, services: ServicesDep) -> Data[LoginOut]:
    """Exchange a user name and password for a JWT. Repeated failures are throttled (429)."""
    result = services.users.login(body.username, body.password, source_of(request), via=VIA)
    return Data(
        data=LoginOut(
            token=result.token, expires_at=result.expires_at, user=UserOut.model_validate(result.user)
        )
    )


@router.get("/me")
def me(actor: CurrentActor, services: ServicesDep) -> Data[UserOut]:
    return Data(data=UserOut.model_validate(services.users.get(actor, _user_id(actor))))


@router.put("/me/password", status_code=204, responses=errors(400, 403))
def change_password(body: PasswordChange, actor: CurrentActor, services: ServicesDep) -> Response:
    """Change your own password. Every JWT issued before stops working."""
    services.users.set_password(
        actor, _user_id(actor), body.new_password, current_password=body.current_password
    )
    return Response(status_code=204)


@router.get("/me/tokens")
def list_tokens(actor: CurrentActor, services: ServicesDep) -> DataList[TokenOut]:
    """Your personal API tokens (without their secrets)."""
    tokens = [TokenOut.model_validate(t) for t in services.users.list_tokens(actor)]
    return data_list(tokens, len(tokens))


@router.post("/me/tokens", status_code=201, responses=errors(400, 403, 409))
def create_token(body: TokenCreate, actor: CurrentActor, services: ServicesDep) -> Data[TokenCreated]:
    """Create an API token. The secret is in this response only. Scope ``read`` can only read."""
    new = services.users.create_token(actor, body.name, body.scope, body.expires_at)
    return Data(data=TokenCreated(**TokenOut.model_validate(new.info).model_dump(), token=new.token))


@router.delete("/me/tokens/{token_id}", status_code=204, responses=errors(403, 404))
def revoke_token(token_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    services.users.revoke_token(actor, token_id)
    return Response(status_code=204)
