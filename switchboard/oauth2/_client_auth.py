"""How a client proves who it is when a shared secret is not enough.

``private_key_jwt`` (RFC 7523 §2.2, OpenID Connect Core §9) and the JWT bearer grant (RFC 7523
§2.1, as Google and Salesforce service accounts use) send a JWT signed with the definition's
``private_key``; ``tls_client_auth`` (RFC 8705 §2.1) sends only ``client_id`` and lets the
TLS handshake prove the rest (``_tls``). The signing is authlib's (``authlib.oauth2.rfc7523``);
this module feeds it the key, ``kid``, audience and a short lifetime, and builds a fresh
assertion (a new ``jti``) for every request, so a retry is never refused as a replay.
"""

from __future__ import annotations

from typing import Any

import httpx2
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import JWTBearerGrant, PrivateKeyJWT, private_key_jwt_sign
from joserfc import jwk
from pydantic import SecretStr

from switchboard._models import ClientDefinition

__all__ = [
    "ASSERTION_LIFETIME_SECONDS",
    "JWT_BEARER_GRANT_TYPE",
    "NO_CLIENT_AUTH",
    "authenticated_client",
    "jwt_bearer_assertion",
]

JWT_BEARER_GRANT_TYPE: str = JWTBearerGrant.GRANT_TYPE

ASSERTION_LIFETIME_SECONDS = 120
"""``exp - iat`` of every assertion. Salesforce, the strictest, refuses more than 3 minutes;
a short life also bounds what an assertion caught in transit is worth."""

NO_CLIENT_AUTH = httpx2.Auth()
"""The JWT bearer grant's request carries no client authentication (RFC 7523 §3.1: the
signed assertion identifies the client); httpx2's base ``Auth`` leaves the request as it is."""


def _signing_key(definition: ClientDefinition) -> jwk.RSAKey | jwk.ECKey:
    """The definition's ``private_key`` as the JWK authlib signs with, parsed per request so
    no key object outlives it."""
    assert definition.private_key is not None and definition.signing_alg is not None
    pem = definition.private_key.get_secret_value()
    if definition.signing_alg.startswith("ES"):
        return jwk.import_key(pem, "EC")
    return jwk.import_key(pem, "RSA")


def _header(definition: ClientDefinition) -> dict[str, str]:
    """The JWS header's ``kid``, which providers use to pick the registered key."""
    return {"kid": definition.private_key_id} if definition.private_key_id else {}


def _audience(definition: ClientDefinition) -> str:
    return definition.assertion_audience or definition.token_url


class _PrivateKeyJWT(PrivateKeyJWT):  # type: ignore[misc]
    """authlib's ``private_key_jwt`` client authentication with the definition's key.

    authlib's own ``sign`` takes the key from the client secret and signs for an hour; this
    one takes the key, ``kid`` and lifetime from the definition, and keeps no claims between
    requests (authlib stores a ``jti`` in a ``claims`` dict it is given, reusing it).
    """

    def __init__(self, definition: ClientDefinition) -> None:
        super().__init__(token_endpoint=_audience(definition), alg=definition.signing_alg)
        self._definition = definition

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return str(
            private_key_jwt_sign(
                _signing_key(self._definition),
                client_id=auth.client_id,
                token_endpoint=token_endpoint,
                alg=self.alg,
                header=_header(self._definition),
                expires_in=ASSERTION_LIFETIME_SECONDS,
            )
        )


def authenticated_client(
    definition: ClientDefinition,
    secret: SecretStr | None,
    *,
    scope: str | None,
    timeout: float,
    transport: httpx2.HTTPTransport,
) -> OAuth2Client:
    """An authlib client that authenticates as ``definition`` says (``secret`` for the
    ``client_secret_*`` methods). ``tls_client_auth`` is authlib's ``none``: ``client_id``
    in the body, as RFC 8705 §2 asks, the certificate in ``transport``."""
    method = definition.auth_method
    client = OAuth2Client(  # not closed: closing would close the shared transport
        client_id=definition.client_id,
        client_secret=secret.get_secret_value() if secret is not None else None,
        token_endpoint_auth_method="none" if method == "tls_client_auth" else method,
        scope=scope,
        timeout=timeout,
        transport=transport,
    )
    if method == "private_key_jwt":
        client.register_client_auth_method(_PrivateKeyJWT(definition))
    return client


def jwt_bearer_assertion(definition: ClientDefinition) -> str:
    """The JWT bearer grant's ``assertion``: ``iss`` = ``client_id``, ``sub`` = ``subject``
    (default ``client_id``: RFC 7523 §3 requires one), ``aud``, ``iat``, ``exp``, ``jti``."""
    return str(
        JWTBearerGrant.sign(
            _signing_key(definition),
            issuer=definition.client_id,
            audience=_audience(definition),
            subject=definition.subject or definition.client_id,
            alg=definition.signing_alg,
            header=_header(definition),
            expires_in=ASSERTION_LIFETIME_SECONDS,
        )
    )
