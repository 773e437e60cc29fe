"""opsi 4.3's message bus at ``/messagebus/v1``, through the real endpoint: the server as
``fleetdeck server`` runs it (uvicorn on a loopback port) and a small client written here from
opsi's message definitions (python-opsi-common's ``opsicommon.messagebus.message``: a msgpack
dict per binary frame with ``type``, ``id``, ``sender``, ``channel``, ``back_channel``,
``created``, ``expires``, ``ref_id`` and the type's own fields), over a real WebSocket. An agent
is played by a protocol-speaking WebSocket client, as in the agent endpoint's tests."""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import lz4.frame
import msgspec
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.query import Query
from fleetdeck.protocol import messages as m
from fleetdeck.settings import Settings
from tests.live_server import LiveServer, running
from tests.waiting import wait_for

from .conftest import enroll, token_of
from .test_products import PRODUCT

DOMAIN = "fleetdeck.local"

Msg = dict[str, Any]


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


class BusClient:
    """What opsi's ServiceClient does on ``connect_messagebus()``: one WebSocket, msgpack
    messages (or JSON text frames, or lz4-compressed frames), ``$``/``@`` as the channel names
    of its own session and user."""

    def __init__(
        self, ws: ClientConnection, *, json_frames: bool = False, compression: str | None = None
    ) -> None:
        self.ws = ws
        self.json = json_frames
        self.compression = compression
        self.welcome = self.recv()  # the server's first word: the subscribed channels

    def send_raw(self, data: bytes | str) -> None:
        self.ws.send(data)

    def send(self, kind: str, channel: str, **fields: Any) -> str:
        now = int(time.time() * 1000)
        msg = {
            "type": kind,
            "id": str(uuid.uuid4()),
            "sender": "@",
            "channel": channel,
            "back_channel": "$",
            "created": now,
            "expires": now + 60_000,
            **fields,
        }
        if self.json:
            self.ws.send(json.dumps(msg))
        else:
            data = msgspec.msgpack.encode(msg)
            self.ws.send(lz4.frame.compress(data) if self.compression == "lz4" else data)
        return str(msg["id"])

    def recv(self, timeout: float = 10) -> Msg:
        frame = self.ws.recv(timeout=timeout)
        if isinstance(frame, str):
            decoded = json.loads(frame)
        else:
            decoded = msgspec.msgpack.decode(
                lz4.frame.decompress(frame) if self.compression == "lz4" else frame
            )
        assert isinstance(decoded, dict)
        return decoded

    def next(self, match: Callable[[Msg], bool], timeout: float = 10) -> Msg:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(max(0.1, deadline - time.monotonic()))
            if match(msg):
                return msg

    def answer(self, ref: str, timeout: float = 10) -> Msg:
        return self.next(lambda msg: msg.get("ref_id") == ref, timeout)

    def rpc(self, method: str, *params: Any) -> Msg:
        ref = self.send(
            "jsonrpc_request", "service:config:jsonrpc", rpc_id=method, method=method, params=list(params)
        )
        answer = self.answer(ref)
        assert answer["type"] == "jsonrpc_response", answer
        return answer

    def subscribe(self, *channels: str, operation: str = "add") -> Msg:
        ref = self.send(
            "channel_subscription_request", "service:messagebus", channels=list(channels), operation=operation
        )
        answer = self.answer(ref)
        assert answer["type"] == "channel_subscription_event"
        return answer


@pytest.fixture
def live(settings: Settings, runtime: Runtime, admin: Actor) -> Iterator[LiveServer]:
    with running(settings, runtime) as server:
        yield server


@pytest.fixture
def admin_auth(runtime: Runtime, admin: Actor) -> str:
    return basic("admin", token_of(runtime, admin))


@contextlib.contextmanager
def bus(live: LiveServer, authorization: str, query: str = "", **kw: Any) -> Iterator[BusClient]:
    url = f"ws://127.0.0.1:{live.port}/messagebus/v1{query}"
    with connect(url, additional_headers={"Authorization": authorization}, max_size=None) as ws:
        yield BusClient(ws, **kw)


