"""Wake-on-LAN."""

from __future__ import annotations

from fastapi import APIRouter

from fleetdeck.api.v1.deps import CurrentActor, ServicesDep
from fleetdeck.api.v1.schemas.common import Data, IdPath, errors
from fleetdeck.api.v1.schemas.wol import WakeResult

router = APIRouter(prefix="/computers", tags=["computers"], responses=errors(401, 403))


@router.post("/{computer_id}/wake", responses=errors(404, 422))
def wake_computer(computer_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[WakeResult]:
    """Send Wake-on-LAN magic packets to the computer's known MAC addresses (settings
    ``wol.broadcast_addresses``, ``wol.port``). A computer without a known MAC is a 422."""
    return Data(data=WakeResult(packets_sent=services.wol.wake_computers(actor, [computer_id])))
