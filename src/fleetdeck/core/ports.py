"""What core needs from the outside, as small Protocols injected by the composition root.

Implementations that talk to agents or to other server processes live in ``fleetdeck.bus``;
the ``Null*`` ones here are for the CLI and unit tests, where nobody holds agent connections.
Core services run in worker threads, so the ports that wait offer a blocking call for them and
an async one for callers on the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from fleetdeck.core.errors import AgentUnreachable, FleetdeckError, Unavailable
from fleetdeck.protocol.messages import JobOutput

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class JobNotifier(Protocol):
    """Told after commit that computers have new work, so whoever holds their connections can
    deliver it. Called from worker threads; must not block."""

    def jobs_queued(self, computer_ids: Sequence[int]) -> None: ...

    def jobs_cancelled(self, jobs: Sequence[tuple[int, int]]) -> None:
        """(computer_id, job_id) pairs whose running job should be stopped."""
        ...

    def jobs_finished(self, job_ids: Sequence[int]) -> None:
        """These jobs became final without an agent's result (cancelled while queued, expired),
        so whoever waits for them hears it now. Results from agents are announced by the hub."""
        ...

    def jobs_changed(self, batch_ids: Sequence[int]) -> None:
        """Jobs of these batches (job containers) changed state, phase or progress: whoever
        shows a batch live reads it again, instead of reading it now and then for nothing."""
        ...

    def computers_deleted(self, computer_ids: Sequence[int]) -> None:
        """These computers were deleted: whoever holds their agents' connections closes them,
        telling the agents why."""
        ...


class NullNotifier:
    """For the CLI and unit tests: nobody holds agent connections in this process."""

    def jobs_queued(self, computer_ids: Sequence[int]) -> None:
        return None

    def jobs_cancelled(self, jobs: Sequence[tuple[int, int]]) -> None:
        return None

    def jobs_finished(self, job_ids: Sequence[int]) -> None:
        return None

    def jobs_changed(self, batch_ids: Sequence[int]) -> None:
        return None

    def computers_deleted(self, computer_ids: Sequence[int]) -> None:
        return None


# ---------------------------------------------------------------- reaching agents


@dataclass(frozen=True, slots=True)
class AgentAddress:
    """Where a connected agent is: its computer and the server process (node) that holds it."""

    computer_id: int
    node_id: str


class AgentGateway(Protocol):
    """Request/reply with connected agents, through whichever server process holds them.

    ``kind`` and ``body`` are a protocol ``Request``'s (e.g. ``"ping"``, ``{}``); the result is
    the agent's reply body. Raises AgentUnreachable (not connected there), AgentTimeout (no
    answer within ``timeout`` seconds) or AgentFailed (the agent answered with an error).
    """

    def request(self, to: AgentAddress, kind: str, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """Blocking, for worker threads."""
        ...

    def request_many(
        self, to: Sequence[AgentAddress], kind: str, body: Mapping[str, Any], timeout: float
    ) -> dict[int, dict[str, Any] | FleetdeckError]:
        """Blocking; the same request to many agents at once. By computer id: the reply body,
        or the error that ``request`` would have raised."""
        ...

    async def arequest(
        self, to: AgentAddress, kind: str, body: Mapping[str, Any], timeout: float
    ) -> dict[str, Any]:
        """The same, for callers on the event loop."""
        ...


class NullGateway:
    def request(self, to: AgentAddress, kind: str, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        raise AgentUnreachable(f"computer {to.computer_id}: this process reaches no agents")

    def request_many(
        self, to: Sequence[AgentAddress], kind: str, body: Mapping[str, Any], timeout: float
    ) -> dict[int, dict[str, Any] | FleetdeckError]:
        return {a.computer_id: AgentUnreachable("this process reaches no agents") for a in to}

    async def arequest(
        self, to: AgentAddress, kind: str, body: Mapping[str, Any], timeout: float
    ) -> dict[str, Any]:
        return self.request(to, kind, body, timeout)


# ---------------------------------------------------------------- terminals


class TerminalChannel(Protocol):
    """One terminal session on an agent, opened by a ``TerminalRelay``: bytes both ways, a
    bounded amount of output held for a reader that is slow."""

    exit_code: int | None  # the shell's, once it ended (None: killed, or not known)
    reason: str  # why the session ended ("exited", "closed", ...); empty while it runs

    async def read(self) -> bytes | None:
        """The next output bytes; None once the session has ended."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def resize(self, cols: int, rows: int) -> None: ...

    async def close(self) -> None:
        """End the session (the agent hangs up the shell's process group)."""
        ...


