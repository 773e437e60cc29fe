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
      | -- Measurement ----------------->  |   every monitoring_interval_sec (Welcome; 0 = none)
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
      | -- TermTaken(sid, n) ----------->  |   the PTY took n input bytes ("term_input_ack")
      | <------------- Bye(reconnect_in)   |   server shutting down
      | -- UpdateReport(version, state) ->  |   self-update (agent.update): agents with the
                                                "update" feature; Welcome.update / an "update"
                                                Request offer the release

Tunnels (agents whose hello lists the ``tunnel`` feature) carry TCP streams over this same
connection, so no port is opened on the client::

      | <-- TunnelOpen(stream, host, port) |   a connection was accepted on a tunnel's port
      | -- TunnelOpened(stream, ok) ------> |   the agent dialled the target (or not)
      | <-> TunnelData(stream, data) <----> |   at most 32 KiB each (JSON), within the peer's window
      | <-> TunnelAck(stream, size) <-----> |   the receiver wrote ``size`` bytes: more credit
      | <-> TunnelClose(stream) <---------> |   either end closed; the stream is gone

When both ends speak ``tunnel_binary`` (the agent's hello lists it, the server's Welcome.features
echoes it), TunnelData and TunnelAck travel as binary frames: a 5-byte header and the raw bytes
(``protocol.binary``), up to 128 KiB of data each; the other frames stay JSON.
UDP tunnels (agents whose hello lists ``udp``) carry datagrams the same way, one flow per
source address of the server's UDP port (``protocol/datagrams.py``), without acknowledgements
(UDP may lose them: a full queue drops, and counts)::

      | <-- UdpOpen(flow, host, port) ---- |   a new source sent to a tunnel's UDP port
      | <-> UdpData(flow, data) <--------> |   one datagram each, at most UDP_MAX_DATAGRAM
      | <-> UdpClose(flow) <-------------> |   the flow idled, failed or its tunnel closed

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
FEATURE_TUNNELS = "tunnel"  # carries TCP streams (TunnelOpen, TunnelData, ...)
FEATURE_UDP = "udp"  # carries UDP datagrams of tunnels (UdpOpen, UdpData, UdpClose)

FEATURE_UPDATE = "update"  # updates itself from Welcome.update, reports with UpdateReport
FEATURE_TERMINAL = "terminal"  # opens terminals (TermOpen ...); not listed when switched off
# runs command jobs with interpreter "zsh": listed only where zsh is installed. The server sends
# zsh jobs only to agents listing it (an older agent would refuse the whole JobRun frame).
FEATURE_ZSH = "zsh"
# Tunnel data and acks as binary frames (protocol.binary): the agent lists it in its hello, the
# server answers with it in Welcome.features; only then does either side send them that way.
FEATURE_BINARY_STREAMS = "tunnel_binary"
# Terminal input acknowledged as the PTY takes it (TermTaken): the agent lists it in its hello,
# the server answers with it in Welcome.features; then the server keeps at most
# TERM_WINDOW_BYTES of a session's input on its way, so a paste into a shell that is not
# reading waits on the server instead of overflowing the agent's buffer (which ends the session).
FEATURE_TERM_INPUT_ACK = "term_input_ack"

# Terminals: the bytes of one TermInput/TermOutput frame at most, and the output bytes an agent
# may send before the server acknowledges them (TermAck): what a slow browser can make either
# side hold for one session.
TERM_FRAME_BYTES = 16 * 1024
TERM_WINDOW_BYTES = 256 * 1024


# Request kinds. An agent answers a kind it does not know with Reply(ok=False).
PING = "ping"  # body {}; reply body {"time": unix time, "uptime": seconds since boot}
# body {"host", "port", "timeout"}; reply body {"open": bool, "error": str}: can the agent connect?
TUNNEL_CHECK = "tunnel_check"
# body {}; reply body: rportd's updates_status {refreshed, updates_available,
# security_updates_available, update_summaries: [{title, description, reboot_required,
# is_security_update}], reboot_pending, error, hint}: the package manager's pending updates.
UPDATES_STATUS = "updates_status"

