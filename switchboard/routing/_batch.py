"""The routing pipeline's order, written once: domains, both lookups, then the messages.

``route_batch`` runs the steps of a ``RoutingSteps``: the plain ones here (no Prefect: the
benchmark's baseline ingress), or the flow's, which run each step as a Prefect task over the same
functions. So a new step, or a change of order, is made here and both get it. Resolving the
service domains is not a step: the client caches it (``csds_ttl_seconds``), so it is plumbing
that almost never calls out, and each step is paid per batch in the flow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from switchboard.liveperson import Domains, LivePersonClient, RoutingEvent, SkillWait
from switchboard.routing._decisions import Decision, SkillAvailability
from switchboard.routing._pipeline import (
    decide_and_send,
    read_availability,
    read_queue_health,
    resolve_domains,
    skill_ids_of,
)

__all__ = ["PLAIN_STEPS", "RoutingSteps", "route_batch"]


@dataclass(frozen=True)
class RoutingSteps:
    """One callable per step; each takes the batch's client and what the earlier steps found."""

    read_availability: Callable[
        [LivePersonClient, Domains, Sequence[str]], Awaitable[dict[str, SkillAvailability]]
    ]
    read_queue_health: Callable[
        [LivePersonClient, Domains, Sequence[str]], Awaitable[dict[str, SkillWait]]
    ]
    message_customers: Callable[
        [
            LivePersonClient,
            Domains,
            Sequence[RoutingEvent],
            Mapping[str, SkillAvailability],
            Mapping[str, SkillWait],
        ],
        Awaitable[list[Decision]],
    ]


PLAIN_STEPS = RoutingSteps(
    read_availability=read_availability,
    read_queue_health=read_queue_health,
    message_customers=decide_and_send,
)
"""The steps as plain coroutines over ``switchboard.routing``'s functions (no Prefect)."""


async def route_batch(
    client: LivePersonClient,
    events: Sequence[RoutingEvent],
    steps: RoutingSteps = PLAIN_STEPS,
) -> list[Decision]:
    """Route one batch: one upstream call per lookup for the whole batch; the decisions, sent.

    The two lookups run concurrently: both need only the domains and the batch's skills.
    """
    skills = skill_ids_of(events)
    domains = await resolve_domains(client)
    availability, waits = await asyncio.gather(
        steps.read_availability(client, domains, skills),
        steps.read_queue_health(client, domains, skills),
    )
    return await steps.message_customers(client, domains, events, availability, waits)
