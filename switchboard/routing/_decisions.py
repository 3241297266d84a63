"""The decision rules: pure functions from availability and queue health to a customer message.

No agent ONLINE → the skill's no-agent message. Otherwise the 90th-percentile wait, rounded up
to whole minutes, at or above the skill's threshold → the busy message with those minutes;
below it → no message. No queue-health data (-1 or missing) → no message, and the caller warns.
A skill a lookup refused (a 4xx for that skill alone) → ``refused``, no message: retrying the
batch would only be refused again.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from switchboard.liveperson import AgentStatus, RoutingEvent, SkillRule, SkillWait

__all__ = [
    "Decision",
    "DecisionKind",
    "SkillAvailability",
    "count_availability",
    "decide",
    "decide_all",
    "request_id_for",
    "wait_minutes",
]

ONLINE = "ONLINE"
_REQUEST_ID_NAMESPACE = uuid.UUID("6f1c1d52-8a53-4a8e-9b0e-2f4b7f3c9a10")


class DecisionKind(StrEnum):
    NO_AGENT = "no_agent"
    BUSY = "busy"
    NO_MESSAGE = "no_message"
    NO_DATA = "no_data"
    REFUSED = "refused"


class SkillAvailability(BaseModel):
    """How many agents of a skill agent-view reported, and how many of them are ONLINE."""

    model_config = ConfigDict(frozen=True)

    skill_id: str
    agents: int = 0
    online: int = 0
    refused: str | None = Field(
        default=None, description="Why agent-view refused this skill (a 4xx), if it did."
    )


class Decision(BaseModel):
    """What one routed conversation gets; ``message_id`` once the message was sent."""

    model_config = ConfigDict(frozen=True)

    conversation_id: str
    dialog_id: str
    skill_id: str
    kind: DecisionKind
    reason: str = Field(description="Why, in words an operator reads in the artifact.")
    wait_minutes: int | None = None
    message: str | None = None
    request_id: str | None = Field(default=None, description="Request-ID of the message, if any.")
    message_id: str | None = None
    duplicate: bool = Field(default=False, description="LivePerson had this Request-ID already.")
    send_error: str | None = Field(
        default=None,
        description="Why LivePerson refused this one message (a 4xx other than 401/403/429).",
    )


def count_availability(
    records: Iterable[AgentStatus], skill_ids: Iterable[str]
) -> dict[str, SkillAvailability]:
    """Agents and ONLINE agents per requested skill (a skill without records counts zero)."""
    wanted = set(skill_ids)
    agents = dict.fromkeys(wanted, 0)
    online = dict.fromkeys(wanted, 0)
    for record in records:
        for skill_id in set(record.skill_ids) & wanted:
            agents[skill_id] += 1
            online[skill_id] += record.current_status == ONLINE
    return {
        skill: SkillAvailability(skill_id=skill, agents=agents[skill], online=online[skill])
        for skill in wanted
    }


def wait_minutes(p90_ms: int) -> int:
    """Milliseconds rounded UP to whole minutes (61 s → 2 min)."""
    return math.ceil(p90_ms / 60_000)


def request_id_for(event: RoutingEvent, kind: DecisionKind) -> str:
    """Deterministic Request-ID: a retry or a redelivery of the same decision dedupes upstream.

    The minutes are left out on purpose: a redelivery that sees a slightly different wait must
    not message the customer twice.
    """
    key = f"{event.conversation_id}|{event.dialog_id}|{event.skill_id}|{kind.value}"
    return str(uuid.uuid5(_REQUEST_ID_NAMESPACE, key))


def decide(
    event: RoutingEvent,
    availability: SkillAvailability | None,
    wait: SkillWait | None,
    rule: SkillRule,
) -> Decision:
    """The decision for one routed conversation."""
    base = {
        "conversation_id": event.conversation_id,
        "dialog_id": event.dialog_id,
        "skill_id": event.skill_id,
    }
    if availability is not None and availability.refused:
        reason = f"the skill's agents could not be read: {availability.refused}"
        return Decision(**base, kind=DecisionKind.REFUSED, reason=reason)
    if availability is None or availability.agents == 0:
        return _message(event, base, DecisionKind.NO_AGENT, "no agent records for the skill", rule)
    if availability.online == 0:
        reason = f"{availability.agents} agents, none ONLINE"
        return _message(event, base, DecisionKind.NO_AGENT, reason, rule)
    if wait is not None and wait.refused:
        reason = f"{availability.online} ONLINE; queue health refused the skill: {wait.refused}"
        return Decision(**base, kind=DecisionKind.REFUSED, reason=reason)
    if wait is None or wait.p90_ms is None:
        reason = f"{availability.online} ONLINE; no queue-health data for the skill"
        return Decision(**base, kind=DecisionKind.NO_DATA, reason=reason)
    minutes = wait_minutes(wait.p90_ms)
    if minutes < rule.threshold_minutes:
        reason = f"p90 wait {minutes} min below the {rule.threshold_minutes} min threshold"
        return Decision(**base, kind=DecisionKind.NO_MESSAGE, reason=reason, wait_minutes=minutes)
    reason = f"p90 wait {minutes} min at or above the {rule.threshold_minutes} min threshold"
    return _message(event, base, DecisionKind.BUSY, reason, rule, minutes)


def _message(
    event: RoutingEvent,
    base: dict[str, str],
    kind: DecisionKind,
    reason: str,
    rule: SkillRule,
    minutes: int | None = None,
) -> Decision:
    text = (
        rule.busy_message.format(minutes=minutes)
        if kind is DecisionKind.BUSY
        else rule.no_agent_message
    )
    return Decision(
        **base,
        kind=kind,
        reason=reason,
        wait_minutes=minutes,
        message=text,
        request_id=request_id_for(event, kind),
    )


def decide_all(
    events: Sequence[RoutingEvent],
    availability: Mapping[str, SkillAvailability],
    waits: Mapping[str, SkillWait],
    rules: Mapping[str, SkillRule],
    default_rule: SkillRule,
) -> list[Decision]:
    """One decision per event, in the events' order."""
    return [
        decide(
            event,
            availability.get(event.skill_id),
            waits.get(event.skill_id),
            rules.get(event.skill_id, default_rule),
        )
        for event in events
    ]
