"""Enrollment tokens and the audit log."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response

from fleetdeck.api.v1.deps import CurrentActor, ServicesDep
from fleetdeck.api.v1.listing import SYNTAX, ListQuery
from fleetdeck.api.v1.schemas.admin import AuditOut, EnrollTokenCreate, EnrollTokenCreated, EnrollTokenOut
from fleetdeck.api.v1.schemas.common import Data, DataList, IdPath, data_list, errors

router = APIRouter(responses=errors(401, 403, 422))


@router.get("/enroll-tokens", tags=["enrollment"])
def list_enroll_tokens(actor: CurrentActor, services: ServicesDep) -> DataList[EnrollTokenOut]:
    """All enrollment tokens, including revoked and expired ones (without their secrets)."""
    tokens = [EnrollTokenOut.model_validate(t) for t in services.enrollment.list_tokens(actor)]
    return data_list(tokens, len(tokens))


@router.post("/enroll-tokens", status_code=201, tags=["enrollment"], responses=errors(400))
def create_enroll_token(
    body: EnrollTokenCreate, actor: CurrentActor, services: ServicesDep
) -> Data[EnrollTokenCreated]:
    """A token agents enroll with (``fleetdeck-agent enroll``). The secret is in this response only."""
    expires = timedelta(seconds=body.expires_in_sec) if body.expires_in_sec is not None else None
    new = services.enrollment.create_token(actor, expires_in=expires, max_uses=body.max_uses, note=body.note)
    return Data(
        data=EnrollTokenCreated(**EnrollTokenOut.model_validate(new.info).model_dump(), token=new.token)
    )


@router.delete("/enroll-tokens/{token_id}", status_code=204, tags=["enrollment"], responses=errors(404))
def revoke_enroll_token(token_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    """Revoke: agents can no longer enroll with it. Enrolled agents are not affected."""
    services.enrollment.revoke_token(actor, token_id)
    return Response(status_code=204)


@router.get(
    "/audit",
    tags=["audit"],
    description=(
        "The audit log, newest first (fields: id, at, user_id, username, source, via, action, object_type, "
        "object_id, result). A time range: `filter[at][gt]=...&filter[at][lt]=...`.\n" + SYNTAX
    ),
)
def list_audit(query: ListQuery, actor: CurrentActor, services: ServicesDep) -> DataList[AuditOut]:
    page = services.audit.find(actor, query)
    return data_list([AuditOut.model_validate(a) for a in page.items], page.total)
