"""Switchboard's exception tree.

Every exception carries a message that is safe to log: no token, secret or key
ever goes into one (see ``tests/test_secret_hygiene.py``).

SwitchboardError
├── ConfigurationError          a setting or a client definition is wrong; a human fixes it
├── VaultError                  any failure talking to Vault
│   ├── VaultUnavailable        network failure, 5xx or sealed: transient
│   ├── VaultPermissionDenied   the policy does not allow the path
│   ├── VaultNotFound           nothing stored at the path
│   └── CASConflict             check-and-set lost: someone else wrote first
├── LockBusy                    another worker holds the claim on the credential's refresh token
├── RefreshInDoubt              a claimed refresh never reported back: its token may be spent
├── TokenEndpointError          the OAuth 2 authorization server said no, or did not answer
│   ├── TransientTokenError     network, timeout, 5xx, 429: retry with backoff
│   ├── CredentialRevoked       invalid_grant: the refresh token is dead; a human re-seeds it
│   └── ClientRejected          invalid_client, unauthorized_client, invalid_scope: configuration
└── UpstreamError               a LivePerson API failed
    ├── UpstreamUnavailable     network, timeout, 5xx: transient
    ├── RateLimited             HTTP 429 (``retry_after`` seconds when the server said)
    └── Unauthorized            HTTP 401/403: the bearer is expired or wrong
"""

from __future__ import annotations

__all__ = [
    "CASConflict",
    "ClientRejected",
    "ConfigurationError",
    "CredentialRevoked",
    "LockBusy",
    "RateLimited",
    "RefreshInDoubt",
    "SwitchboardError",
    "TokenEndpointError",
    "TransientTokenError",
    "Unauthorized",
    "UpstreamError",
    "UpstreamUnavailable",
    "VaultError",
    "VaultNotFound",
    "VaultPermissionDenied",
    "VaultUnavailable",
]


class SwitchboardError(Exception):
    """Base class of every error Switchboard raises on purpose."""


class ConfigurationError(SwitchboardError):
    """A setting or a stored client definition is missing or invalid."""


class VaultError(SwitchboardError):
    """Vault refused or failed a request.

    ``path`` is the Vault path (never a value read from it).
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class VaultUnavailable(VaultError):
    """Vault could not be reached, answered 5xx, or is sealed."""


class VaultPermissionDenied(VaultError):
    """The Vault token's policy does not allow this operation on the path."""


class VaultNotFound(VaultError):
    """Nothing is stored at the path."""


class CASConflict(VaultError):
    """A check-and-set write lost: the secret changed since it was read."""


class LockBusy(SwitchboardError):
    """Another worker holds a live claim on the credential's refresh token."""


class RefreshInDoubt(SwitchboardError):
    """A worker claimed the refresh token, may have spent it, and never wrote the outcome.

    Nobody spends that refresh token again automatically: the owner's host replays the answer
    from its journal, or an operator resolves it (README, "Runbook: in_doubt").
    """


class TokenEndpointError(SwitchboardError):
    """The OAuth 2 token endpoint failed.

    ``error`` is the OAuth error code from the response body when there was one,
    ``status`` the HTTP status when there was a response.
    """

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.status = status
        self.retry_after = retry_after


class TransientTokenError(TokenEndpointError):
    """Network failure, timeout, 5xx or 429: worth retrying later.

    ``maybe_processed`` is ``False`` only when the server cannot have acted on the request (no
    connection, 429, 503): then a refresh token sent with it is certainly not spent.
    """

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        maybe_processed: bool = True,
    ) -> None:
        super().__init__(message, error=error, status=status, retry_after=retry_after)
        self.maybe_processed = maybe_processed


class CredentialRevoked(TokenEndpointError):
    """``invalid_grant``: the refresh token is no longer valid; a human must re-seed it."""


class ClientRejected(TokenEndpointError):
    """``invalid_client`` and friends: the client definition is wrong."""


class UpstreamError(SwitchboardError):
    """A LivePerson API call failed."""

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.service = service
        self.status = status
        self.retry_after = retry_after


class UpstreamUnavailable(UpstreamError):
    """Network failure, timeout or 5xx from LivePerson."""


class RateLimited(UpstreamError):
    """HTTP 429 from LivePerson."""


class Unauthorized(UpstreamError):
    """HTTP 401/403 from LivePerson: the bearer is expired or not accepted."""
