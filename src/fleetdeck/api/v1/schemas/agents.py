from __future__ import annotations

from datetime import datetime

from pydantic import Field

from fleetdeck.api.v1.schemas.common import ResponseModel


class PingOut(ResponseModel):
    computer_id: int
    agent_time: datetime = Field(description="The agent's clock when it answered (shows clock skew).")
    uptime_sec: float = Field(description="Seconds since the computer booted.")
    round_trip_ms: float = Field(
        description="From asking to the answer, through the server holding the agent."
    )
