"""Asking a computer's agent directly (core's ``AgentGateway``), not through a job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fleetdeck.api.v1.deps import CurrentActor, ServicesDep
from fleetdeck.api.v1.schemas.agents import PingOut
from fleetdeck.api.v1.schemas.common import Data, IdPath, errors
from fleetdeck.core.computers.service import MAX_AGENT_TIMEOUT

router = APIRouter(prefix="/computers", tags=["computers"], responses=errors(401, 403, 422))


@router.post("/{computer_id}/ping", responses=errors(404, 409, 502, 503, 504))
def ping_computer(
    computer_id: IdPath,
    actor: CurrentActor,
    services: ServicesDep,
    timeout: Annotated[float, Query(gt=0, le=MAX_AGENT_TIMEOUT, description="Seconds to wait.")] = 5.0,
) -> Data[PingOut]:
    """Ask the computer's agent for proof of life. A computer whose agent is not connected is a
    503 (``agent_unreachable``) at once; an agent that does not answer within ``timeout`` is a
    504 (``agent_timeout``); one too old to answer is a 502 (``agent_failed``); a computer whose
    agent cannot answer pings (an OCO agent) is a 409 (``agent_incapable``)."""
    return Data(data=PingOut.model_validate(services.computers.ping(actor, computer_id, timeout)))
