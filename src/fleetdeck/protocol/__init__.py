"""The agent wire protocol: typed messages and a sans-I/O session state machine.

Both the server and the agent import this package and nothing else from each other, so
the two sides cannot drift apart. It depends only on msgspec and the standard library.
"""

from fleetdeck.protocol.messages import PROTOCOL_VERSION, decode, encode

__all__ = ["PROTOCOL_VERSION", "decode", "encode"]
