"""Log in through an OpenID Connect provider (the ``oidc.*`` settings).

Core decides; transports translate.

Authorization code flow with PKCE (S256), ``state`` and ``nonce``: ``begin`` stores the login
attempt (keyed hashes of state and nonce, the verifier encrypted, an end ``oidc.state_ttl``
ahead) and returns the provider's authorize URL; ``complete`` takes the attempt by its state
and deletes it in the same transaction (single use: a replayed state or code finds nothing),
exchanges the code at the provider's token endpoint, verifies the ID token (signature by the
provider's JWKS, ``iss``, ``aud``, ``exp``, ``iat``, ``nonce``), reads the user name from
``oidc.username_claim`` (from the userinfo endpoint when the ID token lacks it), checks
``oidc.required_group`` in ``oidc.group_claim``, maps the name to a fleetdeck user (created when
``oidc.auto_create``) and starts a session as a password login does. A disabled user is
refused. Every outcome is audited ``auth.login`` (``method=oidc``).

The device flow (RFC 8628) for command-line clients: ``begin_device`` asks the provider for a
device code; ``complete_device`` polls the token endpoint once and answers the provider's soft
errors (``authorization_pending``, ``slow_down``) as a ``DevicePending``.

Outbound HTTP is bounded: only to the configured issuer's origin (discovery, token, JWKS,
userinfo and device endpoints on another origin are refused), no redirects followed, no proxy,
``TIMEOUT_SEC`` per request and ``MAX_RESPONSE`` bytes per answer. The discovery document and
JWKS are cached for ``CACHE_SEC``; an unknown key id refetches the JWKS once.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import delete, func, select, update

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import AuthenticationFailed, PermissionDenied, Unavailable
from fleetdeck.core.ports import Clock
from fleetdeck.core.secrets import Passwords, SecretBox, random_password, random_token
from fleetdeck.core.settings.registry import Kind, SettingDef
from fleetdeck.core.settings.service import SettingsService
from fleetdeck.core.users.entities import Credential
from fleetdeck.core.users.groups import set_memberships
from fleetdeck.core.users.service import USERNAME_RE, _actor, _born
from fleetdeck.core.users.sessions import SessionService, StartedSession
from fleetdeck.storage.db import Database
from fleetdeck.storage.locks import Serial, serialize
from fleetdeck.storage.tables import OidcLoginSecret, User
from fleetdeck.storage.uow import UnitOfWork

ISSUER = "oidc.issuer"
CLIENT_ID = "oidc.client_id"
CLIENT_SECRET = "oidc.client_secret"
REDIRECT_URL = "oidc.redirect_url"
SCOPES = "oidc.scopes"
USERNAME_CLAIM = "oidc.username_claim"
AUTO_CREATE = "oidc.auto_create"
NEW_USER_GROUPS = "oidc.new_user_groups"
GROUP_CLAIM = "oidc.group_claim"
REQUIRED_GROUP = "oidc.required_group"
LABEL = "oidc.label"
STATE_TTL = "oidc.state_ttl"

OIDC_SETTINGS: tuple[SettingDef, ...] = (
    SettingDef(
        ISSUER,
        Kind.STR,
        "",
        "OpenID Connect provider's issuer URL (its /.well-known/openid-configuration is read);"
        " empty = no OAuth login. Only this origin is ever contacted.",
    ),
    SettingDef(CLIENT_ID, Kind.STR, "", "The client id fleetdeck is registered under at the provider."),
    SettingDef(CLIENT_SECRET, Kind.STR, "", "The client secret (stored encrypted).", secret=True),
    SettingDef(
        REDIRECT_URL,
        Kind.STR,
        "",
        "The redirect URI registered at the provider: the page that receives ?code=&state= and"
        " hands them to the login call of a transport.",
    ),
    SettingDef(SCOPES, Kind.STR_LIST, ["openid", "profile", "email"], "Scopes asked for ('openid' always)."),
    SettingDef(USERNAME_CLAIM, Kind.STR, "preferred_username", "The claim that names the fleetdeck user."),
    SettingDef(
        AUTO_CREATE,
        Kind.BOOL,
        False,
        "Create a fleetdeck user on the first OAuth login of an unknown name (else refused).",
    ),
    SettingDef(
        NEW_USER_GROUPS,
        Kind.STR_LIST,
        [],
        "User groups of users created by an OAuth login ('Administrators' makes admins); none = a viewer.",
    ),
    SettingDef(GROUP_CLAIM, Kind.STR, "groups", "The claim listing the user's groups at the provider."),
    SettingDef(
        REQUIRED_GROUP,
        Kind.STR,
        "",
        "Only users whose group claim contains this group may log in; empty = no such check.",
    ),
    SettingDef(LABEL, Kind.STR, "oidc", "The provider's name shown to clients."),
    SettingDef(
        STATE_TTL,
        Kind.INT,
        600,
        "How long a begun OAuth login (its state) stays valid, in seconds.",
        minimum=30,
        maximum=3600,
    ),
)

TIMEOUT_SEC = 5.0
MAX_RESPONSE = 256 * 1024
CACHE_SEC = 300.0
MAX_PENDING = 10_000  # logins begun and not finished nor expired
MAX_PARAM = 2048  # a longer code, state or device code is not one
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SOFT_ERRORS = frozenset({"authorization_pending", "slow_down"})
METHOD = "oidc"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True, slots=True)
class OidcStart:
    authorize_url: str
    state: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class DeviceStart:
    device_code: str
    user_code: str
    verification_uri: str
    interval: int
    expires_in: int


@dataclass(frozen=True, slots=True)
class DevicePending:
    """The provider's answer while the user has not (yet) authorised the device."""

    error: str
    error_description: str = ""
    error_uri: str = ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is an error answer, never followed


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
Fetch = Callable[[str, Mapping[str, str] | None, Mapping[str, str] | None], tuple[int, bytes]]


