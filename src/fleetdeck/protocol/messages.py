"""Agent <-> server messages.

Every frame is one JSON object with a ``type`` tag. Messages are msgspec Structs so that
decoding validates types, and so the agent does not pay pydantic's import cost (it must stay
under 40 MB RSS). Field names are short but readable; optional fields default so that a newer
peer can add fields without breaking an older one (unknown fields are ignored).

Flow (see ``session.py`` for the state machine)::

    agent                               server
      | -- Enroll(token, facts) -------->  |   first start only
      | <------- Enrolled(uid, key, ...)   |
      | -- Hello(uid, key, known_jobs) -->  |   every connection
      | <------------ Welcome(...)         |
      | -- Inventory(data, digest) ----->  |   on connect if digest differs, and on change
      | -- Heartbeat ------------------->  |   every heartbeat_sec
      | <------------- JobRun(job) ------  |
      | -- JobUpdate(accepted/running) ->  |   accepted: package jobs; running: after 0.25 s
      | -- JobOutput(chunk) ------------>  |   while running
      | -- JobResult(...) -------------->  |   kept by the agent until acknowledged
      | <----------- ResultAck(job_id)     |
      | <------- Request(id, kind, body)   |   a question for the agent (ping, ...); only to
      | -- Reply(ref_id, ok, body) ----->  |   agents whose hello lists the "request" feature
      | <------------- TermOpen(sid, ...)  |   a terminal (agents listing "terminal")
      | -- TermOpened(sid, ok) --------->  |
      | <-> TermInput / TermOutput ------  |   bytes; TermAck(sid, n) opens the output window
      | <------------- TermResize(sid)     |
      | <------------- TermClose(sid)      |
      | -- TermExit(sid, exit_code) ---->  |   the shell ended (or the open failed)
      | <------------- Bye(reconnect_in)   |   server shutting down

A frame whose ``type`` the receiver does not know is handed over as :class:`Unknown` once the
session is established, and ignored: a newer peer can add messages without breaking an older
one. Agents released before that rule close the connection on an unknown frame, which is why
the server sends a ``Request`` only to agents that list the ``request`` feature in their hello.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import msgspec

PROTOCOL_VERSION = 1

# Features an agent lists in its hello (older agents list none and get none of these frames).
FEATURE_REQUESTS = "request"  # answers Request frames with a Reply
FEATURE_TERMINAL = "terminal"  # opens terminals (TermOpen ...); not listed when switched off

# Terminals: the bytes of one TermInput/TermOutput frame at most, and the output bytes an agent
# may send before the server acknowledges them (TermAck): what a slow browser can make either
# side hold for one session.
TERM_FRAME_BYTES = 16 * 1024
TERM_WINDOW_BYTES = 256 * 1024

# Request kinds. An agent answers a kind it does not know with Reply(ok=False).
PING = "ping"  # body {}; reply body {"time": unix time, "uptime": seconds since boot}

# Terminal job statuses an agent may report. The server owns queued/sent/expired/cancelled
# before delivery; the agent reports what happened to a job it received.
AgentJobStatus = Literal["succeeded", "failed", "timeout", "cancelled"]


class Message(msgspec.Struct, tag_field="type", forbid_unknown_fields=False, omit_defaults=True):
    """Base of every frame."""


# ---------------------------------------------------------------- inventory


class Filesystem(msgspec.Struct, omit_defaults=True):
    mountpoint: str
    fstype: str
    size_bytes: int
    free_bytes: int
    device: str = ""


class Address(msgspec.Struct, omit_defaults=True):
    address: str
    family: Literal["ipv4", "ipv6"]
    netmask: str = ""
    broadcast: str = ""


class NetworkInterface(msgspec.Struct, omit_defaults=True):
    name: str
    mac: str = ""
    addresses: list[Address] = msgspec.field(default_factory=list)


class Software(msgspec.Struct, omit_defaults=True):
    name: str
    version: str = ""
    description: str = ""


class LoggedInUser(msgspec.Struct, omit_defaults=True):
    name: str
    terminal: str = ""
    host: str = ""
    started: float | None = None  # unix time


class Inventory(msgspec.Struct, omit_defaults=True):
    """Everything the agent knows about its machine. Sent whole; the server diffs sections."""

    hostname: str
    fqdn: str = ""
    os: str = ""  # e.g. "Debian GNU/Linux"
    os_version: str = ""  # e.g. "12"
    os_family: str = ""  # linux | windows | darwin
    kernel: str = ""
    architecture: str = ""
    cpu_model: str = ""
    cpu_cores: int = 0
    cpu_threads: int = 0
    ram_bytes: int = 0
    boot_time: float | None = None
    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    bios_version: str = ""
    machine_id: str = ""
    domain: str = ""
    timezone: str = ""
    battery_level: float | None = None  # 0..1; None: no battery
    battery_status: int | None = None  # 1 on mains power, 2 discharging
    filesystems: list[Filesystem] = msgspec.field(default_factory=list)
    network_interfaces: list[NetworkInterface] = msgspec.field(default_factory=list)
    software: list[Software] = msgspec.field(default_factory=list)
    logged_in_users: list[LoggedInUser] = msgspec.field(default_factory=list)


# ---------------------------------------------------------------- jobs


class CommandSpec(msgspec.Struct, omit_defaults=True):
    """A shell command. ``interpreter`` None means the platform default shell."""

    command: str
    # "zsh": agents run it (macOS); the server does not send it yet (older agents would refuse the
    # whole frame), see docs/agent-platforms.md
    interpreter: Literal["sh", "bash", "zsh", "powershell", "cmd"] | None = None
    cwd: str | None = None
    env: dict[str, str] = msgspec.field(default_factory=dict)
    timeout_sec: int = 300


class JobSpec(msgspec.Struct, omit_defaults=True):
    """One unit of work for this agent. ``kind`` selects the executor on the agent."""

    id: int
    kind: str  # "command", "package_install", "package_uninstall"
    command: CommandSpec | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)


# ---------------------------------------------------------------- agent -> server


class Enroll(Message, tag="enroll"):
    token: str
    hostname: str
    agent_version: str
    machine_id: str = ""
    protocol: int = PROTOCOL_VERSION
    # The hardware the agent runs on, so that the server can tell a re-install of this machine
    # from a clone of it (clones share the machine id, rarely the firmware UUID or the MACs).
    # Empty: unknown (older agents; the UUID is readable by root only).
    hardware_uuid: str = ""
    macs: list[str] = msgspec.field(default_factory=list)
    # A random id the agent keeps on disk until it is enrolled: a retry whose answer was lost
    # sends the same one and gets the same computer back without using the token again.
    # Empty: an older agent (every try is a new enrollment).
    attempt: str = ""


class Hello(Message, tag="hello"):
    uid: str
    key: str
    agent_version: str
    protocol: int = PROTOCOL_VERSION
    inventory_digest: str = ""
    # Job ids the agent has accepted and not yet had a result acknowledged for. The server
    # redelivers queued/sent jobs that are *not* in this list and never the ones that are.
    known_jobs: list[int] = msgspec.field(default_factory=list)
    features: list[str] = msgspec.field(default_factory=list)  # FEATURE_* this agent speaks


class InventoryReport(Message, tag="inventory"):
    digest: str
    data: Inventory


class Heartbeat(Message, tag="heartbeat"):
    pass


class JobUpdate(Message, tag="job_update"):
    job_id: int
    status: Literal["accepted", "running"]
    at: float
    # Package jobs: "download" (progress 0..100), "unpack", "execute"; empty for other kinds.
    phase: str = ""
    progress: int | None = None
    # Downloading: payload bytes received so far and in all (optional: older agents send only
    # the percentage, and an older server ignores these).
    bytes_done: int | None = None
    bytes_total: int | None = None


class JobOutput(Message, tag="job_output"):
    job_id: int
    stream: Literal["stdout", "stderr"]
    seq: int
    data: str


class JobResult(Message, tag="job_result"):
    job_id: int
    status: AgentJobStatus
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    message: str = ""
    truncated: bool = False


class Reply(Message, tag="reply"):
    """The answer to the server's ``Request`` with id ``ref_id``: a small body, or an error."""

    ref_id: int
    ok: bool = True
    error: str = ""
    body: dict[str, Any] = msgspec.field(default_factory=dict)


