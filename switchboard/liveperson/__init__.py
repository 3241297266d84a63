"""LivePerson: settings, the routing event, and async clients (one class per API)."""

from __future__ import annotations

from switchboard.liveperson._adapter import Adapter, UpstreamObserver
from switchboard.liveperson._agent_view import MAX_PAGE_SIZE, MSG_HIST, AgentView
from switchboard.liveperson._auth import BearerAuth, TokenSource
from switchboard.liveperson._client import (
    MESSAGING,
    QUEUE_HEALTH,
    AvailabilitySource,
    LivePersonClient,
)
from switchboard.liveperson._csds import Csds, DomainCache
from switchboard.liveperson._events import (
    General,
    Routing,
    RoutingEvent,
    TooManyEvents,
    describe_validation_error,
    parse_events,
)
from switchboard.liveperson._kmm import (
    AGENT_MANAGER_WORKSPACE,
    KMM_MAX_RESULTS,
    KeyMessagingMetrics,
)
from switchboard.liveperson._messaging import Messaging
from switchboard.liveperson._models import (
    AgentStatus,
    AgentStatusPage,
    Domains,
    SentMessage,
    SkillWait,
)
from switchboard.liveperson._queue_health import QueueHealth, QueueHealthCache
from switchboard.liveperson._settings import (
    DEFAULT_BUSY_MESSAGE,
    DEFAULT_MESSAGING_PATH,
    DEFAULT_NO_AGENT_MESSAGE,
    AvailabilitySourceName,
    LivePersonSettings,
    SkillRule,
)

__all__ = [
    "AGENT_MANAGER_WORKSPACE",
    "DEFAULT_BUSY_MESSAGE",
    "DEFAULT_MESSAGING_PATH",
    "DEFAULT_NO_AGENT_MESSAGE",
    "KMM_MAX_RESULTS",
    "MAX_PAGE_SIZE",
    "MESSAGING",
    "MSG_HIST",
    "QUEUE_HEALTH",
    "Adapter",
    "AgentStatus",
    "AgentStatusPage",
    "AgentView",
    "AvailabilitySource",
    "AvailabilitySourceName",
    "BearerAuth",
    "Csds",
    "DomainCache",
    "Domains",
    "General",
    "KeyMessagingMetrics",
    "LivePersonClient",
    "LivePersonSettings",
    "Messaging",
    "QueueHealth",
    "QueueHealthCache",
    "Routing",
    "RoutingEvent",
    "SentMessage",
    "SkillRule",
    "SkillWait",
    "TokenSource",
    "TooManyEvents",
    "UpstreamObserver",
    "describe_validation_error",
    "parse_events",
]
