"""Access tokens for code that calls APIs: read from Vault, cached until the token is due.

``get_access_token(name)`` reads ``<base>/credentials/<name>/token`` at most once per refresh
cycle per process: a token is cached until its ``refresh_after`` (a provider that rotates
refresh tokens may kill the previous access token at once) or shortly before it expires. After
an HTTP 401 or 403 call ``invalidate_access_token(name, token)``: the next get reads Vault
again. The module-level helpers only read (the consumer policy allows nothing else); a cache
built with ``AccessTokenCache.refreshing`` (the flows' identity) also asks for a rate-limited
refresh when Vault still holds the rejected token.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr

from switchboard._exceptions import VaultNotFound
from switchboard._models import same_secret, utcnow
from switchboard._settings import TokenSettings
from switchboard.resources import DEFAULT_KEY, Resources, registry
from switchboard.vault import CredentialStore

__all__ = [
    "DEFAULT_MARGIN_SECONDS",
    "AccessTokenCache",
    "aget_access_token",
    "default_cache",
    "get_access_token",
    "invalidate_access_token",
    "set_default_cache",
]

DEFAULT_MARGIN_SECONDS = 60.0
"""A cached token is used until this many seconds before it expires."""

REJECTED_WAIT_SECONDS = 30.0
"""How long a refreshing cache waits for a refresh another worker is running."""

STALE_RETRY_SECONDS = 5.0
"""When Vault only has a stale token, keep it this long before reading again."""

RefreshHook = Callable[[str], object]


@dataclass(frozen=True)
class _Entry:
    token: SecretStr
    expires_at: datetime
    fresh_until: float  # time.monotonic()


class AccessTokenCache:
    """A process-wide, thread-safe cache of access tokens keyed by credential name."""

    def __init__(
        self,
        store: CredentialStore,
        *,
        margin_seconds: float = DEFAULT_MARGIN_SECONDS,
        refresh: RefreshHook | None = None,
    ) -> None:
        self.store = store
        self.margin_seconds = margin_seconds
        self.refresh = refresh
        self.vault_reads = 0
        self._entries: dict[str, _Entry] = {}
        self._rejected: dict[str, SecretStr] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @classmethod
    def refreshing(
        cls,
        store: CredentialStore,
        settings: TokenSettings,
        *,
        margin_seconds: float = DEFAULT_MARGIN_SECONDS,
    ) -> AccessTokenCache:
        """A cache that replaces a rejected or stale token with a rate-limited forced refresh.

        For processes allowed to refresh (the flows' identity); consumers that may only read
        tokens use the plain constructor.
        """
        from switchboard.refresh import Refresher

        refresher = Refresher(store, settings)
        return cls(
            store,
            margin_seconds=margin_seconds,
            refresh=lambda name: refresher.refresh_rejected(
                name, wait_seconds=REJECTED_WAIT_SECONDS
            ),
        )

    def _cached(self, name: str) -> SecretStr | None:
        entry = self._entries.get(name)
        if entry is not None and time.monotonic() < entry.fresh_until:
            return entry.token
        return None

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def get(self, name: str) -> SecretStr:
        """The access token for ``name``; reads Vault only when the cached one is due."""
        cached = self._cached(name)
        if cached is not None:
            return cached
        with self._lock(name):
            cached = self._cached(name)
            if cached is not None:
                return cached
            entry = self._read(name)
            if self.refresh is not None and self._unusable(name, entry):
                self.refresh(name)
                entry = self._read(name)
            if self._unusable(name, entry):  # still stale: don't hammer Vault for it
                entry = _Entry(
                    entry.token, entry.expires_at, time.monotonic() + STALE_RETRY_SECONDS
                )
            self._entries[name] = entry
            self._rejected.pop(name, None)
            return entry.token

    async def aget(self, name: str) -> SecretStr:
        """``get`` for async code: a cache hit stays on the loop, a Vault read runs in a thread."""
        cached = self._cached(name)
        if cached is not None:
            return cached
        return await asyncio.to_thread(self.get, name)

    def invalidate(self, name: str, token: SecretStr) -> None:
        """Forget ``token`` after an upstream rejected it; a newer cached token is kept."""
        with self._lock(name):
            self._rejected[name] = token
            entry = self._entries.get(name)
            if entry is not None and same_secret(entry.token, token):
                del self._entries[name]

    def _read(self, name: str) -> _Entry:
        self.vault_reads += 1
        stored = self.store.read_token(name).token
        if stored is None:
            raise VaultNotFound(
                f"no token stored for credential {name!r} yet: run the acquire_token flow "
                f"(or `switchboard refresh {name}`)",
                path=self.store.where(name, "token"),
            )
        now = utcnow()
        usable_until = min(
            (stored.expires_at - now).total_seconds() - self.margin_seconds,
            (stored.refresh_after - now).total_seconds(),
        )
        return _Entry(stored.access_token, stored.expires_at, time.monotonic() + usable_until)

    def _unusable(self, name: str, entry: _Entry) -> bool:
        """Rejected by an upstream, or due (then the refresh is late: read again soon)."""
        stale = entry.fresh_until <= time.monotonic()
        return stale or same_secret(entry.token, self._rejected.get(name))


def default_cache() -> AccessTokenCache:
    """The token cache of the process's ``VAULT_*`` identity (``switchboard.resources``).

    It only reads Vault: a consumer's identity may read tokens and nothing else. Install a
    ``AccessTokenCache.refreshing`` cache with ``set_default_cache`` to refresh on rejection.
    The flows' tasks with no ``vault_block`` use the same cache and store.
    """
    return registry.default().tokens


def set_default_cache(cache: AccessTokenCache | None) -> None:
    """Use ``cache`` for the ``VAULT_*`` identity (``None``: rebuild from settings on next use).

    It replaces that identity's ``Resources`` (store, refresher, clients) with ones over the
    cache's store, so nothing in the process keeps using a store the cache does not.
    """
    registry.install(
        DEFAULT_KEY, None if cache is None else Resources.of_store(cache.store, tokens=cache)
    )


def get_access_token(name: str) -> SecretStr:
    """The access token for ``name`` from the default cache (reads Vault when it is due)."""
    return default_cache().get(name)


async def aget_access_token(name: str) -> SecretStr:
    """``get_access_token`` for async code; building the default cache runs in a thread."""
    resources = registry.find(DEFAULT_KEY)
    if resources is not None and resources.is_built("tokens"):
        return await resources.tokens.aget(name)
    cache = await asyncio.to_thread(default_cache)  # may log in to Vault: off the loop
    return await cache.aget(name)


def invalidate_access_token(name: str, token: SecretStr) -> None:
    """Forget ``token`` after an upstream rejected it: the next get reads Vault again."""
    default_cache().invalidate(name, token)