def rest(live: LiveServer, authorization: str, method: str, *params: Any) -> Any:
    """A call through ``/rpc`` on the same server (another admin tool making a change)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    r = httpx.post(f"{live.url}/rpc", json=body, headers={"Authorization": authorization}, timeout=15)
    assert r.status_code == 200 and "error" not in r.json(), r.text
    return r.json()["result"]


# ------------------------------------------------------------------ connecting


def test_a_connection_starts_subscribed_to_its_session_and_user(live: LiveServer, admin_auth: str) -> None:
    with bus(live, admin_auth) as c:
        hello = c.welcome
        assert hello["type"] == "channel_subscription_event"
        session = [ch for ch in hello["subscribed_channels"] if ch.startswith("session:")]
        assert len(session) == 1 and uuid.UUID(session[0].split(":")[1]).version == 4
        assert "user:admin" in hello["subscribed_channels"]
        assert hello["channel"] == session[0] and hello["sender"].startswith("service_worker:")
        assert {"id", "created", "expires"} <= hello.keys() and "error" not in hello  # None left out, as opsi
        response = c.ws.response
        assert response is not None and response.headers["server"].startswith("opsiconfd 4.3")


@pytest.mark.parametrize(
    "authorization",
    [None, basic("admin", "wrong-password"), basic("pc-9.fleetdeck.local", "0" * 32)],
    ids=["none", "bad-password", "unknown-host"],
)
def test_unauthenticated_connects_are_refused_before_the_upgrade(
    live: LiveServer, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with pytest.raises(InvalidStatus) as caught:
        connect(f"ws://127.0.0.1:{live.port}/messagebus/v1", additional_headers=headers).close()
    assert caught.value.response.status_code == 401
    assert caught.value.response.headers["server"].startswith("opsiconfd 4.3")


def test_the_session_cookie_of_rpc_opens_the_bus(live: LiveServer, admin_auth: str) -> None:
    r = httpx.post(
        f"{live.url}/rpc",
        json={"id": 1, "method": "backend_info", "params": []},
        headers={"Authorization": admin_auth},
    )
    cookie = r.cookies["opsiconfd-session"]
    url = f"ws://127.0.0.1:{live.port}/messagebus/v1"
    with connect(url, additional_headers={"Cookie": f"opsiconfd-session={cookie}"}) as ws:
        assert "user:admin" in BusClient(ws).welcome["subscribed_channels"]


def test_an_unknown_compression_is_refused(live: LiveServer, admin_auth: str) -> None:
    with pytest.raises(InvalidStatus) as caught:
        connect(
            f"ws://127.0.0.1:{live.port}/messagebus/v1?compression=zip",
            additional_headers={"Authorization": admin_auth},
        ).close()
    assert caught.value.response.status_code == 400
    assert b"valid compressions are lz4 and gzip" in caught.value.response.body


# ------------------------------------------------------------------ JSON-RPC over the bus


@pytest.mark.parametrize("how", ["msgpack", "json", "lz4"])
def test_jsonrpc_over_the_bus_is_the_rpc_engine(live: LiveServer, admin_auth: str, how: str) -> None:
    query = "?compression=lz4" if how == "lz4" else ""
    with bus(
        live, admin_auth, query, json_frames=how == "json", compression="lz4" if how == "lz4" else None
    ) as c:
        created = c.rpc("host_createOpsiClient", "pc-7.fleetdeck.local")
        assert "error" not in created and created["rpc_id"] == "host_createOpsiClient"
        hosts = c.rpc("host_getObjects", ["id"], {"type": "OpsiClient"})
        assert [h["id"] for h in hosts["result"]] == ["pc-7.fleetdeck.local"]
        assert hosts["channel"] == c.welcome["channel"]  # the back channel: this session

        wrong = c.rpc("host_getObjects", 5)
        assert "result" not in wrong
        assert wrong["error"]["code"] == 0 and wrong["error"]["data"]["class"]  # opsi's JSON-RPC 2.0 error
        unknown = c.rpc("no_such_method")
        assert unknown["error"]["message"] == "Invalid method 'no_such_method'"

        # the server's own record names the URL it was reached at, as through /rpc
        over_bus = c.rpc("host_getObjects", [], {"type": "OpsiConfigserver"})["result"]
        assert over_bus == rest(live, admin_auth, "host_getObjects", [], {"type": "OpsiConfigserver"})
        assert str(live.url) in json.dumps(over_bus)


def test_a_client_may_call_what_rpc_lets_it_and_reads_only_its_own_channels(
    live: LiveServer, runtime: Runtime, admin: Actor
) -> None:
    _, key = enroll(runtime, admin, "pc-1")
    enroll(runtime, admin, "pc-2")
    with bus(live, basic(f"pc-1.{DOMAIN}", key)) as c:
        assert f"host:pc-1.{DOMAIN}" in c.welcome["subscribed_channels"]
        denied = c.rpc("host_delete", f"pc-2.{DOMAIN}")
        assert denied["error"]["message"] == "No permission for method 'host_delete'"
        assert c.rpc("backend_info")["result"]

        other = c.subscribe(f"host:pc-2.{DOMAIN}")
        assert other["error"]["message"] == f"Read access to channel 'host:pc-2.{DOMAIN}' denied"
        assert f"host:pc-2.{DOMAIN}" not in other["subscribed_channels"]
        events = c.subscribe("event:host_created")
        assert "denied" in events["error"]["message"]
        own = c.subscribe(f"host:pc-1.{DOMAIN}", "@")
        assert "error" not in own and f"host:pc-1.{DOMAIN}" in own["subscribed_channels"]

        # nor may it send to another host's channel
        ref = c.send(
            "process_start_request", f"host:pc-2.{DOMAIN}", process_id=str(uuid.uuid4()), command=["id"]
        )
        refused = c.answer(ref)
        assert refused["type"] == "general_error" and "denied" in refused["error"]["message"]


def test_a_login_that_ends_ends_the_connection(
    live: LiveServer, runtime: Runtime, admin: Actor, admin_auth: str, system: Actor
) -> None:
    from fleetdeck.core.authz import Role

    user = runtime.services.users.create(system, "olga", "olga-password-1", Role.ADMIN)
    olga = Actor(user_id=user.id, username="olga", role=Role.ADMIN)
    with bus(live, basic("olga", token_of(runtime, olga))) as c:
        assert "result" in c.rpc("backend_info")
        runtime.services.users.update(admin, user.id, disabled=True)
        ref = c.send("jsonrpc_request", "service:config:jsonrpc", rpc_id=1, method="backend_info", params=[])
        ended = c.answer(ref)
        assert ended["type"] == "general_error" and "no longer valid" in ended["error"]["message"]
        with pytest.raises(ConnectionClosed):
            c.recv()
        assert c.ws.close_code == 1008


def test_an_idle_connection_ends_with_its_login(
    live: LiveServer, runtime: Runtime, admin: Actor, system: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events reach a connection that sends nothing: its login is checked periodically too."""
    from fleetdeck.api.dialects.opsi import messagebus
    from fleetdeck.core.authz import Role

    monkeypatch.setattr(messagebus, "RECHECK_SEC", 0.2)
    user = runtime.services.users.create(system, "ida", "ida-password-1", Role.ADMIN)
    ida = Actor(user_id=user.id, username="ida", role=Role.ADMIN)
    with bus(live, basic("ida", token_of(runtime, ida))) as c:
        c.subscribe("event:host_created")
        runtime.services.users.update(admin, user.id, disabled=True)
        ended = c.next(lambda msg: msg["type"] == "general_error")
        assert "no longer valid" in ended["error"]["message"]
        with pytest.raises(ConnectionClosed):
            c.recv()
        assert c.ws.close_code == 1008


