"""Routing notifications: the pure decision rules and the batch pipeline (no Prefect here)."""

from __future__ import annotations

from switchboard.routing._connections import ClientPool, client_pool
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
    is_refusal,
    read_availability,
    read_queue_health,
    resolve_domains,
    route_batch,
    send_messages,
    skill_ids_of,
)

__all__ = [
    "ClientPool",
    "Decision",
    "DecisionKind",
    "SkillAvailability",
    "client_pool",
    "count_availability",
    "decide",
    "decide_all",
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
