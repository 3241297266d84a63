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
    OAuth1Keys,
    RefreshOutcome,
    StoredToken,
)
from switchboard._settings import TokenSettings, VaultSettings, load

__all__ = [
    "CASConflict",
    "ClientDefinition",
    "ClientRejected",
    "ConfigurationError",
    "CredentialHealth",
    "CredentialRevoked",
    "LockBusy",
    "OAuth1Keys",
    "RateLimited",
    "RefreshOutcome",
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
    "load",
]
