"""Vault access: an authenticated session, KV v2, the credential store and its lock."""

from switchboard.vault._errors import vault_errors
from switchboard.vault._kv import KV, Versioned
from switchboard.vault._lock import CredentialLock, lock_owner_id
from switchboard.vault._session import VaultSession, connect
from switchboard.vault._store import CredentialStore, VersionedToken

__all__ = [
    "KV",
    "CredentialLock",
    "CredentialStore",
    "VaultSession",
    "Versioned",
    "VersionedToken",
    "connect",
    "lock_owner_id",
    "vault_errors",
]
