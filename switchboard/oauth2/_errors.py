"""What a token endpoint's failure means: transient, revoked, or a configuration problem."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from switchboard._exceptions import (
    ClientRejected,
    CredentialRevoked,
    TokenEndpointError,
    TransientTokenError,
)

__all__ = ["MAX_RETRY_AFTER_SECONDS", "classify_oauth_error", "parse_retry_after"]

MAX_RETRY_AFTER_SECONDS = 3600.0
"""A Retry-After longer than this is clamped: a typo on the server must not park us for days."""

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


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


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
