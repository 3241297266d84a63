"""The routing pipeline as plain async steps: domains → availability → queue health → decide → send.

Each step makes one upstream call for the whole batch (agent-view pages past 1,000 agents). An
upstream failure that survives the client's retries propagates: it is never read as "no agent".
A refusal (a 4xx that is not about the bearer or the rate) is narrowed down to the skills or the
conversation it concerns and becomes their decisions' error, so one bad event cannot fail its
batch on every redelivery.
The order of the steps is written once, in ``route_batch`` (``switchboard.routing._batch``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from switchboard._exceptions import UpstreamError
from switchboard.liveperson import (
    MESSAGING,
    QUEUE_HEALTH,
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
    "decide_and_send",
    "decide_batch",
    "is_refusal",
    "read_availability",
    "read_queue_health",
    "resolve_domains",
    "send_messages",
    "skill_ids_of",
]


_T = TypeVar("_T")
_NOT_REFUSALS = (401, 408, 429)
"""4xx answers a retry can change: the bearer (refreshed on 401), a timeout, the rate."""


def is_refusal(exc: UpstreamError) -> bool:
    """A 4xx about the request itself (400, 403, 404, 409, ...): asking again cannot help."""
    status = exc.status
    return status is not None and 400 <= status < 500 and status not in _NOT_REFUSALS


async def _isolating(
    lookup: Callable[[Sequence[str]], Awaitable[Mapping[str, _T]]], skill_ids: Sequence[str]
) -> tuple[dict[str, _T], dict[str, str]]:
    """``lookup`` over every skill at once; if refused, halves until the refused skills are found.

    Returns the results and the refused skills with the refusal. One bad skill among n costs
    about 2·log2(n) more calls, and only on the refusal path.
    """
    try:
        return dict(await lookup(skill_ids)), {}
    except UpstreamError as exc:
        if not is_refusal(exc):
            raise
        if len(skill_ids) <= 1:
            return {}, dict.fromkeys(skill_ids, str(exc))
    half = len(skill_ids) // 2
    (found, refused), (more, also) = await asyncio.gather(
        _isolating(lookup, skill_ids[:half]), _isolating(lookup, skill_ids[half:])
    )
    return {**found, **more}, {**refused, **also}


def skill_ids_of(events: Iterable[RoutingEvent]) -> list[str]:
    """The batch's distinct skills, sorted (one upstream call covers them all)."""
    return sorted({event.skill_id for event in events})


async def resolve_domains(client: LivePersonClient) -> Domains:
    """The account's service domains (cached by the client for ``csds_ttl_seconds``)."""
    domains = await client.domains.get()
    for service in client.services:
        domains.host(service)  # fail here, by name, rather than halfway through the batch
    return domains


async def read_availability(
    client: LivePersonClient, domains: Domains, skill_ids: Sequence[str]
) -> dict[str, SkillAvailability]:
    """Agents and ONLINE agents per skill: one call to the account's availability source
    (agent-view or Key Messaging Metrics; more only past 1,000 agents).

    Skills the source refuses (a 4xx) come back with ``refused`` set.
    """
    source = client.availability
    host = domains.host(source.domain)

    async def lookup(skills: Sequence[str]) -> dict[str, SkillAvailability]:
        return count_availability(await source.list_agents(host, skills), skills)

    found, refused = await _isolating(lookup, skill_ids)
    for skill, reason in refused.items():
        found[skill] = SkillAvailability(skill_id=skill, refused=reason)
    return found


async def read_queue_health(
    client: LivePersonClient, domains: Domains, skill_ids: Sequence[str]
) -> dict[str, SkillWait]:
    """Wait percentiles per skill: one queue-health call (v1 or v2 as the account is set up) for
    the skills not kept by the client's cache (``queue_health_cache_seconds``).

    Skills queue health refuses (a 4xx) come back with ``refused`` set.
    """
    settings = client.settings
    now_ms = int(time.time() * 1000)

    async def lookup(skills: Sequence[str]) -> dict[str, SkillWait]:
        return await client.queue_waits.read(
            domains.host(QUEUE_HEALTH),
            skills,
            version=settings.queue_health_version,
            from_millis=now_ms - settings.queue_health_window_seconds * 1000,
            to_millis=now_ms,
        )

    found, refused = await _isolating(lookup, skill_ids)
    for skill, reason in refused.items():
        found[skill] = SkillWait(skill_id=skill, refused=reason)
    return found


def decide_batch(
    client: LivePersonClient,
    events: Sequence[RoutingEvent],
    availability: Mapping[str, SkillAvailability],
    waits: Mapping[str, SkillWait],
) -> list[Decision]:
    """One decision per event, by the account's rules (``client.settings``)."""
    settings = client.settings
    return decide_all(events, availability, waits, settings.skill_rules, settings.default_rule)


async def send_messages(
    client: LivePersonClient, domains: Domains, decisions: Sequence[Decision]
) -> list[Decision]:
    """Send every decided message, ``send_concurrency`` at a time; return the decisions with ids.

    Decisions sharing a Request-ID (the same event twice in a batch) send one message. A refusal
    of one message (a 4xx other than 401/408/429, 403 included: the bearer was just accepted)
    or an answer without a message id is recorded on its decision and does not fail the others.
    Outages, rate limits and 401s that survive the retries are raised once every send has
    finished, so a task retry finds the delivered ones deduplicated.
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
                if type(exc) is UpstreamError or is_refusal(exc):
                    return str(exc)  # this conversation's answer, whatever the batch does
                raise  # transient, rate or bearer: the batch must retry

    outcomes = await asyncio.gather(*(send(d) for d in unique.values()), return_exceptions=True)
    results: dict[str | None, SentMessage | str] = {}
    for request_id, outcome in zip(unique, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            raise outcome
        results[request_id] = outcome
    return [_with_outcome(d, results.get(d.request_id)) for d in decisions]


async def decide_and_send(
    client: LivePersonClient,
    domains: Domains,
    events: Sequence[RoutingEvent],
    availability: Mapping[str, SkillAvailability],
    waits: Mapping[str, SkillWait],
) -> list[Decision]:
    """Decide every conversation's message (``decide_batch``) and send the decided ones.

    One step, not two: deciding is pure and takes microseconds, so a retry of the step decides
    again, the same way, and its sends are deduplicated on their Request-IDs.
    """
    return await send_messages(client, domains, decide_batch(client, events, availability, waits))


def _with_outcome(decision: Decision, outcome: SentMessage | str | None) -> Decision:
    if isinstance(outcome, SentMessage):
        return decision.model_copy(
            update={"message_id": outcome.message_id, "duplicate": outcome.duplicate}
        )
    if isinstance(outcome, str):
        return decision.model_copy(update={"send_error": outcome})
    return decision
