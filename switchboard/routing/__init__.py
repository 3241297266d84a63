"""Routing notifications: the pure decision rules, the pipeline's steps and their order, the
LivePerson client pool (no Prefect here)."""

from __future__ import annotations

from switchboard.routing._batch import PLAIN_STEPS, RoutingSteps, route_batch
from switchboard.routing._connections import ClientPool, ReadOAuth1Keys
from switchboard.routing._decisions import (
    Decision,
    DecisionKind,
    SkillAvailability,
    count_availability,
    decide,
    decide_all,
    request_id_for,
    wait_minutes,
)
from switchboard.routing._pipeline import (
    decide_and_send,
    decide_batch,
    is_refusal,
    read_availability,
    read_queue_health,
    resolve_domains,
    send_messages,
    skill_ids_of,
)

__all__ = [
    "PLAIN_STEPS",
    "ClientPool",
    "Decision",
    "DecisionKind",
    "ReadOAuth1Keys",
    "RoutingSteps",
    "SkillAvailability",
    "count_availability",
    "decide",
    "decide_all",
    "decide_and_send",
    "decide_batch",
    "is_refusal",
    "read_availability",
    "read_queue_health",
    "request_id_for",
    "resolve_domains",
    "route_batch",
    "send_messages",
    "skill_ids_of",
    "wait_minutes",
]
