"""The routing pipeline as plain async steps: domains → availability → queue health → decide → send.

Each step makes one upstream call for the whole batch (agent-view pages past 1,000 agents). An
upstream failure that survives the client's retries propagates: it is never read as "no agent".
``route_batch`` chains the steps without Prefect (the baseline the flow is measured against).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence

from switchboard._exceptions import UpstreamError
from switchboard.liveperson import (
    CSDS_SERVICES,
    MAX_PAGE_SIZE,
    MESSAGING,
    MSG_HIST,
    QUEUE_HEALTH,
    AgentStatus,
    Domains,
    LivePersonClient,
    RoutingEvent,
    SentMessage,
    SkillWait,
)
from switchboard.routing._decisions import (
    Decision,
    SkillAvailability,
    count_availability,
    decide_all,
)

__all__ = [
    "read_availability",
    "read_queue_health",
    "resolve_domains",
    "route_batch",
    "send_messages",
    "skill_ids_of",
]


def skill_ids_of(events: Iterable[RoutingEvent]) -> list[str]:
    """The batch's distinct skills, sorted (one upstream call covers them all)."""
    return sorted({event.skill_id for event in events})


async def resolve_domains(client: LivePersonClient) -> Domains:
    """The account's service domains (cached by the client for ``csds_ttl_seconds``)."""
    domains = await client.domains.get()
    for service in CSDS_SERVICES:
        domains.host(service)  # fail here, by name, rather than halfway through the batch
    return domains


async def read_availability(
    client: LivePersonClient, domains: Domains, skill_ids: Sequence[str]
) -> dict[str, SkillAvailability]:
    """Agents and ONLINE agents per skill: one agent-view call (paged past 1,000 records)."""
    host = domains.host(MSG_HIST)
    records: list[AgentStatus] = []
    offset = 0
    while True:
        page = await client.agent_view.list_agent_statuses(
            host, skill_ids, offset=offset, limit=MAX_PAGE_SIZE
        )
        records.extend(page.records)
        offset += len(page.records)
        if not page.records or len(page.records) < MAX_PAGE_SIZE or offset >= page.count:
            break
    return count_availability(records, skill_ids)


async def read_queue_health(
    client: LivePersonClient, domains: Domains, skill_ids: Sequence[str]
) -> dict[str, SkillWait]:
    """Wait percentiles per skill: one queue-health call (v1 or v2 as the account is set up)."""
    settings = client.settings
    now_ms = int(time.time() * 1000)
    return await client.queue_health.read_current_queue_health(
        domains.host(QUEUE_HEALTH),
        skill_ids,
        version=settings.queue_health_version,
        from_millis=now_ms - settings.queue_health_window_seconds * 1000,
        to_millis=now_ms,
    )


async def send_messages(
    client: LivePersonClient, domains: Domains, decisions: Sequence[Decision]
) -> list[Decision]:
    """Send every decided message, ``send_concurrency`` at a time; return the decisions with ids.

    Decisions sharing a Request-ID (the same event twice in a batch) send one message. A refusal
    of one message (a 4xx other than 401/403/429) is recorded on its decision and does not fail
    the others. Outages, rate limits and auth failures that survive the retries are raised once
    every send has finished, so a task retry finds the delivered ones deduplicated.
    """
    host = domains.host(MESSAGING)
    gate = asyncio.Semaphore(client.settings.send_concurrency)
    unique = {d.request_id: d for d in decisions if d.request_id is not None and d.message}

    async def send(decision: Decision) -> SentMessage | str:
        assert decision.request_id is not None and decision.message is not None
        async with gate:
            try:
                return await client.messaging.send_message(
                    host,
                    conversation_id=decision.conversation_id,
                    dialog_id=decision.dialog_id,
                    text=decision.message,
                    request_id=decision.request_id,
                )
            except UpstreamError as exc:
                if type(exc) is not UpstreamError:  # transient or auth: the batch must retry
                    raise
                return str(exc)

    outcomes = await asyncio.gather(*(send(d) for d in unique.values()), return_exceptions=True)
    results: dict[str | None, SentMessage | str] = {}
    for request_id, outcome in zip(unique, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            raise outcome
        results[request_id] = outcome
    return [_with_outcome(d, results.get(d.request_id)) for d in decisions]


def _with_outcome(decision: Decision, outcome: SentMessage | str | None) -> Decision:
    if isinstance(outcome, SentMessage):
        return decision.model_copy(
            update={"message_id": outcome.message_id, "duplicate": outcome.duplicate}
        )
    if isinstance(outcome, str):
        return decision.model_copy(update={"send_error": outcome})
    return decision


async def route_batch(client: LivePersonClient, events: Sequence[RoutingEvent]) -> list[Decision]:
    """The whole pipeline for one batch, without Prefect."""
    skills = skill_ids_of(events)
    domains = await resolve_domains(client)
    availability, waits = await asyncio.gather(
        read_availability(client, domains, skills), read_queue_health(client, domains, skills)
    )
    settings = client.settings
    decisions = decide_all(events, availability, waits, settings.skill_rules, settings.default_rule)
    return await send_messages(client, domains, decisions)