# ------------------------------------------------------------------ bad input


def test_bad_frames_are_answered_with_general_errors_and_the_connection_stays(
    live: LiveServer, admin_auth: str
) -> None:
    with bus(live, admin_auth) as c:
        c.send_raw(b"\xc1\xc1 not msgpack")
        assert c.recv()["error"]["message"].startswith("Invalid message received")
        c.send_raw(msgspec.msgpack.encode([1, 2, 3]))
        assert c.recv()["error"]["message"] == "Invalid message received: not a map"
        c.send_raw(msgspec.msgpack.encode({"type": "jsonrpc_request", "channel": "service:config:jsonrpc"}))
        missing = c.recv()
        assert missing["type"] == "general_error" and "'id'" in missing["error"]["message"]
        c.send_raw("{not json")
        assert c.recv()["error"]["message"].startswith("Invalid message received")
        ref = c.send("event", "host:pc-1.fleetdeck.local", event="x", data={})
        relay = c.answer(ref)
        assert "does not relay messages" in relay["error"]["message"]
        ref = c.send(
            "channel_subscription_request", "service:messagebus", channels=["event:x"], operation="add"
        )
        assert "Invalid channel 'event:x'" in c.answer(ref)["error"]["message"]
        ref = c.send("channel_subscription_request", "service:messagebus", channels=["@"], operation="merge")
        assert c.answer(ref)["error"]["message"] == "Invalid operation 'merge'"
        assert "result" in c.rpc("backend_info")  # still serving


