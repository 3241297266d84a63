"""Vault access: an authenticated session, KV v2 and the credential store."""

from switchboard.vault._errors import vault_errors
from switchboard.vault._kv import KV, Current, Versioned
from switchboard.vault._session import VaultSession, connect
from switchboard.vault._store import (
    SEED_CONSUMED_KEY,
    CredentialStore,
    Seed,
    VersionedRefresh,
    VersionedToken,
)

__all__ = [
    "KV",
    "SEED_CONSUMED_KEY",
    "CredentialStore",
    "Current",
    "Seed",
    "VaultSession",
    "Versioned",
    "VersionedRefresh",
    "VersionedToken",
    "connect",
    "vault_errors",
]
