"""Ask an OAuth 2 token endpoint for a token (client credentials or refresh token grant).

Built on authlib's httpx2 ``OAuth2Client``; this layer adds what a long-running token
keeper needs: expiry from the local clock at request start, an error taxonomy (see
``_errors``), and client secret rotation (on ``invalid_client`` the next secret of the
ordered list is tried). No exception text carries a secret or a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx2
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from pydantic import SecretStr

from switchboard._exceptions import (
    ClientRejected,
    TokenEndpointError,
    TransientTokenError,
)
from switchboard._http import parse_retry_after
from switchboard._models import ClientDefinition, utcnow
from switchboard.oauth2._errors import classify_oauth_error

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "TokenEndpoint", "TokenResponse", "expires_in_seconds"]

DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class TokenResponse:
    """A successful token response; secrets stay ``SecretStr``."""

    access_token: SecretStr
    token_type: str
    obtained_at: datetime
    expires_at: datetime
    scope: str | None
    refresh_token: SecretStr | None


def expires_in_seconds(raw: Any, *, default: int) -> int:
    """``expires_in`` in whole seconds; a numeric string is taken, anything else is ``default``."""
    if isinstance(raw, bool) or raw is None:
        return default
    try:
        seconds = int(float(raw))
    except (TypeError, ValueError):
        return default
    return seconds if seconds > 0 else default


class TokenEndpoint:
    """A client of token endpoints; one instance serves every credential, from any thread.

    The connection pool (and its TLS context, about 20 ms of CPU to build) is shared by
    every request; each request gets its own light authlib client for its credential.
    """

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        self._transport = httpx2.HTTPTransport()

    def close(self) -> None:
        self._transport.close()

    def request_token(
        self, definition: ClientDefinition, *, refresh_token: SecretStr | None = None
    ) -> TokenResponse:
        """``POST token_url`` with the definition's grant, trying each client secret in order.

        With ``refresh_token`` the refresh-token grant is used, otherwise client credentials.
        """
        last = len(definition.client_secrets) - 1
        for index, secret in enumerate(definition.client_secrets):
            try:
                return self._request(definition, secret, refresh_token)
            except ClientRejected as exc:
                rejected_client = exc.error == "invalid_client" or exc.status == 401
                if index == last or not rejected_client:
                    raise
        raise AssertionError("unreachable: ClientDefinition has at least one secret")

    def _request(
        self,
        definition: ClientDefinition,
        secret: SecretStr,
        refresh_token: SecretStr | None,
    ) -> TokenResponse:
        url = definition.token_url
        started = utcnow()
        seen: dict[str, int] = {}

        def check_status(response: httpx2.Response) -> httpx2.Response:
            seen["status"] = response.status_code
            if response.status_code == 429 or response.status_code >= 500:
                raise TransientTokenError(
                    f"token endpoint {url} answered HTTP {response.status_code}",
                    status=response.status_code,
                    retry_after=parse_retry_after(response.headers.get("retry-after")),
                )
            return response

        extra: dict[str, str] = {}
        if definition.audience:
            extra["audience"] = definition.audience
        try:
            client = OAuth2Client(  # not closed: closing would close the shared transport
                client_id=definition.client_id,
                client_secret=secret.get_secret_value(),
                token_endpoint_auth_method=definition.auth_method,
                scope=definition.scope,
                timeout=self.timeout,
                transport=self._transport,
            )
            client.register_compliance_hook("access_token_response", check_status)
            client.register_compliance_hook("refresh_token_response", check_status)
            if refresh_token is None:
                raw = client.fetch_token(url, grant_type="client_credentials", **extra)
            else:
                raw = client.refresh_token(
                    url, refresh_token=refresh_token.get_secret_value(), **extra
                )
                if raw.get("refresh_token") == refresh_token.get_secret_value():
                    raw.pop("refresh_token")  # not rotated: authlib copied ours back
        except OAuthError as exc:
            raise classify_oauth_error(str(exc.error), status=seen.get("status"), url=url) from None
        except httpx2.TimeoutException:
            raise TransientTokenError(
                f"token endpoint {url} did not answer within {self.timeout:g} s"
            ) from None
        except httpx2.HTTPStatusError as exc:  # a 4xx without a JSON body
            status = exc.response.status_code
            if status == 401:
                raise classify_oauth_error("invalid_client", status=status, url=url) from None
            raise TokenEndpointError(
                f"token endpoint {url} answered HTTP {status}", status=status
            ) from None
        except httpx2.TransportError as exc:
            raise TransientTokenError(
                f"token endpoint {url} unreachable ({type(exc).__name__})"
            ) from None
        except ValueError:
            raise TokenEndpointError(
                f"token endpoint {url} answered HTTP {seen.get('status')} with a body that is "
                "not a token response",
                status=seen.get("status"),
            ) from None
        return _to_response(raw, definition, started, refresh_token)


def _to_response(
    raw: dict[str, Any],
    definition: ClientDefinition,
    started: datetime,
    refresh_token: SecretStr | None,
) -> TokenResponse:
    access = raw.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenEndpointError(
            f"token endpoint {definition.token_url} answered without an access_token"
        )
    lifetime = expires_in_seconds(
        raw.get("expires_in"), default=definition.default_lifetime_seconds
    )
    rotated = raw.get("refresh_token")
    if isinstance(rotated, str) and rotated:
        new_refresh: SecretStr | None = SecretStr(rotated)
    else:
        new_refresh = refresh_token  # the server kept the old one valid
    scope = raw.get("scope")
    return TokenResponse(
        access_token=SecretStr(access),
        token_type=str(raw.get("token_type") or "Bearer"),
        obtained_at=started,
        expires_at=started + timedelta(seconds=lifetime),
        scope=str(scope) if scope else definition.scope,
        refresh_token=new_refresh,
    )