def test_an_oversized_message_is_refused_not_decoded(live: LiveServer, admin_auth: str) -> None:
    from fleetdeck.api.dialects.opsi.messagebus import MAX_MESSAGE_BYTES

    with bus(live, admin_auth) as c:
        ref = c.send(
            "jsonrpc_request",
            "service:config:jsonrpc",
            method="backend_info",
            params=["x" * MAX_MESSAGE_BYTES],
        )
        del ref  # the message is not read, so nothing refers to its id
        too_big = c.recv()
        assert too_big["type"] == "general_error" and "Message too large" in too_big["error"]["message"]
        bomb = lz4.frame.compress(b"\x00" * (MAX_MESSAGE_BYTES + 1024))
    with bus(live, admin_auth, "?compression=lz4", compression="lz4") as c:
        c.send_raw(bomb)  # small on the wire, too large once inflated
        assert "Invalid message received" in c.recv()["error"]["message"]
        assert "result" in c.rpc("backend_info")


def test_what_fleetdeck_cannot_do_is_answered_with_opsis_error_messages(
    live: LiveServer, admin_auth: str
) -> None:
    with bus(live, admin_auth) as c:
        ref = c.send("terminal_open_request", "host:pc-1.fleetdeck.local", terminal_id="t1", rows=24, cols=80)
        term = c.answer(ref)
        assert (term["type"], term["terminal_id"]) == ("terminal_error", "t1")
        assert "no interactive terminals" in term["error"]["message"]
        file_id = str(uuid.uuid4())
        ref = c.send(
            "file_upload_request", "host:pc-1.fleetdeck.local", file_id=file_id, content_type="text/plain"
        )
        up = c.answer(ref)
        assert (up["type"], up["file_id"]) == ("file_transfer_error", file_id)
        pid = str(uuid.uuid4())
        ref = c.send("process_start_request", "service:config:process", process_id=pid, command=["id"])
        server = c.answer(ref)
        assert (server["type"], server["process_id"]) == ("process_error", pid)
        assert "no processes on the server" in server["error"]["message"]
        ref = c.send("trace_request", "service:messagebus", trace={"client_send": 1})
        trace = c.answer(ref)
        assert trace["type"] == "trace_response" and trace["req_trace"] == {"client_send": 1}


# ------------------------------------------------------------------ events from core


def test_host_and_product_on_client_changes_become_events(live: LiveServer, admin_auth: str) -> None:
    with bus(live, admin_auth) as c:
        sub = c.subscribe(
            "event:host_created",
            "event:host_updated",
            "event:host_deleted",
            "event:productOnClient_created",
            "event:productOnClient_updated",
        )
        assert "error" not in sub and "event:host_created" in sub["subscribed_channels"]
        client = f"pc-5.{DOMAIN}"
        rest(live, admin_auth, "host_createOpsiClient", client)  # another tool, through /rpc
        created = c.next(lambda msg: msg["type"] == "event")
        assert (created["channel"], created["event"]) == ("event:host_created", "host_created")
        assert created["data"] == {"type": "OpsiClient", "id": client}

        rest(live, admin_auth, "host_updateObject", {"id": client, "type": "OpsiClient", "description": "x"})
        updated = c.next(lambda msg: msg["type"] == "event")
        assert (updated["event"], updated["data"]["id"]) == ("host_updated", client)

        rest(live, admin_auth, "product_createObjects", [PRODUCT])
        rest(live, admin_auth, "setProductActionRequest", PRODUCT["id"], client, "setup")
        poc = c.next(lambda msg: msg["type"] == "event" and msg["event"].startswith("productOnClient"))
        assert poc["event"] == "productOnClient_created"
        assert poc["data"] == {
            "productId": PRODUCT["id"],
            "productType": "LocalbootProduct",
            "clientId": client,
            "installationStatus": "not_installed",
            "actionRequest": "setup",
        }
        rest(live, admin_auth, "setProductActionRequest", PRODUCT["id"], client, "none")
        none = c.next(lambda msg: msg["type"] == "event" and msg["event"].startswith("productOnClient"))
        assert (none["event"], none["data"]["actionRequest"]) == ("productOnClient_updated", "none")

        c.subscribe("event:host_created", operation="remove")
        rest(live, admin_auth, "host_createOpsiClient", f"pc-6.{DOMAIN}")
        rest(live, admin_auth, "host_delete", client)
        deleted = c.next(lambda msg: msg["type"] == "event")
        assert (deleted["event"], deleted["data"]["id"]) == ("host_deleted", client)  # pc-6's was not sent


