"""``LivePersonClient``: one pooled HTTP client and the API classes that share it."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Protocol

import httpx2

from switchboard.liveperson._adapter import Adapter, UpstreamObserver
from switchboard.liveperson._agent_view import AgentView
from switchboard.liveperson._auth import BearerAuth, TokenSource
from switchboard.liveperson._csds import Csds, DomainCache
from switchboard.liveperson._kmm import KeyMessagingMetrics
from switchboard.liveperson._messaging import Messaging
from switchboard.liveperson._models import AgentStatus
from switchboard.liveperson._queue_health import QueueHealth, QueueHealthCache
from switchboard.liveperson._settings import LivePersonSettings

__all__ = ["MESSAGING", "QUEUE_HEALTH", "AvailabilitySource", "LivePersonClient"]

# The services routing needs besides the availability source's, by their CSDS names.
QUEUE_HEALTH = "leDataReporting"
MESSAGING = "messagingRestApiDomain"


class AvailabilitySource(Protocol):
    """An API that lists the agents of some skills (``AgentView``, ``KeyMessagingMetrics``)."""

    @property
    def domain(self) -> str:
        """The CSDS service whose host serves it."""

    async def list_agents(self, host: str, skill_ids: Sequence[str]) -> list[AgentStatus]:
        """The agents of ``skill_ids`` with their statuses (one call for the whole batch)."""


class LivePersonClient:
    """The LivePerson APIs of one account over one connection pool; reuse it across batches.

    Args:
        settings: the account and its limits.
        tokens: where the OAuth 2 bearer comes from (``switchboard.consumer.AccessTokenCache``).
        oauth1: an ``httpx2.Auth`` signing with the account's API keys, for queue health v1.
        observer: told of every upstream call (``observe`` replaces it).
    """

    def __init__(
        self,
        settings: LivePersonSettings,
        *,
        tokens: TokenSource,
        oauth1: httpx2.Auth | None = None,
        observer: UpstreamObserver | None = None,
    ) -> None:
        self.settings = settings
        pool = settings.send_concurrency + 8
        self._http = httpx2.AsyncClient(
            timeout=settings.timeout_seconds,
            limits=httpx2.Limits(max_connections=pool, max_keepalive_connections=pool),
            follow_redirects=False,
        )
        self._adapter = Adapter(self._http, max_attempts=settings.max_attempts, observer=observer)
        adapter = self._adapter
        bearer = BearerAuth(tokens, settings.bearer_credential)
        scheme, account = settings.scheme, settings.account_id
        self.csds = Csds(adapter, base_url=f"{scheme}://{settings.csds_host}", account_id=account)
        self.domains = DomainCache(self.csds, ttl_seconds=settings.csds_ttl_seconds)
        self.agent_view = AgentView(adapter, account_id=account, scheme=scheme, auth=bearer)
        self.key_messaging_metrics = KeyMessagingMetrics(
            adapter, account_id=account, scheme=scheme, auth=bearer
        )
        self.availability: AvailabilitySource = (
            self.key_messaging_metrics
            if settings.availability_source == "key_messaging_metrics"
            else self.agent_view
        )
        """Where routing reads ONLINE agents (``availability_source``)."""
        self.queue_health = QueueHealth(
            adapter, account_id=account, scheme=scheme, bearer=bearer, oauth1=oauth1
        )
        self.queue_waits = QueueHealthCache(
            self.queue_health, ttl_seconds=settings.queue_health_cache_seconds
        )
        """Queue health per skill, reused for ``queue_health_cache_seconds``."""
        self.messaging = Messaging(
            adapter,
            account_id=account,
            scheme=scheme,
            path_template=settings.messaging_path,
            client_source=settings.client_source,
            auth=bearer,
        )

    @property
    def services(self) -> tuple[str, ...]:
        """The CSDS services routing calls for this account."""
        return (self.availability.domain, QUEUE_HEALTH, MESSAGING)

    def observe(self, observer: UpstreamObserver | None) -> None:
        """Report every upstream call from now on to ``observer`` (``None``: to nobody)."""
        self._adapter.observer = observer

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