class TermOpened(Message, tag="term_opened"):
    """The answer to ``TermOpen``: the shell runs (ok), or why not (not supported, off)."""

    sid: str
    ok: bool = True
    error: str = ""


class TermOutput(Message, tag="term_output"):
    sid: str
    data: bytes  # base64 in JSON; at most TERM_FRAME_BYTES


class TermExit(Message, tag="term_exit"):
    """The session is over on the agent (the shell exited, or was killed on TermClose)."""

    sid: str
    exit_code: int | None = None
    error: str = ""


# ---------------------------------------------------------------- server -> agent


class Enrolled(Message, tag="enrolled"):
    computer_id: int
    uid: str
    key: str
    # The certificate (PEM) of the CA that signed the server's certificate, when the server runs
    # its own (``--tls auto``): the agent pins it, so a renewed server certificate from that CA
    # is accepted and one from any other CA refused. Empty: pin the certificate itself.
    ca_pem: str = ""


class Welcome(Message, tag="welcome"):
    computer_id: int
    heartbeat_sec: float
    server_version: str
    want_inventory: bool = True
    # The server's reconnect window (what its Bye would say): an agent whose healthy
    # connection drops without a Bye keeps its retries within it. 0 = not told (older servers).
    reconnect_window_sec: float = 0.0


