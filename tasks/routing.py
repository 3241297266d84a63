"""Prefect tasks of the routing pipeline: thin wrappers over ``switchboard.routing``.

Each task covers the whole batch (not one conversation), so a batch of any size costs the
same handful of task runs. Results are decisions and domain names: no secret ever.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from prefect import get_run_logger, task
from prefect.artifacts import acreate_table_artifact
from prefect.cache_policies import NO_CACHE

from blocks.liveperson import LivePersonAccount, account_settings
from blocks.vault import resources_for
from switchboard.liveperson import Domains, LivePersonClient, RoutingEvent, SkillWait
from switchboard.routing import (
    Decision,
    DecisionKind,
    SkillAvailability,
    decide_batch,
    read_availability,
    read_queue_health,
    send_messages,
)

__all__ = [
    "ARTIFACT_KEY",
    "check_agent_availability",
    "check_queue_health",
    "connect_account",
    "message_customers",
    "publish_decisions",
]

ARTIFACT_KEY = "routing-decisions"
_NO_RESULT: dict[str, Any] = {"persist_result": False, "cache_policy": NO_CACHE}
"""Batches carry the client and customer data: nothing is persisted or cached."""
_RETRIED: dict[str, Any] = {"retries": 2, "retry_delay_seconds": 1, **_NO_RESULT}
"""LivePerson reads: a failed batch is tried twice more."""

DECISIONS = {
    DecisionKind.NO_AGENT: "no agent for the skill (no records, or none ONLINE): the no-agent "
    "message was sent",
    DecisionKind.BUSY: "the p90 wait reached the skill's threshold: the busy message was sent",
    DecisionKind.NO_MESSAGE: "agents online and the wait below the threshold: no message",
    DecisionKind.NO_DATA: "queue health had no wait for the skill (-1 or missing): no message",
    DecisionKind.REFUSED: "LivePerson refused the skill's lookup (a 4xx): no message; the error "
    "column says why",
}
"""What each decision code in the ``routing-decisions`` table means, printed under it."""


def _named(task: str, parameter: str, noun: str) -> Callable[..., str]:
    """A task run name with the batch's size: ``check-queue-health-of-12-skills``."""

    def name(parameters: dict[str, Any]) -> str:
        count = len(parameters.get(parameter) or ())
        return f"{task}-of-{count}-{noun}{'' if count == 1 else 's'}"

    return name


async def connect_account(account_block: str | None, vault_block: str | None) -> LivePersonClient:
    """The process's client for the account (the named block, else ``SWITCHBOARD_LP_*``).

    Bearers come from the token cache of the named Vault block's identity, else the
    ``VAULT_*`` one; both are read-only, like any consumer's: routing runs with an identity that
    reads the bearer's token and nothing else (README, "Policies"), a rejected token is dropped
    and read again, and the flows replace it. Clients and caches belong to the identity's
    ``Resources`` and are reused across flow runs in one process (the ingress).
    """
    block = (
        cast(LivePersonAccount, await LivePersonAccount.aload(account_block))
        if account_block
        else None
    )
    settings = account_settings(block)
    # the first use loads the Vault block and logs in: off the event loop
    clients = await asyncio.to_thread(lambda: resources_for(vault_block).clients)
    return await clients.get(settings)


@task(
    name="check-agent-availability",
    task_run_name=_named("check-agent-availability", "skill_ids", "skill"),
    timeout_seconds=30,
    **_RETRIED,
)
async def check_agent_availability(
    client: LivePersonClient, domains: Domains, skill_ids: Sequence[str]
) -> dict[str, SkillAvailability]:
    """Agents and ONLINE agents for every skill of the batch, in one agent-view call."""
    availability = await read_availability(client, domains, skill_ids)
    logger = get_run_logger()
    for skill, refused in sorted((s, a.refused) for s, a in availability.items() if a.refused):
        logger.warning(
            "Skill %s: agent-view refused it, its events get no message: %s", skill, refused
        )
    empty = sorted(s for s, a in availability.items() if a.agents == 0 and not a.refused)
    offline = sorted(s for s, a in availability.items() if a.agents and not a.online)
    logger.info(
        "%d skills: %d with no agent records %s, %d with none ONLINE %s",
        len(availability),
        len(empty),
        empty[:20],
        len(offline),
        offline[:20],
    )
    return availability


@task(
    name="check-queue-health",
    task_run_name=_named("check-queue-health", "skill_ids", "skill"),
    timeout_seconds=30,
    **_RETRIED,
)
async def check_queue_health(
    client: LivePersonClient, domains: Domains, skill_ids: Sequence[str]
) -> dict[str, SkillWait]:
    """Wait percentiles for every skill of the batch, in one queue-health call."""
    waits = await read_queue_health(client, domains, skill_ids)
    logger = get_run_logger()
    for skill, refused in sorted((s, w.refused) for s, w in waits.items() if w.refused):
        logger.warning("Skill %s: queue health refused it: %s", skill, refused)
    logger.info(
        "Queue health v%d: data for %d of %d skills",
        client.settings.queue_health_version,
        sum(w.p90_ms is not None for w in waits.values()),
        len(skill_ids),
    )
    return waits


@task(
    name="message-customers",
    task_run_name=_named("message-customers", "events", "conversation"),
    retries=2,
    retry_delay_seconds=2,
    timeout_seconds=60,
    **_NO_RESULT,
)
async def message_customers(
    client: LivePersonClient,
    domains: Domains,
    events: Sequence[RoutingEvent],
    availability: Mapping[str, SkillAvailability],
    waits: Mapping[str, SkillWait],
) -> list[Decision]:
    """Decide each conversation's message and send the decided ones, with bounded concurrency:
    the two steps of ``decide_and_send``, with the decisions logged between them. A retry
    decides again and dedupes on the Request-ID."""
    decisions = decide_batch(client, events, availability, waits)
    logger = get_run_logger()
    no_data = sorted({d.skill_id for d in decisions if d.kind is DecisionKind.NO_DATA})
    if no_data:
        logger.warning(
            "No queue-health data (-1 or missing) for skills %s: no message sent", no_data
        )
    logger.info("Decisions: %s", dict(Counter(d.kind.value for d in decisions)))
    sent = await send_messages(client, domains, decisions)
    messages = [d for d in sent if d.message_id is not None or d.duplicate]
    logger.info(
        "Sent %d messages (%d already delivered before)",
        len(messages),
        sum(d.duplicate for d in messages),
    )
    for refused in (d for d in sent if d.send_error):
        logger.warning("Conversation %s: %s", refused.conversation_id, refused.send_error)
    return sent


async def publish_decisions(decisions: Sequence[Decision]) -> None:
    """The batch's table artifact: conversation, skill, decision, wait minutes, message id, and
    what each decision code shown means. An unknown value is an empty cell."""
    kinds = Counter(d.kind for d in decisions)
    legend = "\n".join(
        f"- `{kind.value}`: {DECISIONS[kind]}" for kind in DECISIONS if kind in kinds
    )
    await acreate_table_artifact(
        key=ARTIFACT_KEY,
        table=[
            {
                "conversation": d.conversation_id,
                "skill": d.skill_id,
                "decision": d.kind.value,
                "wait minutes": "" if d.wait_minutes is None else d.wait_minutes,
                "message id": d.message_id or "",
                "error": d.send_error or (d.reason if d.kind is DecisionKind.REFUSED else ""),
            }
            for d in decisions
        ],
        description=f"Routing decisions of {len(decisions)} conversation(s) (no message text, "
        f"no secrets).\n\n**Decisions**\n\n{legend}",
    )