def http_fetch(
    url: str, form: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    """GET (or POST ``form``) with a timeout and a size cap: (status, body)."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise Unavailable("the OAuth provider's URLs must be http(s)")
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        url, data=data, headers={"Accept": "application/json", **(headers or {})}
    )
    try:
        with _OPENER.open(req, timeout=TIMEOUT_SEC) as resp:
            status, body = resp.status, resp.read(MAX_RESPONSE + 1)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(MAX_RESPONSE + 1)
    except (OSError, ValueError) as exc:
        raise Unavailable(f"the OAuth provider cannot be reached: {exc}") from None
    if len(body) > MAX_RESPONSE:
        raise Unavailable("the OAuth provider's answer is too large")
    return status, body


def _origin(url: str) -> tuple[str, str]:
    p = urllib.parse.urlsplit(url)
    return p.scheme.lower(), p.netloc.lower()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _seconds(value: object, default: int) -> int:
    """A provider's number of whole seconds, or ``default`` when it sent none (or nonsense,
    or less than one: an interval of 0.5 must not become 0, a poll without pause)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value < 86400:
        return default
    return int(value)


def _json(status: int, body: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise Unavailable(f"the OAuth provider's {what} answer is not a JSON object (HTTP {status})")
    return doc


class OidcLoginService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        box: SecretBox,
        clock: Clock,
        settings: SettingsService,
        sessions: SessionService,
        passwords: Passwords | None = None,
        fetch: Fetch = http_fetch,
    ) -> None:
        self._db = db
        self._audit = audit
        self._box = box
        self._clock = clock
        self._settings = settings
        self._sessions = sessions
        self._passwords = passwords or Passwords()
        self._fetch = fetch
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    # ------------------------------------------------------------ provider documents

    def enabled(self) -> bool:
        return bool(self._settings.value(ISSUER)) and bool(self._settings.value(CLIENT_ID))

    @property
    def label(self) -> str:
        return str(self._settings.value(LABEL) or METHOD)

    def _issuer(self) -> str:
        issuer = str(self._settings.value(ISSUER) or "").rstrip("/")
        if not issuer or not self._settings.value(CLIENT_ID):
            raise PermissionDenied("OAuth login is not configured")
        parts = urllib.parse.urlsplit(issuer)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
            raise Unavailable("oidc.issuer must be an https URL (plain http only on the loopback address)")
        return issuer

    def _get(
        self, url: str, what: str, issuer: str, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        if _origin(url) != _origin(issuer):
            raise Unavailable(f"the OAuth provider's {what} is not on the issuer's origin")
        status, body = self._fetch(url, None, headers)
        if status != 200:
            raise Unavailable(f"the OAuth provider's {what} answered HTTP {status}")
        return _json(status, body, what)

    def _cached(self, key: str, load: Callable[[], dict[str, Any]], fresh: bool = False) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and not fresh and now - hit[0] < CACHE_SEC:
            return hit[1]
        doc = load()
        with self._lock:
            self._cache[key] = (now, doc)
        return doc

    def _discovery(self, issuer: str) -> dict[str, Any]:
        def load() -> dict[str, Any]:
            doc = self._get(issuer + "/.well-known/openid-configuration", "discovery document", issuer)
            if str(doc.get("issuer", "")).rstrip("/") != issuer:
                raise Unavailable("the OAuth provider's discovery document names another issuer")
            return doc

        return self._cached("discovery " + issuer, load)

    def _endpoint(self, doc: Mapping[str, Any], name: str, issuer: str) -> str:
        url = doc.get(name)
        if not isinstance(url, str) or not url:
            raise Unavailable(f"the OAuth provider has no {name}")
        if _origin(url) != _origin(issuer):
            raise Unavailable(f"the OAuth provider's {name} is not on the issuer's origin")
        return url

    def _scopes(self) -> list[str]:
        scopes = [str(s) for s in self._settings.value(SCOPES)]
        return scopes if "openid" in scopes else ["openid", *scopes]

    def _post_token(self, issuer: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        url = self._endpoint(self._discovery(issuer), "token_endpoint", issuer)
        status, body = self._fetch(url, *self._authenticated(form))
        return status, _json(status, body, "token")

    def _authenticated(self, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """The form and headers of a request that authenticates the client: the secret by HTTP
        Basic (client_secret_basic), or the client id alone for a public client."""
        client_id = str(self._settings.value(CLIENT_ID))
        client_secret = str(self._settings.get_secret(CLIENT_SECRET) or "")
        if not client_secret:
            return {**form, "client_id": client_id}, {}
        pair = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(client_secret, safe='')}"
        return form, {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    # ------------------------------------------------------------ code flow

    def begin(self, source: str) -> OidcStart:
        """A new login attempt and the provider's authorize URL for it (with state, nonce and
        the PKCE challenge). Expired attempts are deleted on the way."""
        issuer = self._issuer()
        url = self._endpoint(self._discovery(issuer), "authorization_endpoint", issuer)
        state, nonce, verifier = random_token(32), random_token(32), random_token(48)
        now = self._clock()
        expires = now + timedelta(seconds=int(self._settings.value(STATE_TTL)))
        with self._audit.mutation(self._anon(source), "auth.oidc_begin", "oidc_login") as m:
            m.session.execute(delete(OidcLoginSecret).where(OidcLoginSecret.expires_at <= now))
            pending = m.session.scalar(select(func.count()).select_from(OidcLoginSecret)) or 0
            if pending >= MAX_PENDING:  # anyone may begin a login: the table stays bounded
                raise Unavailable("too many OAuth logins under way; try again later")
            row = OidcLoginSecret(
                state_hash=self._box.keyed_hash(state),
                nonce_hash=self._box.keyed_hash(nonce),
                verifier_enc=self._box.encrypt(verifier),
                created_at=now,
                expires_at=expires,
            )
            m.session.add(row)
            m.session.flush()
            m.object_id = str(row.id)
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": str(self._settings.value(CLIENT_ID)),
                "redirect_uri": str(self._settings.value(REDIRECT_URL)),
                "scope": " ".join(self._scopes()),
                "state": state,
                "nonce": nonce,
                "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
                "code_challenge_method": "S256",
            }
        )
        return OidcStart(url + ("&" if "?" in url else "?") + query, state, expires)

    def complete(
        self,
        code: str,
        state: str,
        source: str,
        via: str,
        *,
        lifetime_sec: int | None = None,
        renew_sec: int | None = None,
        user_agent: str = "",
    ) -> tuple[Actor, StartedSession]:
        """The provider's ``code`` and ``state`` in, a session out (or ``AuthenticationFailed``,
        audited, for an unknown, used or expired state, a refused code or a bad ID token)."""
        issuer = self._issuer()
        if not code or not state or len(code) > MAX_PARAM or len(state) > MAX_PARAM:
            self._failed(source, via, "bad_request")
            raise AuthenticationFailed("code and state are required")
        now = self._clock()
        with UnitOfWork(self._db) as uow:
            row = uow.session.scalar(
                select(OidcLoginSecret).where(OidcLoginSecret.state_hash == self._box.keyed_hash(state))
            )
            taken = 0
            if row is not None:
                taken = int(
                    getattr(
                        uow.session.execute(delete(OidcLoginSecret).where(OidcLoginSecret.id == row.id)),
                        "rowcount",
                        0,
                    )
                    or 0
                )
            attempt = (row.nonce_hash, row.verifier_enc, row.expires_at) if row is not None else None
        if attempt is None or taken != 1:
            self._failed(source, via, "unknown_state")
            raise AuthenticationFailed("invalid or already used state")
        nonce_hash, verifier_enc, expires_at = attempt
        if expires_at <= now:
            self._failed(source, via, "expired_state")
            raise AuthenticationFailed("the login attempt has expired")
        with self._audited_unavailable(source, via):  # the attempt is used up: say why it ended
            status, answer = self._post_token(
                issuer,
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": str(self._settings.value(REDIRECT_URL)),
                    "code_verifier": self._box.decrypt(verifier_enc),
                },
            )
            if status != 200 or "id_token" not in answer:
                self._failed(
                    source, via, "code_refused", provider_error=str(answer.get("error", status))[:100]
                )
                raise AuthenticationFailed("the OAuth provider refused the code")
            return self._finish(issuer, answer, nonce_hash, source, via, lifetime_sec, renew_sec, user_agent)

    # ------------------------------------------------------------ device flow

    def begin_device(self) -> DeviceStart:
        """Ask the provider for a device code (RFC 8628) for a command-line login."""
        issuer = self._issuer()
        url = self._endpoint(self._discovery(issuer), "device_authorization_endpoint", issuer)
        status, body = self._fetch(url, *self._authenticated({"scope": " ".join(self._scopes())}))
        doc = _json(status, body, "device authorization")
        if status != 200 or not isinstance(doc.get("device_code"), str):
            raise Unavailable(
                f"the OAuth provider refused a device login: {str(doc.get('error', status))[:100]}"
            )
        return DeviceStart(
            str(doc["device_code"]),
            str(doc.get("user_code", "")),
            str(doc.get("verification_uri_complete") or doc.get("verification_uri", "")),
            _seconds(doc.get("interval"), 5),
            _seconds(doc.get("expires_in"), 600),
        )

    def complete_device(
        self,
        device_code: str,
        source: str,
        via: str,
        *,
        lifetime_sec: int | None = None,
        renew_sec: int | None = None,
        user_agent: str = "",
    ) -> tuple[Actor, StartedSession] | DevicePending:
        """Poll the provider once for a device code: a session, or the provider's soft error
        while the user has not authorised yet; any other error is ``AuthenticationFailed``."""
        issuer = self._issuer()
        if not device_code or len(device_code) > MAX_PARAM:
            self._failed(source, via, "bad_request")
            raise AuthenticationFailed("device_code is required")
        with self._audited_unavailable(source, via):
            status, answer = self._post_token(
                issuer, {"grant_type": DEVICE_GRANT, "device_code": device_code}
            )
            error = str(answer.get("error", "") or "")
            if error in SOFT_ERRORS:
                return DevicePending(
                    error,
                    str(answer.get("error_description", ""))[:300],
                    str(answer.get("error_uri", ""))[:300],
                )
            if status != 200 or error or "id_token" not in answer:
                self._failed(source, via, "device_refused", provider_error=(error or str(status))[:100])
                raise AuthenticationFailed(f"the OAuth provider refused the device login: {error or status}")
            return self._finish(issuer, answer, None, source, via, lifetime_sec, renew_sec, user_agent)

    # ------------------------------------------------------------ the ID token and the user

    def verify_id_token(
        self, id_token: str, issuer: str, audience: str, nonce_hash: str | None
    ) -> dict[str, Any]:
        """The claims of an ID token signed by a key of the issuer's JWKS, for ``audience``,
        unexpired, and (for a code flow) carrying the attempt's nonce."""
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed("the ID token is malformed") from exc
        key = self._signing_key(issuer, kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=ALGORITHMS,
                audience=audience,
                issuer=issuer,
                leeway=30,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(f"the ID token is not valid: {exc}") from exc
        azp = claims.get("azp")
        if isinstance(claims.get("aud"), list) and len(claims["aud"]) > 1 and azp != audience:
            raise AuthenticationFailed("the ID token is not valid: azp")
        if nonce_hash is not None:
            nonce = claims.get("nonce")
            if not isinstance(nonce, str) or not self._box.matches(nonce, nonce_hash):
                raise AuthenticationFailed("the ID token is not valid: nonce")
        return claims

    def _signing_key(self, issuer: str, kid: object) -> Any:
        for fresh in (False, True):
            url = self._endpoint(self._discovery(issuer), "jwks_uri", issuer)
            doc = self._cached("jwks " + url, lambda u=url: self._get(u, "JWKS", issuer), fresh=fresh)  # type: ignore[misc]
            try:
                keys = jwt.PyJWKSet.from_dict(doc).keys
            except jwt.PyJWTError as exc:
                raise Unavailable(f"the OAuth provider's JWKS is not usable: {exc}") from None
            usable = [k for k in keys if getattr(k, "public_key_use", None) in (None, "sig")]
            match = [k for k in usable if kid is None or k.key_id == kid]
            if match:
                return match[0].key
        raise AuthenticationFailed("the ID token is signed by an unknown key")

    def _finish(
        self,
        issuer: str,
        answer: Mapping[str, Any],
        nonce_hash: str | None,
        source: str,
        via: str,
        lifetime_sec: int | None,
        renew_sec: int | None,
        user_agent: str,
    ) -> tuple[Actor, StartedSession]:
        client_id = str(self._settings.value(CLIENT_ID))
        try:
            claims = self.verify_id_token(str(answer["id_token"]), issuer, client_id, nonce_hash)
        except AuthenticationFailed as exc:
            self._failed(source, via, "bad_id_token", error=exc.message[:200])
            raise
        claim_name = str(self._settings.value(USERNAME_CLAIM))
        group_claim = str(self._settings.value(GROUP_CLAIM))
        if claim_name not in claims or group_claim not in claims:
            claims = {**self._userinfo(issuer, answer, str(claims["sub"])), **claims}
        username = claims.get(claim_name)
        if not isinstance(username, str) or not USERNAME_RE.match(username):
            self._failed(source, via, "no_username", claim=claim_name)
            raise AuthenticationFailed(f"the provider's {claim_name} claim names no valid user")
        required = str(self._settings.value(REQUIRED_GROUP) or "")
        groups = claims.get(group_claim)
        if required and not (isinstance(groups, list) and required in groups):
            self._failed(source, via, "not_in_group", username=username)
            raise AuthenticationFailed(f"the user is not in the required group {required!r}")
        actor, credential = self._user(username, source, via)
        started = self._sessions.start(
            actor, credential, source, lifetime_sec=lifetime_sec, renew_sec=renew_sec, user_agent=user_agent
        )
        self._audit.record(
            actor, "auth.login", "user", actor.user_id or "", "ok", method=METHOD, subject=claims["sub"]
        )
        return actor, started

    def _userinfo(self, issuer: str, answer: Mapping[str, Any], sub: str) -> dict[str, Any]:
        url = self._discovery(issuer).get("userinfo_endpoint")
        access = answer.get("access_token")
        if not isinstance(url, str) or not isinstance(access, str):
            return {}
        doc = self._get(url, "userinfo", issuer, {"Authorization": f"Bearer {access}"})
        return doc if doc.get("sub") == sub else {}

    def _user(self, username: str, source: str, via: str) -> tuple[Actor, Credential]:
        """The fleetdeck user of a verified name, created when ``oidc.auto_create`` is on."""
        now = self._clock()
        with UnitOfWork(self._db) as uow:
            user = uow.session.scalar(select(User).where(User.username == username))
            created = False
            if user is None and self._settings.value(AUTO_CREATE):
                serialize(uow.session, Serial.USER_NAMES)
                clash = uow.session.scalar(
                    select(User.id).where(func.lower(User.username) == username.lower())
                )
                if clash is None:
                    user = User(
                        username=username,
                        password_hash=self._passwords.hash(random_password()),
                        role=Role.VIEWER.value,
                        created_at=now,
                        password_changed_at=now,
                    )
                    uow.session.add(user)
                    uow.session.flush()
                    set_memberships(
                        uow.session, user, [str(g) for g in self._settings.value(NEW_USER_GROUPS)]
                    )
                    created = True
            if user is not None and not user.disabled:
                uow.session.execute(update(User).where(User.id == user.id).values(last_login_at=now))
                actor = _actor(user, source, via)
                if created:
                    self._audit.add(
                        uow.session, actor, "user.create", "user", user.id, method=METHOD, role=user.role
                    )
                return actor, Credential(user.id, user.token_version, born=_born(user))
            found = user
        self._failed(source, via, "disabled" if found is not None else "unknown_user", username=username)
        raise AuthenticationFailed("invalid user name or password")

    def _anon(self, source: str, via: str = "", username: str = "(oauth)") -> Actor:
        return Actor(user_id=None, username=username[:150], role=Role.VIEWER, source=source, via=via)

    @contextlib.contextmanager
    def _audited_unavailable(self, source: str, via: str) -> Iterator[None]:
        """A login that ends because the provider failed (unreachable, a broken token, JWKS or
        userinfo answer) is audited like any other failed login: every outcome leaves a row."""
        try:
            yield
        except Unavailable as exc:
            self._failed(source, via, "provider_unavailable", error=exc.message[:200])
            raise

    def _failed(self, source: str, via: str, reason: str, username: str = "(oauth)", **detail: Any) -> None:
        self._audit.record(
            self._anon(source, via, username),
            "auth.login",
            "oidc",
            "",
            "failed",
            reason=reason,
            method=METHOD,
            **detail,
        )


__all__ = [
    "OIDC_SETTINGS",
    "DevicePending",
    "DeviceStart",
    "OidcLoginService",
    "OidcStart",
    "http_fetch",
]
