"""Client authentication beyond secrets, verified for real with authlib's own verifiers.

- ``private_key_jwt`` (RFC 7523 §2.2): authlib's ``JWTBearerClientAssertion``;
- the JWT bearer grant (RFC 7523 §2.1): authlib's ``JWTBearerGrant``;
- ``tls_client_auth`` (RFC 8705 §2.1.2): the TLS listener's verified peer certificate, whose
  subject DN (RFC 4514) must equal the one registered for the client.

As strict as the strictest real provider: the signature by the key registered for the client
(its ``kid``, if it names one), ``aud`` exactly the token endpoint's URL, ``iss``, ``sub``,
``exp``, ``iat`` and ``jti`` all present, 30 s of clock leeway, at most 3 minutes between
``iat`` and ``exp`` (Salesforce's limit), and a ``jti`` accepted once per client (a replay is
``invalid_client`` for client authentication, ``invalid_grant`` for the grant).
"""

from __future__ import annotations

import threading
import time
from contextvars import ContextVar
from typing import Any

from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidScopeError,
    OAuth2Error,
)
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion, JWTBearerGrant
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwk

__all__ = [
    "JWT_BEARER",
    "KEY_METHODS",
    "JtiLedger",
    "PrivateKeyJWTVerifier",
    "SandboxJWTBearerGrant",
    "authenticate_tls_client",
    "public_keys",
    "token_endpoint_url",
]

JWT_BEARER: str = JWTBearerGrant.GRANT_TYPE
KEY_METHODS = ("private_key_jwt", "tls_client_auth")
LEEWAY_SECONDS = 30
MAX_ASSERTION_LIFETIME_SECONDS = 180

token_endpoint_url: ContextVar[str] = ContextVar("token_endpoint_url")
"""The URL the current token request was sent to: the only ``aud`` its assertion may name."""


def public_keys(payload: dict[str, Any]) -> jwk.KeySet | None:
    """The key set a client registers (``jwks`` as RFC 7591 has it, or one ``public_key``
    PEM); ``ValueError`` naming the field when it is neither."""
    if "jwks" in payload:
        jwks = payload["jwks"]
        try:
            return jwk.KeySet.import_key_set(jwks)
        except Exception:
            raise ValueError('`jwks` must be a JWK Set ({"keys": [...]}) of public keys') from None
    pem = payload.get("public_key")
    if pem is None:
        return None
    try:
        key = serialization.load_pem_public_key(str(pem).encode())
    except ValueError:
        raise ValueError("`public_key` must be a PEM public key") from None
    if isinstance(key, rsa.RSAPublicKey):
        return jwk.KeySet([jwk.import_key(str(pem), "RSA")])
    if isinstance(key, ec.EllipticCurvePublicKey):
        return jwk.KeySet([jwk.import_key(str(pem), "EC")])
    raise ValueError("`public_key` must be an RSA or EC key")


class JtiLedger:
    """The ``jti`` values each client has used, kept until their assertion expires."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[tuple[str, str], float] = {}

    def first_use(self, client_id: str, jti: str, expires: float) -> bool:
        now = time.time()
        with self._lock:
            for key in [key for key, until in self._used.items() if until < now]:
                del self._used[key]
            if (client_id, jti) in self._used:
                return False
            self._used[(client_id, jti)] = expires + LEEWAY_SECONDS
            return True


def _check_lifetime(claims: dict[str, Any], error: type[OAuth2Error]) -> None:
    """``iat`` is required and ``exp`` at most 3 minutes after it: a long-lived assertion is a
    replayable credential. (``exp`` was checked before: a number, not past.)"""
    iat, exp = claims.get("iat"), claims["exp"]
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise error(description="Missing or invalid claim: 'iat'")
    if exp - iat > MAX_ASSERTION_LIFETIME_SECONDS:
        raise error(
            description=f"'exp' is more than {MAX_ASSERTION_LIFETIME_SECONDS} s after 'iat'"
        )


def _keys_of(client: Any) -> jwk.KeySet:
    if client.jwks is None:
        raise InvalidClientError(description="The client registered no public key.")
    return client.jwks  # type: ignore[no-any-return]


class PrivateKeyJWTVerifier(JWTBearerClientAssertion):  # type: ignore[misc]
    """``private_key_jwt``: authlib's verifier with the registered keys and a ``jti`` ledger."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, ledger: JtiLedger) -> None:
        super().__init__(leeway=LEEWAY_SECONDS)
        self.ledger = ledger

    def get_audiences(self) -> list[str]:
        return [token_endpoint_url.get()]

    def resolve_client_public_key(self, client: Any) -> jwk.KeySet:
        return _keys_of(client)

    def verify_claims(self, claims: dict[str, Any]) -> None:
        super().verify_claims(claims)
        _check_lifetime(claims, InvalidClientError)

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        return self.ledger.first_use(claims["sub"], jti, float(claims["exp"]))


class SandboxJWTBearerGrant(JWTBearerGrant):  # type: ignore[misc]
    """The JWT bearer grant: ``iss`` is the client id, ``sub`` one of its registered subjects
    (default: the client id itself). No refresh token is issued (RFC 7523 §2.1)."""

    CLAIMS_OPTIONS = {
        "iss": {"essential": True},
        "sub": {"essential": True},
        "aud": {"essential": True},
        "exp": {"essential": True},
        "iat": {"essential": True},
        "jti": {"essential": True},
    }
    LEEWAY = LEEWAY_SECONDS

    def get_audiences(self) -> list[str]:
        return [token_endpoint_url.get()]

    def resolve_issuer_client(self, issuer: str) -> Any:
        return self.server.query_client(issuer)

    def resolve_client_public_key(self, client: Any) -> jwk.KeySet:
        return _keys_of(client)

    def verify_claims(self, claims: dict[str, Any]) -> None:
        super().verify_claims(claims)
        _check_lifetime(claims, InvalidGrantError)
        if not self.server.jtis.first_use(claims["iss"], claims["jti"], float(claims["exp"])):
            raise InvalidGrantError(description="JWT ID is used before.")

    def validate_requested_scope(self) -> None:
        if not self.request.client.allows_scope(self.request.payload.scope):
            raise InvalidScopeError()

    def authenticate_user(self, subject: str) -> str | None:
        return subject if subject in self.request.client.subjects else None

    def has_granted_permission(self, client: Any, user: str) -> bool:
        return True


def authenticate_tls_client(query_client: Any, request: Any) -> Any:
    """``tls_client_auth``: ``client_id`` in the body, and a certificate chained to the CA whose
    subject DN is the client's registered ``tls_client_auth_subject_dn``."""
    client_id = request.form.get("client_id")
    if not client_id or "client_secret" in request.form:
        return None
    client = query_client(client_id)
    if client is None or client.tls_subject_dn is None:
        return None
    if request.tls_subject_dn != client.tls_subject_dn:  # None: not over the TLS listener
        raise InvalidClientError(
            status_code=401, description="No client certificate with the registered subject DN."
        )
    return client