# Tunnel streams: the largest data frame, and the bytes a receiver takes unacknowledged.
TUNNEL_FRAME = 32 * 1024
TUNNEL_WINDOW = 512 * 1024
# UDP tunnels: the largest datagram carried (the largest IPv4 UDP payload: none is too big), and
# how long a flow lives without a datagram either way before the server ends it.
UDP_MAX_DATAGRAM = 65507
UDP_FLOW_IDLE_SEC = 60.0
# body: an UpdateOffer's fields (a release was rolled out to this computer while connected);
# reply body {"running": version, "updating": bool}. Only to agents with FEATURE_UPDATE.
UPDATE = "update"

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
    # "zsh": only to agents that list FEATURE_ZSH (older agents would refuse the whole frame)
    interpreter: Literal["sh", "bash", "zsh", "powershell", "cmd"] | None = None
    cwd: str | None = None
    env: dict[str, str] = msgspec.field(default_factory=dict)
    timeout_sec: int = 300
    # run through ``sudo -n`` (never asks for a password: a refusal fails the job); not on Windows
    sudo: bool = False


class JobSpec(msgspec.Struct, omit_defaults=True):
    """One unit of work for this agent. ``kind`` selects the executor on the agent."""

    id: int
    kind: str  # "command", "package_install", "package_uninstall"
    command: CommandSpec | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)


# ---------------------------------------------------------------- agent -> server


class Enroll(Message, tag="enroll"):
    token: str  # empty when ``client_auth`` is given
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
    # An agent credential (rportd's client auth: an id and a password an admin created) to
    # enroll with instead of a one-time token; empty: the token.
    client_auth_id: str = ""
    client_auth_password: str = ""


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


class Mountpoint(msgspec.Struct, omit_defaults=True):
    path: str
    total_bytes: int
    free_bytes: int


class ProcessSample(msgspec.Struct, omit_defaults=True):
    pid: int
    name: str = ""
    user: str = ""
    cmdline: str = ""
    parent_pid: int = 0
    num_threads: int = 0
    cpu_percent: float = 0.0
    memory_percent: float = 0.0
    rss_bytes: int = 0


class Measurement(Message, tag="measurement"):
    """What the agent measured over its last monitoring interval. Network rates are bytes/s
    (``lan``: every non-loopback interface; ``wan`` is for agents told which card that is);
    ``*_mbit`` the cards' speed, for percentages (None: unknown). The server bounds the
    mountpoints and processes it keeps (``core.monitoring``)."""

    cpu_usage_percent: float
    memory_usage_percent: float
    io_usage_percent: float | None = None
    net_lan_in: float | None = None
    net_lan_out: float | None = None
    net_lan_mbit: float | None = None
    net_wan_in: float | None = None
    net_wan_out: float | None = None
    net_wan_mbit: float | None = None
    mountpoints: list[Mountpoint] = msgspec.field(default_factory=list)
    processes: list[ProcessSample] = msgspec.field(default_factory=list)


UpdateState = Literal["downloading", "installing", "probing", "restarting", "done", "failed", "rolled_back"]


class UpdateReport(Message, tag="update_report"):
    """How this agent's self-update to ``version`` goes (only agents with ``FEATURE_UPDATE``)."""

    version: str
    state: UpdateState
    error: str = ""
    running: str = ""  # the version this agent runs now


class Reply(Message, tag="reply"):
    """The answer to the server's ``Request`` with id ``ref_id``: a small body, or an error."""

    ref_id: int
    ok: bool = True
    error: str = ""
    body: dict[str, Any] = msgspec.field(default_factory=dict)


# ---------------------------------------------------------------- terminals (agent -> server)


class TermOpened(Message, tag="term_opened"):
    """The answer to ``TermOpen``: the shell runs (ok), or why not (not supported, off)."""

    sid: str
    ok: bool = True
    error: str = ""


class TermOutput(Message, tag="term_output"):
    sid: str
    data: bytes  # base64 in JSON; at most TERM_FRAME_BYTES


class TermTaken(Message, tag="term_taken"):
    """The PTY took ``bytes`` more input bytes of the session: the server may send as many more
    (at most TERM_WINDOW_BYTES not taken). Only when both sides list FEATURE_TERM_INPUT_ACK."""

    sid: str
    bytes: int


