"""Long-lived LivePerson clients: one per account settings and event loop, reused across batches.

Reuse is what keeps per-batch cost low: the connection pool stays warm, CSDS stays cached, the
bearer stays in the token cache, and the OAuth 1 keys are read from Vault once per client.
A pool serves one token source (one Vault identity): ``switchboard.resources.Resources`` owns
it next to that identity's token cache, so a client is never keyed on an object's ``id()``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

from switchboard import OAuth1Keys
from switchboard.liveperson import (
    LivePersonClient,
    LivePersonSettings,
    TokenSource,
    UpstreamObserver,
)

__all__ = ["ClientPool", "ReadOAuth1Keys"]

ReadOAuth1Keys = Callable[[str], OAuth1Keys]
"""Reads the OAuth 1 keys stored under a name (blocking: called in a thread)."""


class ClientPool:
    """``LivePersonClient``s keyed by event loop (weakly) and account settings.

    Args:
        tokens: where every client's bearer comes from.
        read_oauth1: reads an account's API keys (``oauth1_keys``) for queue health v1.
    """

    def __init__(self, tokens: TokenSource, read_oauth1: ReadOAuth1Keys) -> None:
        self.tokens = tokens
        self._read_oauth1 = read_oauth1
        self._observer: UpstreamObserver | None = None
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, LivePersonClient]
        ] = weakref.WeakKeyDictionary()

    def observe(self, observer: UpstreamObserver | None) -> None:
        """Report every upstream call of this pool's clients, built or to come, to ``observer``
        (the ingress's metrics)."""
        self._observer = observer
        for clients in list(self._by_loop.values()):
            for client in clients.values():
                client.observe(observer)

    async def get(self, settings: LivePersonSettings) -> LivePersonClient:
        """The client for ``settings`` on the running loop, built on first use."""
        clients = self._by_loop.setdefault(asyncio.get_running_loop(), {})
        key = settings.model_dump_json()
        client = clients.get(key)
        if client is None:
            oauth1 = None
            if settings.oauth1_keys:
                from switchboard.oauth1 import oauth1_auth

                keys = await asyncio.to_thread(self._read_oauth1, settings.oauth1_keys)
                oauth1 = oauth1_auth(keys)
            # another caller may have built one while we awaited Vault: keep the first
            client = clients.get(key)
            if client is None:
                client = clients[key] = LivePersonClient(
                    settings, tokens=self.tokens, oauth1=oauth1, observer=self._observer
                )
        return client

    async def aclose(self) -> None:
        """Close the running loop's clients (the ingress calls this on shutdown)."""
        for client in self._by_loop.pop(asyncio.get_running_loop(), {}).values():
            await client.aclose()
