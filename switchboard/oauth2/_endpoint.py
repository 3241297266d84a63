"""Ask an OAuth 2 token endpoint for a token (client credentials, refresh token or JWT bearer).

Built on authlib's httpx2 ``OAuth2Client``; this layer adds what a long-running token
keeper needs: the raw answer handed back untouched (the caller makes it durable before
anything can fail on it), expiry from the local clock at request start with absurd lifetimes
clamped, an error taxonomy (see ``_errors``), client secret rotation (on ``invalid_client``
the next secret of the ordered list is tried), and a refresh whose scope the provider narrowed
asked again without one. How the client authenticates (a secret, a signed JWT, a TLS client
certificate) is ``_client_auth`` and ``_tls``. No exception text carries a secret, a key, a
token or a URL's userinfo or query.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx2
from authlib.integrations.httpx_client import OAuthError
from pydantic import SecretStr

from switchboard._exceptions import (
    ClientRejected,
    TokenEndpointError,
    TransientTokenError,
)
from switchboard._http import parse_retry_after
from switchboard._models import SECRET_METHODS, ClientDefinition, utcnow
from switchboard._urls import redact_url
from switchboard.oauth2._client_auth import (
    JWT_BEARER_GRANT_TYPE,
    NO_CLIENT_AUTH,
    authenticated_client,
    jwt_bearer_assertion,
)
from switchboard.oauth2._errors import classify_oauth_error
from switchboard.oauth2._tls import TLSTransports, tls_refusal

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_LIFETIME_SECONDS",
    "TokenAnswer",
    "TokenEndpoint",
    "TokenResponse",
    "expires_in_seconds",
    "parse_token_answer",
    "refresh_expires_at",
]

DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_LIFETIME_SECONDS = 366 * 86_400
"""A longer ``expires_in`` is clamped to this: it is a server bug, not a promise to rely on."""

logger = logging.getLogger("switchboard.oauth2")

_UNPROCESSED_STATUSES = frozenset({429, 503})
"""Answers that say the request was not acted on (RFC 6585 §4, RFC 9110 §15.6.4)."""


@dataclass(frozen=True, repr=False)
class TokenAnswer:
    """A token endpoint's successful answer exactly as received, and when the request started."""

    raw: dict[str, Any]
    obtained_at: datetime

    def __repr__(self) -> str:  # the raw answer holds tokens
        return f"TokenAnswer(obtained_at={self.obtained_at.isoformat()}, keys={sorted(self.raw)})"


@dataclass(frozen=True)
class TokenResponse:
    """A successful token response; secrets stay ``SecretStr``."""

    access_token: SecretStr
    token_type: str
    obtained_at: datetime
    expires_at: datetime
    scope: str | None
    refresh_token: SecretStr | None
    refresh_expires_at: datetime | None = None  # when the provider said the refresh token dies


def _seconds(raw: Any) -> int | None:
    """A lifetime in whole seconds (number or numeric string) clamped to
    ``MAX_LIFETIME_SECONDS``; ``None`` when missing, non-finite, below 1 or garbage."""
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        seconds = float(raw)
    except OverflowError:  # a JSON integer too large for a float: finite, and absurd
        return MAX_LIFETIME_SECONDS if int(raw) > 0 else None
    except (TypeError, ValueError):
        return None
    if not math.isfinite(seconds) or seconds < 1:
        return None
    return int(min(seconds, MAX_LIFETIME_SECONDS))


def expires_in_seconds(raw: Any, *, default: int) -> int:
    """``expires_in`` in whole seconds: a number or numeric string, clamped to
    ``MAX_LIFETIME_SECONDS``; missing, non-finite, zero, negative or garbage is ``default``."""
    seconds = _seconds(raw)
    return default if seconds is None else seconds


_REFRESH_LIFETIME_FIELDS = ("refresh_expires_in", "refresh_token_expires_in")
"""Where providers put the refresh token's lifetime: Keycloak ``refresh_expires_in``; GitHub and
Azure AD B2C ``refresh_token_expires_in``. RFC 6749 has no such field."""


def refresh_expires_at(raw: dict[str, Any], started: datetime) -> datetime | None:
    """When the refresh token in ``raw`` expires, if the provider said (from the request's
    start, clamped like ``expires_in``). Zero is no limit (Keycloak's offline tokens say 0)."""
    for field in _REFRESH_LIFETIME_FIELDS:
        seconds = _seconds(raw.get(field))
        if seconds is not None:
            return started + timedelta(seconds=seconds)
    return None


