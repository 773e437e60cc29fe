"""Reconnect delays.

Full jitter (delay drawn uniformly from [min, cap]) rather than plain exponential backoff:
after a server restart thousands of agents lose their connection in the same instant, and
only randomised delays spread their reconnects out instead of producing synchronised waves.
"""

from __future__ import annotations

import random
from collections.abc import Callable

Uniform = Callable[[float, float], float]

# A connection that stayed up this long counts as healthy: the next failure starts over.
STABLE_AFTER_SEC = 60.0
# A session that lasted this long was working when it dropped (a server restart, a network
# blip, not a server that fails right after the Welcome): come back within the server's window.
HEALTHY_AFTER_SEC = 10.0


def backoff_delay(attempt: int, minimum: float, maximum: float, uniform: Uniform = random.uniform) -> float:
    """Delay before reconnect number ``attempt`` (0-based): uniform(min, min(max, min * 2**attempt))."""
    attempt = max(0, attempt)
    # Cap the exponent so 2**attempt never overflows a float after days of failures.
    cap = min(maximum, minimum * 2 ** min(attempt, 62))
    cap = max(cap, minimum)
    return uniform(minimum, cap)


class Backoff:
    """Stateful wrapper: counts consecutive failures and resets after a stable connection."""

    def __init__(self, minimum: float, maximum: float, uniform: Uniform = random.uniform) -> None:
        if minimum <= 0 or maximum < minimum:
            raise ValueError("need 0 < reconnect_min <= reconnect_max")
        self.minimum = minimum
        self.maximum = maximum
        self.attempt = 0
        self._uniform = uniform
        self.window: float | None = None  # while coming back (see returning): the delays' cap

    def next_delay(self) -> float:
        cap = self.maximum if self.window is None else min(self.maximum, max(self.minimum, self.window))
        delay = backoff_delay(self.attempt, self.minimum, cap, self._uniform)
        self.attempt += 1
        return delay

    def returning(self, window: float) -> None:
        """The server said Bye, or a healthy connection dropped: start over, and keep every
        delay within ``window`` until the next session is up. Without this, a 17 s restart
        left agents behind by up to a minute, their delays having doubled while it lasted."""
        self.attempt = 0
        self.window = window

    def connected(self) -> None:
        """A session is up: back to the ordinary cap (the failure count stays until the
        connection proves stable, so a server that drops every session still backs off)."""
        self.window = None

    def connection_ended(self, lasted: float) -> None:
        """Reset the failure count if the connection that just ended was a healthy one."""
        if lasted > STABLE_AFTER_SEC:
            self.attempt = 0

    def jitter(self, within: float) -> float:
        """A delay in [0, within], used when the server asks us to come back later (Bye)."""
        return self._uniform(0.0, max(0.0, within))