class JobRun(Message, tag="job_run"):
    job: JobSpec


class JobCancel(Message, tag="job_cancel"):
    job_id: int


class ResultAck(Message, tag="result_ack"):
    job_ids: list[int]


class Request(Message, tag="request"):
    """A question the agent answers with one ``Reply`` (ping now; later tunnels, files, live
    metrics). ``id`` is unique per connection; the server gives up after its own timeout."""

    id: int
    kind: str
    body: dict[str, Any] = msgspec.field(default_factory=dict)


class TermOpen(Message, tag="term_open"):
    """Open a terminal: a PTY running ``command`` (empty: the agent user's login shell)."""

    sid: str
    cols: int = 80
    rows: int = 24
    command: str = ""


class TermInput(Message, tag="term_input"):
    sid: str
    data: bytes  # base64 in JSON; at most TERM_FRAME_BYTES


class TermResize(Message, tag="term_resize"):
    sid: str
    cols: int
    rows: int


class TermAck(Message, tag="term_ack"):
    """The server passed on ``bytes`` more output bytes of the session: the agent may send as
    many more (at most TERM_WINDOW_BYTES unacknowledged)."""

    sid: str
    bytes: int


class TermClose(Message, tag="term_close"):
    sid: str


class Bye(Message, tag="bye"):
    """Server is going away; reconnect after a random delay in [0, reconnect_within] s."""

    reason: str = ""
    reconnect_within: float = 30.0


# Error codes with a meaning the agent acts on (others are logged).
ERROR_AUTH_FAILED = "auth_failed"  # unknown, wrong or replaced credentials: the agent stops (exit 3)
ERROR_COMPUTER_DELETED = "computer_deleted"  # an admin deleted this computer: the agent stops
CLOSE_COMPUTER_DELETED = 4004  # the WebSocket close code that goes with it


class Error(Message, tag="error"):
    code: str
    message: str
    retry_after: float | None = None


class Unknown(msgspec.Struct, frozen=True):
    """A well-formed frame of a type this side does not know (sent by a newer peer)."""

    type: str


AgentMessage = (
    Enroll
    | Hello
    | InventoryReport
    | Heartbeat
    | JobUpdate
    | JobOutput
    | JobResult
    | Reply
    | TermOpened
    | TermOutput
    | TermExit
)
ServerMessage = (
    Enrolled
    | Welcome
    | JobRun
    | JobCancel
    | ResultAck
    | Request
    | Bye
    | Error
    | TermOpen
    | TermInput
    | TermResize
    | TermAck
    | TermClose
)


def _tags(union: Any) -> frozenset[str]:
    return frozenset(str(cls.__struct_config__.tag) for cls in get_args(union))


AGENT_TYPES = _tags(AgentMessage)
SERVER_TYPES = _tags(ServerMessage)


class _Envelope(msgspec.Struct):
    type: str


_encoder = msgspec.json.Encoder()
_agent_decoder: msgspec.json.Decoder[AgentMessage] = msgspec.json.Decoder(AgentMessage)
_server_decoder: msgspec.json.Decoder[ServerMessage] = msgspec.json.Decoder(ServerMessage)
_envelope_decoder: msgspec.json.Decoder[_Envelope] = msgspec.json.Decoder(_Envelope)

DecodeError = msgspec.DecodeError  # raised for malformed or ill-typed frames


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


def decode(frame: bytes | str) -> AgentMessage | ServerMessage:
    """Decode a frame sent by either side (used in tests and tools)."""
    try:
        return decode_from_agent(frame)
    except msgspec.ValidationError:
        return decode_from_server(frame)


def decode_from_agent(frame: bytes | str) -> AgentMessage:
    return _agent_decoder.decode(frame)


def decode_from_server(frame: bytes | str) -> ServerMessage:
    return _server_decoder.decode(frame)


def unknown_type(frame: bytes | str, known: frozenset[str]) -> Unknown | None:
    """The frame's type if it is a JSON object whose ``type`` is a string not in ``known``;
    None for anything else (malformed, or a known type with bad fields)."""
    try:
        envelope = _envelope_decoder.decode(frame)
    except msgspec.DecodeError:
        return None
    return None if envelope.type in known else Unknown(type=envelope.type)


def inventory_digest(inventory: Inventory) -> str:
    """Stable digest of an inventory, so unchanged inventories are never resent or rewritten."""
    import hashlib

    return hashlib.sha256(msgspec.json.encode(inventory, order="sorted")).hexdigest()
