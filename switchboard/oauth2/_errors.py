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


def classify_oauth_error(error: str, *, status: int | None, url: str) -> TokenEndpointError:
    """The exception for an OAuth ``error`` code from the response body (RFC 6749 §5.2)."""
    where = f"token endpoint {url} answered HTTP {status}" if status else f"token endpoint {url}"
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
