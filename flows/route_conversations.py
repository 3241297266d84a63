"""Tell customers routed to a skill whether an agent is there and how long the queue is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prefect import flow

from flows._run_names import route_run_name
from flows._task_values import as_is
from switchboard.liveperson import Domains, LivePersonClient, RoutingEvent, SkillWait
from switchboard.routing import Decision, RoutingSteps, SkillAvailability, route_batch
from tasks.routing import (
    check_agent_availability,
    check_queue_health,
    connect_account,
    message_customers,
    publish_decisions,
)

__all__ = ["TASK_STEPS", "route_conversations"]


async def _message(
    client: LivePersonClient,
    domains: Domains,
    events: Sequence[RoutingEvent],
    availability: Mapping[str, SkillAvailability],
    waits: Mapping[str, SkillWait],
) -> list[Decision]:
    return await message_customers(
        client, domains, as_is(events), as_is(availability), as_is(waits)
    )


TASK_STEPS = RoutingSteps(
    read_availability=check_agent_availability,
    read_queue_health=check_queue_health,
    message_customers=_message,
)
"""The routing steps as this flow's task runs: ``route_batch`` keeps the order, each step is a
task over the core's function, so every batch shows the same task runs in the UI and a retry
repeats one step, not the batch."""


@flow(
    name="route-conversations",
    flow_run_name=route_run_name,
    persist_result=False,
    log_prints=False,
)
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
    decisions = await route_batch(client, events, TASK_STEPS)
    await publish_decisions(decisions)
    return decisions
