"""The sandbox's OAuth 2 authorization server, built on authlib's ``AuthorizationServer``.

Grants: client credentials, and refresh token with rotation. A refresh token that was
already rotated and is presented again revokes its whole family (every refresh and
access token descended from the same seed) and answers ``invalid_grant``. A client's
``Profile`` (``sandbox.profiles``) changes that and the answers' shapes to a real provider's.
A client registered with a public key or a certificate subject authenticates with
``private_key_jwt`` or ``tls_client_auth`` and may use the JWT bearer grant (``client_auth``).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidScopeError, OAuth2Error
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant, RefreshTokenGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.client_auth import (
    JWT_BEARER,
    KEY_METHODS,
    JtiLedger,
    PrivateKeyJWTVerifier,
    SandboxJWTBearerGrant,
    authenticate_tls_client,
    token_endpoint_url,
)
from sandbox.profiles import PROFILES, Profile, body_of, present_error
from sandbox.state import BEARER_CHALLENGE, Counters, Faults, new_secret, unauthorized
from sandbox.tls import peer_subject_dn

__all__ = ["GRANT_TYPES", "Client", "OAuth2Endpoints", "TokenStore"]

GRANT_TYPES = ("client_credentials", "refresh_token", JWT_BEARER)
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
TOKEN_AUTH_METHODS = [*AUTH_METHODS, *KEY_METHODS]


@dataclass
class Client:
    """A registered client (duck-types authlib's ``ClientMixin``)."""

    client_id: str
    client_secret: str
    grant_types: frozenset[str]
    scope: str = ""
    access_token_lifetime: int = 3600
    profile: Profile = PROFILES["strict"]
    auth_method: str | None = None  # one of KEY_METHODS; None: either secret method
    jwks: Any = None  # joserfc KeySet: private_key_jwt and the JWT bearer grant
    tls_subject_dn: str | None = None  # tls_client_auth: the certificate's subject (RFC 4514)
    subjects: frozenset[str] = frozenset()  # the JWT bearer grant's accepted ``sub`` values

    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method if self.auth_method else method in AUTH_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    def allows_scope(self, scope: str | None) -> bool:
        return not scope or set(scope.split()) <= set(self.scope.split())


@dataclass
class Family:
    """Tokens descended from one seed; revoking the family revokes them all at once."""

    revoked: bool = False


@dataclass
class AccessToken:
    client_id: str
    expires_at: float
    family: Family | None

    def is_valid(self, now: float) -> bool:
        return now < self.expires_at and not (self.family and self.family.revoked)


@dataclass
class RefreshToken:
    client_id: str
    scope: str
    family: Family
    expires_at: float | None = None  # the profile's refresh token lifetime, if it has one
    rotated_at: float | None = None  # when it was redeemed (and replaced)
    successor: dict[str, Any] | None = None  # the answer it got, kept for a reuse grace period

    @property
    def rotated(self) -> bool:
        return self.rotated_at is not None

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope


@dataclass
class TokenStore:
    """Clients and tokens in memory; ``lock`` makes issuing and rotation atomic."""

    clients: dict[str, Client] = field(default_factory=dict)
    access_tokens: OrderedDict[str, AccessToken] = field(default_factory=OrderedDict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, client: Client) -> str | None:
        """Add a client; returns its seed refresh token when it may use the refresh grant."""
        with self.lock:
            if client.client_id in self.clients:
                raise KeyError(client.client_id)
            self.clients[client.client_id] = client
            if "refresh_token" not in client.grant_types:
                return None
            return self._new_seed(client)

    def reseed(self, client_id: str) -> str:
        """A fresh seed refresh token (a new family) for a client, as after a revocation."""
        with self.lock:
            client = self.clients[client_id]
            if "refresh_token" not in client.grant_types:
                raise ValueError(
                    f"client {client_id!r} was not registered for the refresh_token grant"
                )
            return self._new_seed(client)

    def _new_seed(self, client: Client) -> str:
        seed = new_secret("rt")
        self.refresh_tokens[seed] = RefreshToken(
            client.client_id, client.scope, Family(), _refresh_expiry(client, time.time())
        )
        return seed

    def rotate_secret(self, client_id: str) -> str:
        """Give a client a new secret; the old one stops working at once."""
        with self.lock:
            client = self.clients[client_id]
            client.client_secret = new_secret("cs")
            return client.client_secret

    def save(self, token: dict[str, Any], client: Client, parent: RefreshToken | None) -> None:
        now = time.time()
        family = parent.family if parent else None
        self.access_tokens[token["access_token"]] = AccessToken(
            client.client_id, now + client.access_token_lifetime, family
        )
        if "refresh_token" in token and family is not None:
            self.refresh_tokens[token["refresh_token"]] = RefreshToken(
                client.client_id, token.get("scope", ""), family, _refresh_expiry(client, now)
            )
        self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget the oldest access tokens once expired (amortised O(1) per issue)."""
        for _ in range(2):
            oldest = next(iter(self.access_tokens.items()), None)
            if oldest is None or oldest[1].expires_at > now:
                return
            del self.access_tokens[oldest[0]]

    def bearer_client(self, authorization: str | None) -> str | None:
        """The client id behind a valid ``Authorization: Bearer`` header, else ``None``."""
        if not authorization or authorization[:7].lower() != "bearer ":
            return None
        record = self.access_tokens.get(authorization[7:].strip())
        if record is None or not record.is_valid(time.time()):
            return None
        return record.client_id

    def expire(self, client_id: str | None = None) -> int:
        """Make every access token (of one client) answer 401; returns how many."""
        with self.lock:
            expired = 0
            for record in self.access_tokens.values():
                if client_id is None or record.client_id == client_id:
                    record.expires_at = 0.0
                    expired += 1
            return expired

    def clear(self) -> None:
        with self.lock:
            self.clients.clear()
            self.access_tokens.clear()
            self.refresh_tokens.clear()


def _refresh_expiry(client: Client, now: float) -> float | None:
    lifetime = client.profile.refresh_token_lifetime
    return None if lifetime is None else now + lifetime


class _ClientCredentialsGrant(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        if not self.request.client.allows_scope(self.request.payload.scope):
            raise InvalidScopeError()


class _RefreshTokenGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        server: _AuthorizationServer = self.server
        record = server.store.refresh_tokens.get(refresh_token)
        now = time.time()
        if record is None or record.family.revoked:
            return None
        if record.expires_at is not None and now >= record.expires_at:
            return None
        if record.rotated_at is not None:
            if record.client_id != self.request.client.client_id:
                return None
            grace = self.request.client.profile.reuse_grace_seconds
            if record.successor is not None and now - record.rotated_at <= grace:
                return record  # a retry within the grace period: answered with the same pair
            record.family.revoked = True
            server.counters.reuse_detected += 1
            return None
        return record

    def authenticate_user(self, refresh_token: RefreshToken) -> RefreshToken:
        return refresh_token  # client-only tokens: the "user" is the token's own record

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        record: RefreshToken = self.request.refresh_token
        if record.successor is not None:  # only reachable within the reuse grace period
            return 200, dict(record.successor), self.TOKEN_RESPONSE_HEADER
        status, token, headers = super().create_token_response()
        if self.request.client.profile.reuse_grace_seconds:
            record.successor = dict(token)
        return status, token, headers

    def issue_token(self, user: RefreshToken, refresh_token: RefreshToken) -> dict[str, Any]:
        """The profile decides whether the answer rotates the refresh token, and whether the
        first refresh of a family narrows its scope (a consent withdrawn)."""
        client: Client = self.request.client
        scope = self.request.payload.scope or refresh_token.get_scope()
        granted = scope.split()
        full = len(granted) > 1 and set(granted) == set(client.scope.split())
        if client.profile.narrow_scope_on_refresh and full:
            scope = " ".join(granted[:-1])
        return dict(
            self.generate_token(user=user, scope=scope, include_refresh_token=client.profile.rotate)
        )

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        if self.request.client.profile.rotate:
            refresh_token.rotated_at = time.time()


class _AuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's server over ``TokenStore``; requests arrive already parsed."""

    def __init__(self, store: TokenStore, counters: Counters) -> None:
        super().__init__()
        self.store = store
        self.counters = counters
        self.jtis = JtiLedger()
        self.register_token_generator("default", self._generate_token)
        self.register_grant(_ClientCredentialsGrant)
        self.register_grant(_RefreshTokenGrant)
        self.register_grant(SandboxJWTBearerGrant)
        self.register_client_auth_method("private_key_jwt", PrivateKeyJWTVerifier(self.jtis))
        self.register_client_auth_method("tls_client_auth", authenticate_tls_client)

    def query_client(self, client_id: str) -> Client | None:
        return self.store.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.store.save(token, request.client, request.refresh_token)

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(
        self, status: int, body: dict[str, Any], headers: list[tuple[str, str]]
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    @staticmethod
    def _generate_token(
        grant_type: str,
        client: Client,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        profile = client.profile
        token: dict[str, Any] = {"access_token": new_secret("at"), "token_type": profile.token_type}
        if profile.expires_in != "omit":
            lifetime = client.access_token_lifetime
            token["expires_in"] = str(lifetime) if profile.expires_in == "string" else lifetime
            if profile.expires_in_value is not None:
                token["expires_in"] = profile.expires_in_value
        if include_refresh_token:
            token["refresh_token"] = new_secret("rt")
        refresh_lifetime = profile.refresh_token_lifetime
        field = profile.refresh_lifetime_field  # Keycloak sends it always, GitHub with a token
        if (
            field
            and refresh_lifetime is not None
            and (include_refresh_token or "_token_" not in field)
        ):
            token[field] = refresh_lifetime
        scope = scope or client.scope
        if scope:
            token["scope"] = scope
        return {**profile.extra, **token}


class _TokenRequest(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self, url: str, headers: Any, form: dict[str, str], tls_subject_dn: str | None
    ) -> None:
        super().__init__("POST", url, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)
        self.tls_subject_dn = tls_subject_dn

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


def _json(body: dict[str, Any], status: int, headers: dict[str, str]) -> Response:
    """A JSON answer; the injected answer's own length and type headers are not carried over."""
    kept = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "content-type")}
    return JSONResponse(body, status_code=status, headers=kept)


def _client_id_of(request: Request, form: dict[str, str]) -> str | None:
    client_id, _ = extract_basic_authorization(request.headers)
    return client_id or form.get("client_id")


class OAuth2Endpoints:
    """``POST /oauth/token`` (and the Sentinel paths) and ``GET /api/ping``."""

    def __init__(self, store: TokenStore, faults: Faults, counters: Counters) -> None:
        self.store = store
        self.faults = faults
        self.counters = counters
        self.server = _AuthorizationServer(store, counters)

    def routes(self) -> list[Route]:
        return [
            Route("/oauth/token", self.token, methods=["POST"]),
            Route("/sentinel/api/v2/account/{account_id}/app/token", self.token, methods=["POST"]),
            Route("/sentinel/api/account/{account_id}/app/token", self.token, methods=["POST"]),
            Route("/api/ping", self.ping, methods=["GET"]),
        ]

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        client_id = _client_id_of(request, form)
        client = self.store.clients.get(client_id or "")
        profile = client.profile if client is not None else PROFILES["strict"]
        injected = await self.faults.apply("token", client_id)
        if injected is not None:
            self.counters.token_errors += 1
            if injected.status_code < 400:
                return injected
            status, body, headers = present_error(
                profile, injected.status_code, body_of(bytes(injected.body)), dict(injected.headers)
            )
            return _json(body, status, headers)
        url = str(request.url.replace(query=""))
        dn = peer_subject_dn(request.scope)
        try:
            oauth_request = _TokenRequest(url, request.headers, form, dn)
            with self.store.lock:
                token_endpoint_url.set(url)
                status, body, headers = self.server.create_token_response(oauth_request)
        except OAuth2Error as error:
            status, body, headers = error()
        if status == 200:
            if form.get("grant_type") == "refresh_token":
                self.counters.refresh_token += 1
            elif form.get("grant_type") == "client_credentials":
                self.counters.client_credentials += 1
            return JSONResponse(body, status_code=status, headers=dict(headers))
        self.counters.token_errors += 1
        status, body, headers = present_error(profile, status, body, dict(headers))
        return _json(body, status, headers)

    async def ping(self, request: Request) -> Response:
        client_id = self.store.bearer_client(request.headers.get("authorization"))
        if client_id is None:
            return unauthorized(BEARER_CHALLENGE)
        return JSONResponse({"client_id": client_id})
