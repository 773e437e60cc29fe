from __future__ import annotations

from pydantic import Field

from fleetdeck.api.v1.schemas.common import ResponseModel


class WakeResult(ResponseModel):
    packets_sent: int = Field(description="Magic packets sent (one per MAC address and target address).")