class TermExit(Message, tag="term_exit"):
    """The session is over on the agent (the shell exited, or was killed on TermClose)."""

    sid: str
    exit_code: int | None = None
    error: str = ""


# ---------------------------------------------------------------- tunnels (both ways)


class TunnelOpened(Message, tag="tunnel_opened"):
    """The agent's answer to ``TunnelOpen``: connected to the target, or why not."""

    stream: int
    ok: bool = True
    error: str = ""


class TunnelData(Message, tag="tunnel_data"):
    """Bytes of one stream (base64 in the JSON frame), at most ``TUNNEL_FRAME``; a sender never
    has more than the receiver's window unacknowledged."""

    stream: int
    data: bytes


class TunnelAck(Message, tag="tunnel_ack"):
    """The receiver wrote ``size`` bytes of the stream on: the sender may send that many more."""

    stream: int
    size: int


class TunnelClose(Message, tag="tunnel_close"):
    """One end closed its socket (or failed); the stream ends on both sides."""

    stream: int
    error: str = ""


# ---------------------------------------------------------------- UDP tunnels (datagrams)


class UdpOpen(Message, tag="udp_open"):
    """Server -> agent: a new flow (a source address of a tunnel's UDP port). The agent opens a
    UDP socket connected to ``host:port`` for it; datagrams of the flow may follow at once. It
    ends the flow itself (``UdpClose``) only after ``idle_sec`` twice without a datagram: the
    server ends idle flows."""

    flow: int
    host: str
    port: int
    idle_sec: float = UDP_FLOW_IDLE_SEC


class UdpData(Message, tag="udp_data"):
    """One datagram of a flow (base64 in the JSON frame), at most ``UDP_MAX_DATAGRAM`` bytes."""

    flow: int
    data: bytes


class UdpClose(Message, tag="udp_close"):
    """The flow is over (idle, its tunnel closed, the agent could not open it or had too many)."""

    flow: int
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
    # The server's Ed25519 public key for agent releases (base64 of its 32 bytes): the agent pins
    # it and installs only releases signed with it. Empty: the server has none yet.
    update_key: str = ""


class UpdateOffer(msgspec.Struct, omit_defaults=True):
    """An agent release this computer should run: downloaded from ``/agent/v1/update/VERSION``.
    ``signature`` is Ed25519 (base64) over ``release_statement(version, sha256)``."""

    version: str
    sha256: str
    size: int
    signature: str


def release_statement(version: str, sha256: str) -> bytes:
    """What an agent release's signature covers: its version and its file's SHA-256."""
    return f"fleetdeck-agent-release\n{version}\nsha256:{sha256}\n".encode()


class Welcome(Message, tag="welcome"):
    computer_id: int
    heartbeat_sec: float
    server_version: str
    want_inventory: bool = True
    # The server's reconnect window (what its Bye would say): an agent whose healthy
    # connection drops without a Bye keeps its retries within it. 0 = not told (older servers).
    reconnect_window_sec: float = 0.0
    # Send a Measurement this often (s); 0 = monitoring off (and older servers say nothing).
    monitoring_interval_sec: float = 0.0
    # Sent to agents with FEATURE_UPDATE: the release key (pinned on first sight by agents
    # enrolled before it existed) and the release this computer should run, if not the one it runs.
    update_key: str = ""
    update: UpdateOffer | None = None
    # Features of the agent's hello the server takes up (FEATURE_BINARY_STREAMS); older servers
    # say nothing, and the agent sends as they expect.
    features: list[str] = msgspec.field(default_factory=list)


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


class TunnelOpen(Message, tag="tunnel_open"):
    """Connect to ``host:port`` and carry stream ``stream`` (ids are chosen by the server, unique
    per connection). ``window``: the bytes the server takes unacknowledged on this stream."""

    stream: int
    host: str
    port: int
    window: int = TUNNEL_WINDOW


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
    | Measurement
    | UpdateReport
    | TunnelOpened
    | TunnelData
    | TunnelAck
    | TunnelClose
    | UdpData
    | UdpClose
    | TermOpened
    | TermOutput
    | TermTaken
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
    | TunnelOpen
    | TunnelData
    | TunnelAck
    | TunnelClose
    | UdpOpen
    | UdpData
    | UdpClose
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
