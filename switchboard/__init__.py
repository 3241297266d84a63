"""Switchboard's Prefect-free core.

The package root re-exports the light, shared pieces (exceptions, models, settings);
the subsystems are imported from their packages (``switchboard.vault``, ``switchboard.oauth2``,
``switchboard.refresh``, ``switchboard.consumer``, ``switchboard.liveperson``, ...), so that
importing one does not pay for the others' dependencies.
"""

from switchboard._exceptions import (
    CASConflict,
    ClientRejected,
    ConfigurationError,
    CredentialRevoked,
    LockBusy,
    RateLimited,
    RefreshInDoubt,
    SwitchboardError,
    TokenEndpointError,
    TransientTokenError,
    Unauthorized,
    UpstreamError,
    UpstreamUnavailable,
    VaultError,
    VaultNotFound,
    VaultPermissionDenied,
    VaultUnavailable,
)
from switchboard._models import (
    ClientDefinition,
    CredentialHealth,
    Intent,
    OAuth1Keys,
    RefreshOutcome,
    RefreshRecord,
    StoredToken,
    format_time,
    utcnow,
)
from switchboard._settings import (
    DEFAULT_BASE_PATH,
    DEFAULT_MOUNT,
    TokenSettings,
    VaultSettings,
    load,
)

__all__ = [
    "DEFAULT_BASE_PATH",
    "DEFAULT_MOUNT",
    "CASConflict",
    "ClientDefinition",
    "ClientRejected",
    "ConfigurationError",
    "CredentialHealth",
    "CredentialRevoked",
    "Intent",
    "LockBusy",
    "OAuth1Keys",
    "RateLimited",
    "RefreshInDoubt",
    "RefreshOutcome",
    "RefreshRecord",
    "StoredToken",
    "SwitchboardError",
    "TokenEndpointError",
    "TokenSettings",
    "TransientTokenError",
    "Unauthorized",
    "UpstreamError",
    "UpstreamUnavailable",
    "VaultError",
    "VaultNotFound",
    "VaultPermissionDenied",
    "VaultSettings",
    "VaultUnavailable",
    "format_time",
    "load",
    "utcnow",
]