def _token_type(raw: Any) -> str:
    """RFC 6749 §5.1: ``token_type`` is case-insensitive. Zendesk and GitHub send ``bearer``;
    it is stored as RFC 6750 spells the scheme, so consumers that build ``Authorization:
    <type> <token>`` never meet a resource server that compares the scheme case-sensitively."""
    if not isinstance(raw, str) or not raw:
        return "Bearer"
    return "Bearer" if raw.lower() == "bearer" else raw


class TokenEndpoint:
    """A client of token endpoints; one instance serves every credential, from any thread.

    The connection pool (and its TLS context, which is costly to build) is shared by
    every request, one per TLS identity (``_tls``); each request gets its own light authlib
    client for its credential.
    """

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        self._transport = httpx2.HTTPTransport()
        self._tls = TLSTransports()

    def close(self) -> None:
        self._transport.close()
        self._tls.close()

    def request_token(
        self, definition: ClientDefinition, *, refresh_token: SecretStr | None = None
    ) -> TokenAnswer:
        """``POST token_url`` with the definition's grant, trying each client secret in order
        (``client_secret_*`` only: a key or certificate is one proof, asked once).

        With ``refresh_token`` the refresh-token grant is used, otherwise the definition's
        grant (client credentials or JWT bearer). The answer is returned unparsed:
        ``parse_token_answer`` turns it into a ``TokenResponse``.
        """
        secrets: tuple[SecretStr | None, ...] = (None,)  # a key or certificate: one request
        if definition.auth_method in SECRET_METHODS:
            secrets = definition.client_secrets or (None,)
        last = len(secrets) - 1
        for index, secret in enumerate(secrets):
            try:
                return self._request_scoped(definition, secret, refresh_token)
            except ClientRejected as exc:
                rejected_client = exc.error == "invalid_client" or exc.status == 401
                if index == last or not rejected_client:
                    raise
        raise AssertionError("unreachable: ClientDefinition has at least one secret")

    def _request_scoped(
        self,
        definition: ClientDefinition,
        secret: SecretStr | None,
        refresh_token: SecretStr | None,
    ) -> TokenAnswer:
        """A refresh asks for the definition's scope; when the provider has narrowed the grant
        since (a consent withdrawn), that is ``invalid_scope``, and it is asked once more with
        no scope, which RFC 6749 §6 defines as "the scope originally granted". An error
        answer issued nothing, so the refresh token was not spent by the first request."""
        try:
            return self._request(definition, secret, refresh_token, definition.scope)
        except ClientRejected as exc:
            if refresh_token is None or not definition.scope or exc.error != "invalid_scope":
                raise
            logger.info(
                "token endpoint %s refused scope %r on a refresh (invalid_scope: the grant was "
                "narrowed); asking again without one, as granted",
                redact_url(definition.token_url),
                definition.scope,
            )
        return self._request(definition, secret, refresh_token, None)

    def _request(
        self,
        definition: ClientDefinition,
        secret: SecretStr | None,
        refresh_token: SecretStr | None,
        scope: str | None,
    ) -> TokenAnswer:
        with self._tls.lease(definition) as tls:
            return self._exchange(definition, secret, refresh_token, scope, tls or self._transport)

    def _exchange(
        self,
        definition: ClientDefinition,
        secret: SecretStr | None,
        refresh_token: SecretStr | None,
        scope: str | None,
        transport: httpx2.HTTPTransport,
    ) -> TokenAnswer:
        url = redact_url(definition.token_url)
        started = utcnow()
        seen: dict[str, Any] = {}

        def check_status(response: httpx2.Response) -> httpx2.Response:
            status = seen["status"] = response.status_code
            if 200 <= status < 300:  # the answer as sent, before authlib reads a field of it
                with contextlib.suppress(ValueError):
                    seen["raw"] = response.json()
            if status == 429 or status >= 500:
                raise TransientTokenError(
                    f"token endpoint {url} answered HTTP {status}",
                    status=status,
                    retry_after=parse_retry_after(response.headers.get("retry-after")),
                    maybe_processed=status not in _UNPROCESSED_STATUSES,
                )
            return response

        extra: dict[str, str] = {}
        if definition.audience:
            extra["audience"] = definition.audience
        try:
            client = authenticated_client(
                definition,
                secret,
                scope=scope,
                timeout=self.timeout,
                transport=transport,
            )
            client.register_compliance_hook("access_token_response", check_status)
            client.register_compliance_hook("refresh_token_response", check_status)
            if refresh_token is None and definition.grant == "jwt_bearer":
                client.fetch_token(
                    definition.token_url,
                    grant_type=JWT_BEARER_GRANT_TYPE,
                    assertion=jwt_bearer_assertion(definition),
                    auth=NO_CLIENT_AUTH,
                    **extra,
                )
            elif refresh_token is None:
                client.fetch_token(definition.token_url, grant_type="client_credentials", **extra)
            else:
                client.refresh_token(
                    definition.token_url, refresh_token=refresh_token.get_secret_value(), **extra
                )
        except OAuthError as exc:
            raise classify_oauth_error(
                str(exc.error),
                status=seen.get("status"),
                url=url,
                assertion_grant=definition.grant == "jwt_bearer",
            ) from None
        except httpx2.TransportError as exc:
            raise self._transport_failure(exc, url, definition) from None
        except httpx2.HTTPStatusError as exc:  # a 4xx without a JSON body
            status = exc.response.status_code
            if status == 401:
                raise classify_oauth_error("invalid_client", status=status, url=url) from None
            raise TokenEndpointError(
                f"token endpoint {url} answered HTTP {status}", status=status
            ) from None
        except (ValueError, TypeError, OverflowError):
            pass  # authlib choked on a field (expires_in "inf", say): the raw answer decides
        raw = seen.get("raw")
        if not isinstance(raw, dict) or not raw.get("access_token"):
            raise TokenEndpointError(
                f"token endpoint {url} answered HTTP {seen.get('status')} with a body that is "
                "not a token response",
                status=seen.get("status"),
            )
        return TokenAnswer(raw=raw, obtained_at=started)

    def _transport_failure(
        self, exc: httpx2.TransportError, url: str, definition: ClientDefinition
    ) -> TokenEndpointError:
        """No answer: a TLS handshake that refused a certificate is configuration; anything
        else is transient, and certainly unspent when no connection was made.

        A server that refuses a client certificate in TLS 1.3 may just close the connection
        without an alert (Python's own servers do): that looks like any dropped connection,
        so it stays transient, and the message says what to check if it persists.
        """
        refusal = tls_refusal(exc)
        if refusal is not None:
            return ClientRejected(
                f"token endpoint {url}: TLS handshake failed, {refusal}; check tls_client_cert, "
                "tls_client_key and tls_ca_cert"
            )
        if isinstance(exc, httpx2.TimeoutException):
            return TransientTokenError(
                f"token endpoint {url} did not answer within {self.timeout:g} s",
                maybe_processed=not isinstance(exc, httpx2.ConnectTimeout | httpx2.PoolTimeout),
            )
        hint = ""
        if definition.auth_method == "tls_client_auth" and isinstance(
            exc, httpx2.RemoteProtocolError | httpx2.ConnectError
        ):
            hint = "; if this persists, the server may refuse the client certificate: check "
            hint += "tls_client_cert and tls_client_key"
        return TransientTokenError(
            f"token endpoint {url} unreachable ({type(exc).__name__}){hint}",
            maybe_processed=not isinstance(exc, httpx2.ConnectError),
        )


def parse_token_answer(
    answer: TokenAnswer, definition: ClientDefinition, *, spent: SecretStr | None
) -> TokenResponse:
    """The token in ``answer``; ``spent`` is the refresh token the request spent (kept when the
    server did not rotate it). ``TokenEndpointError`` when there is no usable access token."""
    raw, started = answer.raw, answer.obtained_at
    access = raw.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenEndpointError(
            f"token endpoint {redact_url(definition.token_url)} answered without an access_token"
        )
    lifetime = expires_in_seconds(
        raw.get("expires_in"), default=definition.default_lifetime_seconds
    )
    rotated = raw.get("refresh_token")
    if isinstance(rotated, str) and rotated:
        new_refresh: SecretStr | None = SecretStr(rotated)
    else:
        new_refresh = spent  # the server kept the old one valid
    scope = raw.get("scope")
    return TokenResponse(
        access_token=SecretStr(access),
        token_type=_token_type(raw.get("token_type")),
        obtained_at=started,
        expires_at=started + timedelta(seconds=lifetime),
        scope=(" ".join(map(str, scope)) if isinstance(scope, list) else str(scope))
        if scope
        else definition.scope,
        refresh_token=new_refresh,
        refresh_expires_at=refresh_expires_at(raw, started),
    )
