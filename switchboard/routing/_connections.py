"""Long-lived LivePerson clients: one per account settings and event loop, reused across batches.

Reuse is what keeps per-batch cost low: the connection pool stays warm, CSDS stays cached, the
bearer stays in the token cache, and the OAuth 1 keys are read from Vault once per client.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING

from switchboard.liveperson import LivePersonClient, LivePersonSettings

if TYPE_CHECKING:
    from switchboard.consumer import AccessTokenCache

__all__ = ["ClientPool", "client_pool"]


class ClientPool:
    """``LivePersonClient``s keyed by event loop (weakly), settings and token cache."""

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[str, int], LivePersonClient]
        ] = weakref.WeakKeyDictionary()

    async def get(self, settings: LivePersonSettings, tokens: AccessTokenCache) -> LivePersonClient:
        """The client for ``settings`` on the running loop, built on first use."""
        clients = self._by_loop.setdefault(asyncio.get_running_loop(), {})
        key = (settings.model_dump_json(), id(tokens))
        client = clients.get(key)
        if client is None:
            oauth1 = None
            if settings.oauth1_keys:
                from switchboard.oauth1 import oauth1_auth

                keys = await asyncio.to_thread(tokens.store.read_oauth1, settings.oauth1_keys)
                oauth1 = oauth1_auth(keys)
            # another caller may have built one while we awaited Vault: keep the first
            client = clients.get(key)
            if client is None:
                client = clients[key] = LivePersonClient(settings, tokens=tokens, oauth1=oauth1)
        return client

    async def aclose(self) -> None:
        """Close the running loop's clients (the ingress calls this on shutdown)."""
        for client in self._by_loop.pop(asyncio.get_running_loop(), {}).values():
            await client.aclose()


client_pool = ClientPool()
"""The process-wide pool the Prefect tasks and the ingress share."""