# ------------------------------------------------------------------ processes as jobs


@contextlib.contextmanager
def agent_of(live: LiveServer, runtime: Runtime, admin: Actor, hostname: str) -> Iterator[ClientConnection]:
    """The computer's agent, played over the agent protocol: connected and welcomed."""
    token = runtime.services.enrollment.create_token(admin, max_uses=1)
    creds = runtime.services.enrollment.enroll(
        token.token, hostname=hostname, machine_id=f"m-{hostname}", agent_version="1", source="127.0.0.1"
    )
    with connect(live.ws_url) as ws:
        ws.send(m.encode(m.Hello(uid=creds.uid, key=creds.key, agent_version="1")))
        assert isinstance(m.decode_from_server(ws.recv(timeout=10)), m.Welcome)
        # online once the hub's next presence flush has run (every 20 ms)
        wait_for(
            lambda: runtime.services.computers.get(admin, creds.computer_id).summary.online, 10, what="online"
        )
        yield ws


def next_run(ws: ClientConnection) -> m.JobRun:
    while True:
        frame = m.decode_from_server(ws.recv(timeout=10))
        if isinstance(frame, m.JobRun):
            return frame


def test_a_process_runs_as_a_command_job_and_streams_its_output(
    live: LiveServer, runtime: Runtime, admin: Actor, admin_auth: str
) -> None:
    with agent_of(live, runtime, admin, "pc-3") as agent, bus(live, admin_auth) as c:
        pid = str(uuid.uuid4())
        ref = c.send(
            "process_start_request",
            f"host:pc-3.{DOMAIN}",
            process_id=pid,
            command=["echo", "a b"],
            timeout=30,
        )
        run = next_run(agent)
        assert run.job.kind == "command" and run.job.command is not None
        assert run.job.command.command == "echo 'a b'"  # the argument vector, quoted for the shell
        started = c.answer(ref)
        assert (started["type"], started["process_id"], started["os_process_id"]) == (
            "process_start_event",
            pid,
            0,
        )
        assert started["sender"] == f"host:pc-3.{DOMAIN}"

        agent.send(m.encode(m.JobOutput(job_id=run.job.id, stream="stdout", seq=1, data="a b\n")))
        agent.send(m.encode(m.JobOutput(job_id=run.job.id, stream="stderr", seq=2, data="warning\n")))
        out = c.next(lambda msg: msg["type"] == "process_data_read" and msg["stdout"])
        assert (out["process_id"], out["stdout"]) == (pid, b"a b\n")
        err = c.next(lambda msg: msg["type"] == "process_data_read")
        assert err["stderr"] == b"warning\n"
        agent.send(m.encode(m.JobResult(job_id=run.job.id, status="failed", exit_code=3, stdout="a b\n")))
        stop = c.next(lambda msg: msg["type"] == "process_stop_event")
        assert (stop["process_id"], stop["exit_code"], stop["ref_id"]) == (pid, 3, ref)
    job = runtime.services.jobs.get(admin, run.job.id)
    assert (job.kind, job.exit_code, job.created_by) == ("command", 3, "admin")


def test_process_stop_cancels_the_job_and_offline_hosts_get_an_error(
    live: LiveServer, runtime: Runtime, admin: Actor, admin_auth: str
) -> None:
    enroll(runtime, admin, "pc-8")  # enrolled, never connected
    with agent_of(live, runtime, admin, "pc-4") as agent, bus(live, admin_auth) as c:
        offline = str(uuid.uuid4())
        ref = c.send("process_start_request", f"host:pc-8.{DOMAIN}", process_id=offline, command=["true"])
        refused = c.answer(ref)
        assert refused["type"] == "process_error" and "not connected" in refused["error"]["message"]

        pid = str(uuid.uuid4())
        c.send(
            "process_start_request",
            f"host:pc-4.{DOMAIN}",
            process_id=pid,
            command=["sleep", "60"],
            shell=False,
        )
        run = next_run(agent)
        c.next(lambda msg: msg["type"] == "process_start_event")
        stop_ref = c.send("process_stop_request", f"host:pc-4.{DOMAIN}", process_id=pid)
        while True:  # the agent is told to stop the job, and reports it cancelled
            frame = m.decode_from_server(agent.recv(timeout=10))
            if isinstance(frame, m.JobCancel):
                break
        agent.send(
            m.encode(m.JobResult(job_id=run.job.id, status="cancelled", exit_code=None, message="stopped"))
        )
        error = c.next(lambda msg: msg["type"] == "process_error")
        assert error["error"]["message"] == "stopped"
        stop = c.next(lambda msg: msg["type"] == "process_stop_event")
        assert stop["process_id"] == pid and stop["exit_code"] == -1
        ref = c.send("process_stop_request", f"host:pc-4.{DOMAIN}", process_id=pid)
        assert "No such process" in c.answer(ref)["error"]["message"]
        del stop_ref


