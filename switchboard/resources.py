"""The one owner of what a process holds per Vault identity: store, refresher, tokens, clients.

A process talks to Vault as one or a few identities (the ``VAULT_*`` settings, or a
``VaultConnection`` block per name), and for each it keeps a logged-in ``CredentialStore``, the
``Refresher`` whose journal and plan cache belong to it (with, when
``SWITCHBOARD_METRICS_TEXTFILE`` is set, the ``refresh_metrics`` that count its outcomes for
that file), a read-only ``AccessTokenCache`` and the
pooled LivePerson clients whose bearers come from that cache. Building any of them twice costs a
Vault login, a cold connection pool or a second cache that disagrees with the first, so they are
built on first use by one ``Resources`` per identity, and ``registry`` (one per process) hands
the same ``Resources`` to the flows' tasks, the ingress and ``switchboard.consumer``.

Everything is built lazily and imported lazily: reading a token does not pay for the refresh
protocol or the LivePerson client, and nothing logs in to Vault before it is needed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from switchboard._exceptions import ConfigurationError
from switchboard._settings import TokenSettings, VaultSettings, load
from switchboard.vault import CredentialStore

if TYPE_CHECKING:
    from switchboard.consumer import AccessTokenCache
    from switchboard.metrics import TextfileExport
    from switchboard.refresh import Refresher
    from switchboard.routing import ClientPool

logger = logging.getLogger("switchboard.resources")

__all__ = ["DEFAULT_KEY", "ResourceRegistry", "Resources", "registry"]

DEFAULT_KEY = "env"
"""The registry key of the identity in the ``VAULT_*`` settings (the consumer helpers' one)."""

_T = TypeVar("_T")


class Resources:
    """The store, refresher, token cache and LivePerson clients of one Vault identity.

    Each is built on first use, once, under a lock (tasks run in threads), and then shared.

    Args:
        connect: builds the logged-in store (called once, on first use).
        token_settings: the refresher's settings; default ``SWITCHBOARD_TOKEN_*`` at first use.
        tokens: a token cache to use instead of a read-only one on the store (one that may
            refresh, say).
    """

    def __init__(
        self,
        connect: Callable[[], CredentialStore],
        *,
        token_settings: TokenSettings | None = None,
        tokens: AccessTokenCache | None = None,
    ) -> None:
        self._connect = connect
        self._token_settings = token_settings
        self._built: dict[str, object] = {} if tokens is None else {"tokens": tokens}
        self._guard = threading.RLock()

    @classmethod
    def from_settings(
        cls, settings: VaultSettings, *, token_settings: TokenSettings | None = None
    ) -> Resources:
        """Resources that log in with ``settings`` on first use."""
        return cls(lambda: CredentialStore.from_settings(settings), token_settings=token_settings)

    @classmethod
    def of_store(
        cls,
        store: CredentialStore,
        *,
        token_settings: TokenSettings | None = None,
        tokens: AccessTokenCache | None = None,
    ) -> Resources:
        """Resources over a store that is already logged in."""
        return cls(lambda: store, token_settings=token_settings, tokens=tokens)

    def _once(self, name: str, build: Callable[[], _T]) -> _T:
        with self._guard:
            if name not in self._built:
                self._built[name] = build()
            return cast(_T, self._built[name])  # each name is built by one property

    def is_built(self, name: str) -> bool:
        """Whether the resource called ``name`` (``store``, ``tokens``, ...) exists yet.

        Lock-free (a dict lookup is atomic): the event loop asks this, and must not wait for
        another thread's Vault login, which holds the lock while it builds.
        """
        return name in self._built

    @property
    def store(self) -> CredentialStore:
        """The logged-in ``CredentialStore`` (the first use logs in)."""
        return self._once("store", self._connect)

    @property
    def refresher(self) -> Refresher:
        """The ``Refresher`` of this identity: its plan cache is shared by a run's tasks."""
        from switchboard.refresh import Refresher

        export = self.refresh_metrics
        return self._once(
            "refresher",
            lambda: Refresher(
                self.store,
                self._token_settings or load(TokenSettings),
                observer=None if export is None else export.metrics,
            ),
        )

    @property
    def refresh_metrics(self) -> TextfileExport | None:
        """The refresher's counters and the textfile they go to (``SWITCHBOARD_METRICS_TEXTFILE``),
        or ``None`` when it is unset: a flow-run process ends with its run, so its counts last
        only in that file, which the run's end adds them to (``TextfileExport.flush``)."""

        def build() -> TextfileExport | None:
            from switchboard.metrics import MetricsSettings, TextfileExport

            try:
                path = load(MetricsSettings).textfile
            except ConfigurationError as exc:  # metrics never stop a refresh
                logger.warning("refresh counters are not exported: %s", exc)
                return None
            return None if path is None else TextfileExport(path)

        return self._once("refresh_metrics", build)

    @property
    def tokens(self) -> AccessTokenCache:
        """The access-token cache: read-only unless one was given (consumers only read)."""
        from switchboard.consumer import AccessTokenCache

        return self._once("tokens", lambda: AccessTokenCache(self.store))

    @property
    def clients(self) -> ClientPool:
        """The LivePerson clients whose bearers come from ``tokens``."""
        from switchboard.routing import ClientPool

        return self._once("clients", lambda: ClientPool(self.tokens, self.store.read_oauth1))

    async def aclose(self) -> None:
        """Close the running loop's LivePerson clients, if any were built."""
        with self._guard:
            clients = self._built.get("clients")
        if clients is not None:
            from switchboard.routing import ClientPool

            assert isinstance(clients, ClientPool)
            await clients.aclose()


class ResourceRegistry:
    """The process's ``Resources``, one per key (``DEFAULT_KEY``, or a name chosen by a caller).

    The key names where the identity came from, so a caller does not need to build the
    identity (load a block, say) to find its resources again.
    """

    def __init__(self) -> None:
        self._by_key: dict[str, Resources] = {}
        self._guard = threading.Lock()

    def get(self, key: str, build: Callable[[], Resources]) -> Resources:
        """The resources under ``key``; ``build`` makes them on the first call for the key."""
        found = self.find(key)
        if found is not None:
            return found
        built = build()  # may load a block: outside the lock
        with self._guard:
            return self._by_key.setdefault(key, built)

    def find(self, key: str) -> Resources | None:
        """The resources under ``key`` if any were made, without making them."""
        with self._guard:
            return self._by_key.get(key)

    def default(self) -> Resources:
        """The identity of the ``VAULT_*`` settings, read on the first call."""
        return self.get(DEFAULT_KEY, lambda: Resources.from_settings(load(VaultSettings)))

    def install(self, key: str, resources: Resources | None) -> None:
        """Use ``resources`` for ``key`` (``None``: forget it, built again on next use)."""
        with self._guard:
            if resources is None:
                self._by_key.pop(key, None)
            else:
                self._by_key[key] = resources

    async def aclose(self) -> None:
        """Close every identity's LivePerson clients on the running loop (ingress shutdown)."""
        with self._guard:
            every = list(self._by_key.values())
        for resources in every:
            await resources.aclose()


registry = ResourceRegistry()
"""The process's one registry: the tasks, the ingress and the consumer helpers all use it."""
