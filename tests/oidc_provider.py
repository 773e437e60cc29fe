"""A small OpenID Connect provider on 127.0.0.1, run in a thread, for core's OIDC tests: discovery,
JWKS, authorize by a test call (``Provider.authorize``), token, userinfo and device endpoints. It
signs ID tokens with keys made here, checks the client's authentication and the PKCE verifier as
a provider does, and records every request it gets (``Provider.seen``). ``serve()`` runs one."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from fleetdeck.core.users import oidc

CLIENT = "fleetdeck"
REDIRECT = "https://fleet.example/oauth/callback"
# The query parameters of core's authorization request, in the order it sends them.
AUTHORIZE_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # signs by default, as kid k1


def jwk(key: Any, kid: str, **extra: str) -> dict[str, Any]:
    """The public JWK of an RSA or EC private key, with ``kid`` and ``extra`` members."""
    if isinstance(key, rsa.RSAPrivateKey):
        doc = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        doc = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    doc.pop("key_ops", None)
    return {**doc, "kid": kid, **extra}


def b64url(raw: bytes) -> str:
    """Base64url without padding (PKCE's code challenge)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class Grant:
    nonce: str
    challenge: str
    claims: dict[str, Any]


@dataclass
class Provider:
    """An OpenID Connect provider on 127.0.0.1. ``fixed`` forces the answer of a path,
    ``delay`` makes a path slow; ``device`` holds the token endpoint's answers per device
    code, in order."""

    issuer: str
    discovery: dict[str, Any] = field(default_factory=dict)
    keys: list[dict[str, Any]] = field(default_factory=list)
    signing: tuple[Any, str | None, str] = (RSA_KEY, "k1", "RS256")  # key, kid, alg
    seen: list[Seen] = field(default_factory=list)
    fixed: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, dict[str, Any]] = field(default_factory=dict)  # access token -> userinfo
    device_start: dict[str, Any] = field(default_factory=dict)
    device: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    client_secret: str = ""
    client: str = CLIENT
    stall: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> status, bytes sent
    codes: int = 0

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    def id_token(self, **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client,
            "sub": "sub-1",
            "iat": now,
            "exp": now + 300,
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        key, kid, alg = self.signing
        return jwt.encode(body, key, algorithm=alg, headers={"kid": kid} if kid is not None else None)

    def authorize(self, url: str, userinfo: dict[str, Any] | None = None, **claims: Any) -> str:
        """The user logs in at the provider: a code for the attempt of ``url`` whose ID token
        will carry ``claims`` (and the attempt's nonce)."""
        assert url.startswith(self.issuer + "/auth?")
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        assert (q["response_type"], q["client_id"], q["redirect_uri"]) == ("code", self.client, REDIRECT)
        assert q["code_challenge_method"] == "S256"
        self.codes += 1
        code = f"code-{self.codes}"
        self.grants[code] = Grant(q["nonce"], q["code_challenge"], {"userinfo": userinfo, **claims})
        return code

    def token(self, form: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.client_secret:
            quoted = (
                urllib.parse.quote(self.client, safe=""),
                urllib.parse.quote(self.client_secret, safe=""),
            )
            pair = ":".join(quoted)
            if headers.get("authorization") != "Basic " + base64.b64encode(pair.encode()).decode():
                return 401, {"error": "invalid_client"}
        elif form.get("client_id") != self.client or "authorization" in headers:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") == "authorization_code":
            grant = self.grants.pop(form.get("code", ""), None)
            if grant is None or form.get("redirect_uri") != REDIRECT:
                return 400, {"error": "invalid_grant"}
            verifier = form.get("code_verifier", "")
            if b64url(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
                return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
            claims = dict(grant.claims)
            userinfo = claims.pop("userinfo")
            access = f"at-{len(self.access) + 1}"
            self.access[access] = userinfo or {}
            return 200, {
                "access_token": access,
                "token_type": "Bearer",
                "id_token": self.id_token(nonce=grant.nonce, **claims),
            }
        if form.get("grant_type") == oidc.DEVICE_GRANT:
            answers = self.device.get(form.get("device_code", ""))
            if not answers:
                return 400, {"error": "invalid_grant"}
            return answers.pop(0)
        return 400, {"error": "unsupported_grant_type"}

    def answer(
        self, method: str, path: str, headers: dict[str, str], form: dict[str, str]
    ) -> tuple[int, bytes]:
        self.seen.append(Seen(method, path, headers, form))
        if path in self.delay:
            time.sleep(self.delay[path])
        if path in self.fixed:
            return self.fixed[path]
        status: int
        doc: dict[str, Any]
        if path == "/.well-known/openid-configuration":
            status, doc = 200, self.discovery
        elif path == "/jwks":
            status, doc = 200, {"keys": self.keys}
        elif path == "/token" and method == "POST":
            status, doc = self.token(form, headers)
        elif path == "/userinfo":
            bearer = headers.get("authorization", "")
            info = self.access.get(bearer.removeprefix("Bearer ")) if bearer.startswith("Bearer ") else None
            status, doc = (200, info) if info is not None else (401, {"error": "invalid_token"})
        elif path == "/device" and method == "POST":
            status, doc = self.token_auth_device(form, headers)
        else:
            status, doc = 404, {"error": "not_found"}
        return status, json.dumps(doc).encode()

    def token_auth_device(self, form: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client and "authorization" not in headers:
            return 401, {"error": "invalid_client"}
        return 200, self.device_start


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode())) if length else {}
        headers = {k.lower(): v for k, v in self.headers.items()}
        if self.path in self.server.provider.stall:
            # announces a long body, sends part of it, and stalls before the rest
            status, sent = self.server.provider.stall[self.path]
            self.send_response(status)
            self.send_header("Content-Length", str(10 * sent))
            self.end_headers()
            self.wfile.write(b" " * sent)
            self.wfile.flush()
            time.sleep(2)
            return
        status, body = self.server.provider.answer(method, self.path, headers, form)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    provider: Provider

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out has hung up before the (slow) answer


@contextmanager
def serve() -> Iterator[Provider]:
    """A provider listening on a free port of 127.0.0.1 with every endpoint in its discovery
    document and ``RSA_KEY`` in its JWKS as ``k1``; shut down on leaving."""
    server = _Server(("127.0.0.1", 0), _Handler)
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    p = Provider(issuer)
    p.discovery = {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/auth",
        "token_endpoint": issuer + "/token",
        "jwks_uri": issuer + "/jwks",
        "userinfo_endpoint": issuer + "/userinfo",
        "device_authorization_endpoint": issuer + "/device",
    }
    p.keys = [jwk(RSA_KEY, "k1")]
    server.provider = p
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield p
    finally:
        server.shutdown()
        server.server_close()