# opsi 4.3's message types (python-opsi-common's MessageType), spelled as on the wire.
OPSI_TYPES = [
    "general_error",
    "event",
    "channel_subscription_request",
    "channel_subscription_event",
    "trace_request",
    "trace_response",
    "jsonrpc_request",
    "jsonrpc_response",
    "terminal_error",
    "terminal_open_request",
    "terminal_open_event",
    "terminal_resize_request",
    "terminal_resize_event",
    "terminal_data_read",
    "terminal_data_write",
    "terminal_close_request",
    "terminal_close_event",
    "process_error",
    "process_start_request",
    "process_start_event",
    "process_stop_request",
    "process_stop_event",
    "process_data_read",
    "process_data_write",
    "file_transfer_error",
    "file_upload_request",
    "file_upload_response",
    "file_upload_result",
    "file_download_request",
    "file_download_abort_request",
    "file_download_information",
    "file_chunk",
]


def test_the_compat_table_names_every_opsi_message_type() -> None:
    from fleetdeck.api.dialects.opsi.messagebus import MESSAGE_TYPES

    assert sorted(kind for kind, _, _ in MESSAGE_TYPES) == sorted(OPSI_TYPES)


def test_every_refused_message_type_is_answered_with_an_error_that_says_why(
    live: LiveServer, admin_auth: str
) -> None:
    from fleetdeck.api.dialects.opsi.messagebus import MESSAGE_TYPES

    refused = [(kind, note) for kind, status, note in MESSAGE_TYPES if status == "refused"]
    assert refused
    with bus(live, admin_auth) as c:
        for kind, note in refused:
            ref = c.send(kind, f"host:pc-1.{DOMAIN}", terminal_id="t", file_id=str(uuid.uuid4()))
            answer = c.answer(ref)
            assert answer["type"].endswith("_error"), (kind, answer)
            assert answer["error"]["message"] == note, kind


def test_a_viewer_may_not_start_processes(
    live: LiveServer, runtime: Runtime, admin: Actor, system: Actor
) -> None:
    from fleetdeck.core.authz import Role

    user = runtime.services.users.create(system, "vera", "vera-password-1", Role.VIEWER)
    vera = Actor(user_id=user.id, username="vera", role=Role.VIEWER)
    with agent_of(live, runtime, admin, "pc-9"), bus(live, basic("vera", token_of(runtime, vera))) as c:
        pid = str(uuid.uuid4())
        ref = c.send("process_start_request", f"host:pc-9.{DOMAIN}", process_id=pid, command=["id"])
        denied = c.answer(ref)
        assert (denied["type"], denied["process_id"]) == ("process_error", pid)
        assert denied["error"]["message"] == "vera (viewer) lacks permission run_commands"
    assert runtime.services.jobs.find(admin, Query()).items == []  # no job was made


def test_a_quick_process_whose_output_came_only_with_its_result_still_reads_it(
    live: LiveServer, runtime: Runtime, admin: Actor, admin_auth: str
) -> None:
    """The agent sends a command that ends within a moment as one result frame, no output
    frames: the output is read out of the stored result before the stop event."""
    with agent_of(live, runtime, admin, "pc-2") as agent, bus(live, admin_auth) as c:
        pid = str(uuid.uuid4())
        c.send("process_start_request", f"host:pc-2.{DOMAIN}", process_id=pid, command=["hostname"])
        run = next_run(agent)
        agent.send(m.encode(m.JobResult(job_id=run.job.id, status="succeeded", exit_code=0, stdout="pc-2\n")))
        read = c.next(lambda msg: msg["type"] == "process_data_read")
        assert (read["process_id"], read["stdout"]) == (pid, b"pc-2\n") and "stderr" not in read
        stop = c.next(lambda msg: msg["type"] != "process_start_event")
        assert (stop["type"], stop["exit_code"]) == ("process_stop_event", 0)