class TerminalRelay(Protocol):
    """Opens terminals on connected agents. Raises AgentUnreachable (its agent is not connected
    to this process), AgentFailed (the agent cannot or will not: too old, switched off, not
    supported on its platform) or AgentTimeout."""

    async def open_terminal(
        self, computer_id: int, session_id: str, cols: int, rows: int
    ) -> TerminalChannel: ...


class NullTerminalRelay:
    async def open_terminal(self, computer_id: int, session_id: str, cols: int, rows: int) -> TerminalChannel:
        raise AgentUnreachable(f"computer {computer_id}: this process reaches no agents")


# ---------------------------------------------------------------- streams (desktop views)


class StreamChannel(Protocol):
    """One TCP stream the agent dialled (a tunnel stream without a listening port), for a
    bridge in this process (the desktop view's WebSocket)."""

    reason: str  # why it ended, once it did

    async def read(self) -> bytes | None:
        """The next bytes from the remote end; None once it closed."""
        ...

    async def write(self, data: bytes) -> None:
        """Waits while the agent's window is full (so a fast browser is held up)."""
        ...

    async def close(self) -> None: ...


class StreamOpener(Protocol):
    """Opens streams through agents connected to this process. Raises AgentUnreachable (not
    connected here), AgentFailed (too old for tunnels, or it could not connect) or AgentTimeout."""

    async def open_stream(self, computer_id: int, host: str, port: int) -> StreamChannel: ...


class NullStreamOpener:
    async def open_stream(self, computer_id: int, host: str, port: int) -> StreamChannel:
        raise AgentUnreachable(f"computer {computer_id}: this process reaches no agents")


# ---------------------------------------------------------------- tunnels


@dataclass(frozen=True, slots=True)
class TunnelPlan:
    """What the server process holding a computer's agent needs to serve one tunnel: listen on
    ``local_host:local_port``, let in connections from ``acl`` (empty: from anywhere), carry each to
    ``remote_host:remote_port`` through the agent; close it after ``idle_timeout_sec`` without a connection
    or traffic (0: never) and at ``expires_at`` (unix time; None: never). ``protocol``: what is
    listened on (a TCP port, a UDP port, or both)."""

    computer_id: int
    key: str
    local_host: str
    local_port: int
    remote_host: str
    remote_port: int
    acl: tuple[str, ...] = ()
    idle_timeout_sec: int = 0
    expires_at: float | None = None
    protocol: str = "tcp"  # "udp": a UDP port, datagrams; "tcp+udp": both on the same port
    # The HTTPS reverse proxy in front of the port (rportd's ``http_proxy``): ``scheme`` (http or
    # https) is how the remote is spoken to, ``host_header`` (if any) replaces the Host header,
    # ``auth_user`` (if any) with the argon2 hash of its password asks for basic auth.
    http_proxy: bool = False
    scheme: str = ""
    host_header: str = ""
    auth_user: str = ""
    auth_password_hash: str = ""


class TunnelListeners(Protocol):
    """Starts and stops tunnels' listening sockets in the server process that holds the agent
    (core does no sockets). Blocking, for worker threads.

    ``listen`` raises Conflict (reason LOCAL_PORT_IN_USE) when the port cannot be bound;
    ``unlisten`` returns how many connections it closed and raises Conflict (reason
    ACTIVE_CONNECTIONS) when some are open and ``force`` is not set. Both raise
    AgentUnreachable when nobody holds the agent (it has no listener then either)."""

    def listen(self, to: AgentAddress, plan: TunnelPlan) -> None: ...

    def unlisten(self, to: AgentAddress, key: str, force: bool) -> int: ...

    def set_acl(self, to: AgentAddress, key: str, acl: Sequence[str]) -> None: ...


