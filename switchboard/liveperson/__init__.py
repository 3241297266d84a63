"""LivePerson: settings, the routing event, and async clients (one class per API)."""

from __future__ import annotations

from switchboard.liveperson._adapter import Adapter
from switchboard.liveperson._agent_view import MAX_PAGE_SIZE, AgentView
from switchboard.liveperson._auth import BearerAuth, TokenSource
from switchboard.liveperson._client import (
    CSDS_SERVICES,
    MESSAGING,
    MSG_HIST,
    QUEUE_HEALTH,
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
from switchboard.liveperson._messaging import Messaging
from switchboard.liveperson._models import (
    AgentStatus,
    AgentStatusPage,
    Domains,
    SentMessage,
    SkillWait,
)
from switchboard.liveperson._queue_health import QueueHealth
from switchboard.liveperson._settings import (
    DEFAULT_BUSY_MESSAGE,
    DEFAULT_MESSAGING_PATH,
    DEFAULT_NO_AGENT_MESSAGE,
    LivePersonSettings,
    SkillRule,
)

__all__ = [
    "CSDS_SERVICES",
    "DEFAULT_BUSY_MESSAGE",
    "DEFAULT_MESSAGING_PATH",
    "DEFAULT_NO_AGENT_MESSAGE",
    "MAX_PAGE_SIZE",
    "MESSAGING",
    "MSG_HIST",
    "QUEUE_HEALTH",
    "Adapter",
    "AgentStatus",
    "AgentStatusPage",
    "AgentView",
    "BearerAuth",
    "Csds",
    "DomainCache",
    "Domains",
    "General",
    "LivePersonClient",
    "LivePersonSettings",
    "Messaging",
    "QueueHealth",
    "Routing",
    "RoutingEvent",
    "SentMessage",
    "SkillRule",
    "SkillWait",
    "TokenSource",
    "TooManyEvents",
    "describe_validation_error",
    "parse_events",
]
