"""Tell customers routed to a skill whether an agent is there and how long the queue is."""

from __future__ import annotations

import asyncio
from typing import TypeVar, cast

from prefect import flow
from prefect.utilities.annotations import opaque

from switchboard.liveperson import RoutingEvent
from switchboard.routing import Decision, skill_ids_of
from tasks.routing import (
    check_agent_availability,
    check_queue_health,
    connect_account,
    decide_messages,
    publish_decisions,
    resolve_service_domains,
    send_customer_messages,
)

__all__ = ["route_conversations"]

_T = TypeVar("_T")


def _as_is(value: _T) -> _T:
    """Hand a batch-sized argument to a task without Prefect walking every element for futures.

    That walk (``visit_collection``) costs time per element, a large share of the ingress's CPU
    at batch sizes of hundreds (BENCHMARKS.md); the arguments here are plain values, never
    futures. Typed as the value: Prefect unwraps it.
    """
    return cast(_T, opaque(value))


@flow(name="route-conversations", persist_result=False, log_prints=False)
async def route_conversations(
    events: list[RoutingEvent],
    account_block: str | None = None,
    vault_block: str | None = None,
) -> list[Decision]:
    """Route a batch of LivePerson routing events: availability → queue health → message.

    Args:
        events: LivePerson "conversation routed" events (one or thousands).
        account_block: name of a ``LivePersonAccount`` block; default: ``SWITCHBOARD_LP_*``.
        vault_block: name of a ``VaultConnection`` block; default: ``VAULT_*`` settings.

    Returns:
        One decision per event, in order, with the id of any message sent.
    """
    client = await connect_account(account_block, vault_block)
    skills = skill_ids_of(events)
    domains = await resolve_service_domains(client)
    availability, waits = await asyncio.gather(
        check_agent_availability(client, domains, skills),
        check_queue_health(client, domains, skills),
    )
    decisions = await decide_messages(client, _as_is(events), _as_is(availability), _as_is(waits))
    decisions = await send_customer_messages(client, domains, _as_is(decisions))
    await publish_decisions(decisions)
    return decisions
