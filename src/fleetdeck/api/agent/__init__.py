"""The agent endpoint: one WebSocket per agent, speaking ``fleetdeck.protocol``."""

from fleetdeck.api.agent.endpoint import agent_websocket_route
from fleetdeck.api.agent.hub import AgentHub, HubConfig
from fleetdeck.api.agent.install import install_routes
from fleetdeck.api.agent.payload import PayloadThrottle, file_route, payload_route, release_route
from fleetdeck.api.agent.terminals import ClusterTerminalRelay, TerminalRelayHub

__all__ = [
    "AgentHub",
    "ClusterTerminalRelay",
    "HubConfig",
    "PayloadThrottle",
    "TerminalRelayHub",
    "agent_websocket_route",
    "file_route",
    "install_routes",
    "payload_route",
    "release_route",
]
