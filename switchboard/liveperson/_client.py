"""``LivePersonClient``: one pooled HTTP client and the API classes that share it."""

from __future__ import annotations

from types import TracebackType

import httpx2

from switchboard.liveperson._adapter import Adapter
from switchboard.liveperson._agent_view import AgentView
from switchboard.liveperson._auth import BearerAuth, TokenSource
from switchboard.liveperson._csds import Csds, DomainCache
from switchboard.liveperson._messaging import Messaging
from switchboard.liveperson._queue_health import QueueHealth
from switchboard.liveperson._settings import LivePersonSettings

__all__ = ["CSDS_SERVICES", "MESSAGING", "MSG_HIST", "QUEUE_HEALTH", "LivePersonClient"]

# The services routing needs, by their CSDS names.
MSG_HIST = "msgHist"
QUEUE_HEALTH = "leDataReporting"
MESSAGING = "messagingRestApiDomain"
CSDS_SERVICES = (MSG_HIST, QUEUE_HEALTH, MESSAGING)


class LivePersonClient:
    """The LivePerson APIs of one account over one connection pool; reuse it across batches.

    Args:
        settings: the account and its limits.
        tokens: where the OAuth 2 bearer comes from (``switchboard.consumer.AccessTokenCache``).
        oauth1: an ``httpx2.Auth`` signing with the account's API keys, for queue health v1.
    """

    def __init__(
        self,
        settings: LivePersonSettings,
        *,
        tokens: TokenSource,
        oauth1: httpx2.Auth | None = None,
    ) -> None:
        self.settings = settings
        pool = settings.send_concurrency + 8
        self._http = httpx2.AsyncClient(
            timeout=settings.timeout_seconds,
            limits=httpx2.Limits(max_connections=pool, max_keepalive_connections=pool),
            follow_redirects=False,
        )
        adapter = Adapter(self._http, max_attempts=settings.max_attempts)
        bearer = BearerAuth(tokens, settings.bearer_credential)
        scheme, account = settings.scheme, settings.account_id
        self.csds = Csds(adapter, base_url=f"{scheme}://{settings.csds_host}", account_id=account)
        self.domains = DomainCache(self.csds, ttl_seconds=settings.csds_ttl_seconds)
        self.agent_view = AgentView(adapter, account_id=account, scheme=scheme, auth=bearer)
        self.queue_health = QueueHealth(
            adapter, account_id=account, scheme=scheme, bearer=bearer, oauth1=oauth1
        )
        self.messaging = Messaging(
            adapter,
            account_id=account,
            scheme=scheme,
            path_template=settings.messaging_path,
            client_source=settings.client_source,
            auth=bearer,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> LivePersonClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
