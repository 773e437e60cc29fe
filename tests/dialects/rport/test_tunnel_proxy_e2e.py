"""HTTP into tunnels on a real server process and a real agent process: rportd's ``http_proxy``
(HTTPS on the tunnel's port, the certificate verified against fleetdeck's CA, basic auth asked
for and refused, Host rewritten, the caller's Authorization not passed on) and the route
``/tunnels/{computer}/{key}/`` on the server's own port (401 without credentials, 403 for a
user without remote access, the admin's request reaching the remote with no credentials of
fleetdeck's)."""

from __future__ import annotations

import http.server
import json
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.dialects.rport.test_tunnels_e2e import client, free_port, put_tunnel, serve_http
from tests.e2e.conftest import ADMIN_PASSWORD, ServerProc, agent_factory, server, server_factory
from tests.ports import free_tcp_and_udp_port
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e
__all__ = ["agent_factory", "client", "server", "server_factory"]  # fixtures


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers with what it was sent: path, Host, whether an Authorization or cookie came."""

    protocol_version = "HTTP/1.1"

    def _answer(self, body_in: bytes = b"") -> None:
        body = json.dumps(
            {
                "path": self.path,
                "host": self.headers.get("Host"),
                "authorization": self.headers.get("Authorization"),
                "cookie": self.headers.get("Cookie"),
                "forwarded_prefix": self.headers.get("X-Forwarded-Prefix"),
                "body": body_in.decode(),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "fleetdeck_session=planted; Path=/")
        self.send_header("Set-Cookie", "app=1; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def echo() -> Iterator[int]:
    yield from serve_http(_Echo)


def test_http_proxy_with_tls_basic_auth_and_host_header(
    server: ServerProc, client: tuple[httpx.Client, str, Any], echo: int
) -> None:
    c, uid, _agent = client
    lport = free_port()
    r = put_tunnel(
        c,
        uid,
        remote=f"127.0.0.1:{echo}",
        local=f"127.0.0.1:{lport}",
        scheme="http",
        http_proxy="true",
        host_header="intranet.example",
        auth_user="alice",
        auth_password="s3cret-Pass",
    )
    assert r.status_code == 200, r.text
    t = r.json()["data"]
    assert (t["http_proxy"], t["host_header"], t["auth_user"], t["auth_password"]) == (
        True,
        "intranet.example",
        "alice",
        "",
    )
    listed = c.get("/tunnels").json()["data"]
    assert [x["auth_password"] for x in listed] == [""]

    # TLS with the certificate of fleetdeck's CA (the server runs without TLS: made at first use)
    ca = server.data_dir / "tunnel-proxy-tls" / "ca-cert.pem"
    verified = ssl.create_default_context(cafile=str(ca))
    url = f"https://127.0.0.1:{lport}/some/page?x=1"
    with httpx.Client(verify=verified, timeout=30) as https:
        refused = https.get(url)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic")
        assert https.get(url, auth=("alice", "wrong")).status_code == 401
        assert https.get(url, auth=("mallory", "s3cret-Pass")).status_code == 401
        ok = https.get(url, auth=("alice", "s3cret-Pass"))
        assert ok.status_code == 200, ok.text
        seen = ok.json()
        assert seen["path"] == "/some/page?x=1"
        assert seen["host"] == "intranet.example"
        assert seen["authorization"] is None  # the proxy's own credentials stay with the proxy
        assert len(ok.headers.get_list("set-cookie")) == 2  # its own origin: passed as they are
        posted = https.post(url, auth=("alice", "s3cret-Pass"), content=b"a body")
        assert posted.json()["body"] == "a body"
    # a client that trusts nothing but the system's CAs refuses the certificate
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=10)
    # plain HTTP on the TLS port gets no answer from the remote
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{lport}/", timeout=10).raise_for_status()

    # the ACL applies to the proxy too, per request
    assert c.put(f"/clients/{uid}/tunnels/{t['id']}/acl", json={"acl": "10.9.8.7"}).status_code == 204
    with httpx.Client(verify=verified, timeout=30) as https:
        assert https.get(url, auth=("alice", "s3cret-Pass")).status_code == 403
    r = c.delete(f"/clients/{uid}/tunnels/{t['id']}", params={"force": "1"})
    assert r.status_code == 204, r.text
    with pytest.raises(httpx.HTTPError):
        httpx.get(url, verify=verified, timeout=10)


def test_tunnel_through_the_main_port(
    server: ServerProc, client: tuple[httpx.Client, str, Any], echo: int
) -> None:
    c, uid, _agent = client
    r = put_tunnel(c, uid, remote=f"127.0.0.1:{echo}", scheme="http")
    assert r.status_code == 200, r.text
    key = r.json()["data"]["id"]
    with server.client() as v1:
        computer_id = v1.get("/computers").json()["data"][0]["id"]
        made = v1.post("/users", json={"username": "vera", "password": "password-1", "role": "viewer"})
        assert made.status_code == 201, made.text
    base = f"{server.url}/tunnels/{computer_id}/{key}"
    with httpx.Client(timeout=30) as h:
        assert h.get(f"{base}/x").status_code == 401
        assert h.get(f"{base}/x", auth=("admin", "wrong-password")).status_code == 401
        denied = h.get(f"{base}/x", auth=("vera", "password-1"))
        assert denied.status_code == 403, denied.text
        assert (
            h.get(f"{server.url}/tunnels/{computer_id}/999/x", auth=("admin", ADMIN_PASSWORD)).status_code
            == 404
        )
        slash = h.get(base, auth=("admin", ADMIN_PASSWORD))
        assert (slash.status_code, slash.headers["location"]) == (308, f"/tunnels/{computer_id}/{key}/")
        ok = h.get(
            f"{base}/deep/path?q=1",
            auth=("admin", ADMIN_PASSWORD),
            headers={"Cookie": "fleetdeck_session=abc; theirs=1"},
        )
        assert ok.status_code == 200, ok.text
        seen = ok.json()
        assert seen["path"] == "/deep/path?q=1"
        assert seen["host"] == f"127.0.0.1:{echo}"
        assert seen["authorization"] is None and seen["cookie"] == "theirs=1"
        assert seen["forwarded_prefix"] == f"/tunnels/{computer_id}/{key}"
        # on fleetdeck's own origin: the remote's pages sandboxed, fleetdeck's cookies its own
        assert ok.headers["content-security-policy"].startswith("sandbox allow-scripts")
        assert ok.headers.get_list("set-cookie") == ["app=1; Path=/"]

    # nothing is left open through the agent after the answers (one stream per request): the
    # tunnel can idle out, and deleting it needs no force
    def deleted() -> bool:
        return c.delete(f"/clients/{uid}/tunnels/{key}").status_code == 204

    wait_for(deleted, 15, what="the route's streams closed")
    with server.client() as v1:
        audit = v1.get("/audit", params={"filter[action]": "tunnel.route"}).json()["data"]
    results = sorted(a["result"] for a in audit)
    assert "ok" in results and "failed" in results, audit


def test_http_proxy_on_a_tcp_and_udp_tunnel(
    server: ServerProc, client: tuple[httpx.Client, str, Any], echo: int
) -> None:
    """rportd allows the proxy on tcp+udp (its ``IsProtocol``): HTTPS on the TCP half, the UDP
    half an ordinary UDP tunnel on the same port; deleting the tunnel closes both."""
    c, uid, _agent = client
    lport = free_tcp_and_udp_port()
    r = put_tunnel(
        c, uid, remote=f"127.0.0.1:{echo}", local=f"127.0.0.1:{lport}", protocol="tcp+udp", http_proxy="1"
    )
    assert r.status_code == 200, r.text
    t = r.json()["data"]
    assert (t["protocol"], t["http_proxy"]) == ("tcp+udp", True)
    ca = server.data_dir / "tunnel-proxy-tls" / "ca-cert.pem"
    verified = ssl.create_default_context(cafile=str(ca))
    ok = httpx.get(f"https://127.0.0.1:{lport}/both", verify=verified, timeout=30)
    assert (ok.status_code, ok.json()["path"]) == (200, "/both")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken, pytest.raises(OSError, match="in use"):
        taken.bind(("127.0.0.1", lport))  # the UDP half holds the port
    assert c.delete(f"/clients/{uid}/tunnels/{t['id']}", params={"force": "1"}).status_code == 204

    def udp_free() -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", lport))
            except OSError:
                return False
            return True

    wait_for(udp_free, 10, what="the UDP half closed")