class NullTunnelListeners:
    """For the CLI and unit tests: no process here holds agents."""

    def listen(self, to: AgentAddress, plan: TunnelPlan) -> None:
        raise AgentUnreachable(f"computer {to.computer_id}: this process reaches no agents")

    def unlisten(self, to: AgentAddress, key: str, force: bool) -> int:
        raise AgentUnreachable(f"computer {to.computer_id}: this process reaches no agents")

    def set_acl(self, to: AgentAddress, key: str, acl: Sequence[str]) -> None:
        raise AgentUnreachable(f"computer {to.computer_id}: this process reaches no agents")


# ---------------------------------------------------------------- watching jobs

# Which of these jobs are final (or gone), read from the database.
FinalCheck = Callable[[Sequence[int]], set[int]]


class JobFeed(Protocol):
    """One job's live output, subscribed before the caller's first read of the job."""

    going_away: bool  # set when the feed ended because the server is shutting down

    def outputs(self, poll: Callable[[], Awaitable[bool]]) -> AsyncIterator[JobOutput]:
        """Each output frame once (what ran before the subscription first), until the job is
        final. ``poll`` says whether it is; it is asked now and then in case an announcement
        was lost."""
        ...


class BatchFeed(Protocol):
    """Announcements that jobs of one batch changed (``JobNotifier.jobs_changed``)."""

    going_away: bool  # set when the feed ended because the server is shutting down

    async def changed(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a change of the batch: True when one came (those
        that came meanwhile are taken along), False when none did."""
        ...


class FinalsFeed(Protocol):
    """Announcements that jobs (any jobs) became final, subscribed before the caller's reads."""

    async def finished(self, timeout: float) -> list[int]:
        """Wait up to ``timeout`` seconds: the ids of the jobs announced final (those that
        came meanwhile taken along, each once), or [] when none came. The bus delivers at most
        once: a caller that must see every job reads the database now and then as well."""
        ...


class JobWatch(Protocol):
    """Waiting for jobs without polling the database: final results are announced on the bus
    after commit; ``final`` is read once after subscribing, so nothing falls in between."""

    def wait_final(self, job_ids: Sequence[int], timeout: float, final: FinalCheck) -> set[int]:
        """Blocking, for worker threads: returns once all are final or ``timeout`` seconds
        have passed; the ids known final by then."""
        ...

    async def await_final(self, job_ids: Sequence[int], timeout: float, final: FinalCheck) -> set[int]: ...

    def follow(self, job_id: int) -> AbstractAsyncContextManager[JobFeed]: ...

    def batch(self, batch_id: int) -> AbstractAsyncContextManager[BatchFeed]:
        """Changes of one batch's jobs, subscribed before the caller's first read of it."""
        ...

    def finals(self) -> AbstractAsyncContextManager[FinalsFeed]:
        """Every job that becomes final from now on (a progress stream over many batches)."""
        ...


class NullJobWatch:
    """Nothing is announced in this process (CLI, unit tests), so nothing can be waited for."""

    def wait_final(self, job_ids: Sequence[int], timeout: float, final: FinalCheck) -> set[int]:
        raise Unavailable("this process cannot wait for jobs (no message bus)")

    async def await_final(self, job_ids: Sequence[int], timeout: float, final: FinalCheck) -> set[int]:
        return self.wait_final(job_ids, timeout, final)

    def follow(self, job_id: int) -> AbstractAsyncContextManager[JobFeed]:
        raise Unavailable("this process cannot follow jobs (no message bus)")

    def batch(self, batch_id: int) -> AbstractAsyncContextManager[BatchFeed]:
        raise Unavailable("this process cannot follow jobs (no message bus)")

    def finals(self) -> AbstractAsyncContextManager[FinalsFeed]:
        raise Unavailable("this process cannot follow jobs (no message bus)")


class Waker(Protocol):
    """Sends Wake-on-LAN packets to computers (implemented by the WOL service)."""

    def wake(self, computer_ids: Sequence[int]) -> int:
        """Returns the number of magic packets sent."""
        ...


class NullWaker:
    def wake(self, computer_ids: Sequence[int]) -> int:
        return 0
