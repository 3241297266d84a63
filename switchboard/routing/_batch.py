"""The routing pipeline's order, written once: domains, both lookups, decide, send.

``route_batch`` runs the steps of a ``RoutingSteps``: the plain ones here (no Prefect: the
benchmark's baseline ingress), or the flow's, which run each step as a Prefect task over the same
functions. So a new step, or a change of order, is made here and both get it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from switchboard.liveperson import Domains, LivePersonClient, RoutingEvent, SkillWait
from switchboard.routing._decisions import Decision, SkillAvailability
from switchboard.routing._pipeline import (
    decide_batch,
    read_availability,
    read_queue_health,
    resolve_domains,
    send_messages,
    skill_ids_of,
)

__all__ = ["PLAIN_STEPS", "RoutingSteps", "route_batch"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _as_step(function: Callable[_P, _T]) -> Callable[_P, Awaitable[_T]]:
    """A plain function as a step: steps are awaited, whether they do I/O or not."""

    async def step(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        return function(*args, **kwargs)

    return step


@dataclass(frozen=True)
class RoutingSteps:
    """One callable per step; each takes the batch's client and what the earlier steps found."""

    resolve_domains: Callable[[LivePersonClient], Awaitable[Domains]]
    read_availability: Callable[
        [LivePersonClient, Domains, Sequence[str]], Awaitable[dict[str, SkillAvailability]]
    ]
    read_queue_health: Callable[
        [LivePersonClient, Domains, Sequence[str]], Awaitable[dict[str, SkillWait]]
    ]
    decide: Callable[
        [
            LivePersonClient,
            Sequence[RoutingEvent],
            Mapping[str, SkillAvailability],
            Mapping[str, SkillWait],
        ],
        Awaitable[list[Decision]],
    ]
    send_messages: Callable[
        [LivePersonClient, Domains, Sequence[Decision]], Awaitable[list[Decision]]
    ]


PLAIN_STEPS = RoutingSteps(
    resolve_domains=resolve_domains,
    read_availability=read_availability,
    read_queue_health=read_queue_health,
    decide=_as_step(decide_batch),
    send_messages=send_messages,
)
"""The steps as plain coroutines over ``switchboard.routing``'s functions (no Prefect)."""


async def route_batch(
    client: LivePersonClient,
    events: Sequence[RoutingEvent],
    steps: RoutingSteps = PLAIN_STEPS,
) -> list[Decision]:
    """Route one batch: one upstream call per step for the whole batch; the decisions, sent.

    The two lookups run concurrently: both need only the domains and the batch's skills.
    """
    skills = skill_ids_of(events)
    domains = await steps.resolve_domains(client)
    availability, waits = await asyncio.gather(
        steps.read_availability(client, domains, skills),
        steps.read_queue_health(client, domains, skills),
    )
    decisions = await steps.decide(client, events, availability, waits)
    return await steps.send_messages(client, domains, decisions)
