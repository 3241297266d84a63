"""What a token endpoint's failure means: transient, revoked, or a configuration problem."""

from __future__ import annotations

from switchboard._exceptions import (
    ClientRejected,
    CredentialRevoked,
    TokenEndpointError,
    TransientTokenError,
)

__all__ = ["classify_oauth_error"]

_TRANSIENT_CODES = frozenset({"temporarily_unavailable", "server_error", "slow_down"})
_CONFIGURATION_CODES = frozenset(
    {
        "invalid_client",
        "unauthorized_client",
        "invalid_scope",
        "unsupported_grant_type",
        "invalid_request",
        "invalid_target",
    }
)


_PROVIDER_CODES = {
    "bad_refresh_token": "invalid_grant",
    "incorrect_client_credentials": "invalid_client",
}
"""Providers' own names for RFC 6749 §5.2 codes, documented by the provider (GitHub: "The
refresh token passed is incorrect or expired" is ``bad_refresh_token``; a wrong client id or
secret is ``incorrect_client_credentials``, both sent with HTTP 200). Without this a dead
refresh token would be retried forever as a generic failure instead of asking for a new seed."""


def classify_oauth_error(error: str, *, status: int | None, url: str) -> TokenEndpointError:
    """The exception for an OAuth ``error`` code from the response body (RFC 6749 §5.2).

    The exception's ``error`` is the RFC code; a provider's own name for it is in the message.
    """
    where = f"token endpoint {url} answered HTTP {status}" if status else f"token endpoint {url}"
    if error in _PROVIDER_CODES:
        where, error = f"{where} with {error}, that is", _PROVIDER_CODES[error]
    if error == "invalid_grant":
        return CredentialRevoked(
            f"{where} with invalid_grant: the refresh token is revoked or expired; "
            "a human must write a new seed",
            error=error,
            status=status,
        )
    if error in _TRANSIENT_CODES:
        return TransientTokenError(f"{where} with {error}", error=error, status=status)
    if error in _CONFIGURATION_CODES:
        return ClientRejected(
            f"{where} with {error}: check the client definition (id, secret, grant, scope)",
            error=error,
            status=status,
        )
    return TokenEndpointError(f"{where} with {error}", error=error, status=status)
