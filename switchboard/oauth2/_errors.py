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


def classify_oauth_error(
    error: str, *, status: int | None, url: str, assertion_grant: bool = False
) -> TokenEndpointError:
    """The exception for an OAuth ``error`` code from the response body (RFC 6749 §5.2).

    The exception's ``error`` is the RFC code; a provider's own name for it is in the message.
    Under the JWT bearer grant (``assertion_grant``) ``invalid_grant`` refuses the signed
    assertion (RFC 7523 §3.1), a configuration problem: there is no refresh token to re-seed.
    """
    where = f"token endpoint {url} answered HTTP {status}" if status else f"token endpoint {url}"
    if error in _PROVIDER_CODES:
        where, error = f"{where} with {error}, that is", _PROVIDER_CODES[error]
    if error == "invalid_grant" and assertion_grant:
        return ClientRejected(
            f"{where} with invalid_grant: the signed assertion was refused; check private_key "
            "(the key registered with the provider), client_id, subject, assertion_audience "
            "and this host's clock",
            error=error,
            status=status,
        )
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
            f"{where} with {error}: check the client definition (id, secret or key, grant, scope)",
            error=error,
            status=status,
        )
    return TokenEndpointError(f"{where} with {error}", error=error, status=status)
