"""OAuth 1.0a (HMAC-SHA1) request verification with oauthlib, against keys registered here.

Form bodies are part of the signature base string; other bodies (JSON) are not
(RFC 5849 §3.4.1.3), which is why ``POST /oauth1/echo`` returns the body's SHA-256:
a client proves its JSON body arrived although the signature cannot cover it.
"""

from __future__ import annotations

import hashlib
import string
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from oauthlib.oauth1 import RequestValidator, SignatureOnlyEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.state import new_secret, unauthorized

__all__ = [
    "OAUTH1_CHALLENGE",
    "OAuth1Endpoints",
    "OAuth1Key",
    "OAuth1KeyStore",
    "OAuth1Verifier",
]

OAUTH1_CHALLENGE = 'OAuth realm="sandbox"'
_DUMMY = "sbx-dummy-unknown-key"


@dataclass(frozen=True)
class OAuth1Key:
    """One LivePerson-style API key: consumer key/secret and access token/secret."""

    consumer_key: str
    consumer_secret: str
    token: str
    token_secret: str

    def as_dict(self) -> dict[str, str]:
        return {
            "consumer_key": self.consumer_key,
            "consumer_secret": self.consumer_secret,
            "token": self.token,
            "token_secret": self.token_secret,
        }


@dataclass
class OAuth1KeyStore:
    """Registered keys and recently seen nonces (a nonce is good once per timestamp window)."""

    keys: dict[str, OAuth1Key] = field(default_factory=dict)
    nonces: set[tuple[str, str, str]] = field(default_factory=set)
    nonce_order: deque[tuple[float, tuple[str, str, str]]] = field(default_factory=deque)

    def create(self) -> OAuth1Key:
        key = OAuth1Key(new_secret("ck"), new_secret("cs1"), new_secret("tk"), new_secret("ts"))
        self.keys[key.consumer_key] = key
        return key

    def use_nonce(self, entry: tuple[str, str, str], window: float) -> bool:
        """Record a nonce; ``False`` when it was already used (a replay)."""
        now = time.monotonic()
        while self.nonce_order and self.nonce_order[0][0] < now - 2 * window:
            self.nonces.discard(self.nonce_order.popleft()[1])
        if entry in self.nonces:
            return False
        self.nonces.add(entry)
        self.nonce_order.append((now, entry))
        return True

    def clear(self) -> None:
        self.keys.clear()
        self.nonces.clear()
        self.nonce_order.clear()


class _Validator(RequestValidator):  # type: ignore[misc]
    """oauthlib's questions answered from ``OAuth1KeyStore``; HMAC-SHA1 over plain HTTP."""

    allowed_signature_methods = ("HMAC-SHA1",)
    enforce_ssl = False
    safe_characters = frozenset(string.ascii_letters + string.digits + "-_")
    client_key_length = (3, 100)
    access_token_length = (3, 100)
    nonce_length = (8, 100)
    dummy_client = _DUMMY
    dummy_access_token = _DUMMY

    def __init__(self, store: OAuth1KeyStore) -> None:
        super().__init__()
        self.store = store

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return client_key in self.store.keys

    def validate_timestamp_and_nonce(
        self, client_key: str, timestamp: str, nonce: str, request: Any, **kwargs: Any
    ) -> bool:
        window = float(self.timestamp_lifetime)
        return self.store.use_nonce((client_key, timestamp, nonce), window)

    def get_client_secret(self, client_key: str, request: Any) -> str:
        key = self.store.keys.get(client_key)
        return key.consumer_secret if key else _DUMMY

    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        key = self.store.keys.get(client_key)
        return key.token_secret if key and key.token == token else _DUMMY


class OAuth1Verifier:
    """Checks the ``Authorization: OAuth ...`` signature of a Starlette request."""

    def __init__(self, store: OAuth1KeyStore) -> None:
        self.store = store
        self._endpoint = SignatureOnlyEndpoint(_Validator(store))

    def verify(self, request: Request, body: bytes) -> OAuth1Key | None:
        """The registered key that signed this request (with its access token), else ``None``."""
        if not request.headers.get("authorization", "").startswith("OAuth "):
            return None
        valid, oauth_request = self._endpoint.validate_request(
            str(request.url), request.method, body.decode("utf-8", "replace"), dict(request.headers)
        )
        if not valid:
            return None
        key = self.store.keys.get(oauth_request.client_key)
        if key is None or oauth_request.resource_owner_key != key.token:
            return None
        return key


class OAuth1Endpoints:
    """``POST /oauth1/echo``: proves a signature verifies and which body arrived."""

    def __init__(self, verifier: OAuth1Verifier) -> None:
        self.verifier = verifier

    def routes(self) -> list[Route]:
        return [Route("/oauth1/echo", self.echo, methods=["POST"])]

    async def echo(self, request: Request) -> Response:
        body = await request.body()
        key = self.verifier.verify(request, body)
        if key is None:
            return unauthorized(OAUTH1_CHALLENGE)
        return JSONResponse(
            {"consumer_key": key.consumer_key, "body_sha256": hashlib.sha256(body).hexdigest()}
        )
