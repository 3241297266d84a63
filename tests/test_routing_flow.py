"""``route_conversations`` end to end: the real Prefect server, OpenBao and the sandbox."""

# ruff: noqa: F811  (pytest fixtures imported from test_routing_support)
from __future__ import annotations

import uuid

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
)
from test_routing_support import MIN, conv, lp_account, routing_event  # noqa: F401

from blocks.liveperson import LivePersonAccount
from flows.route_conversations import route_conversations
from switchboard.consumer import set_default_cache
from switchboard.routing import DecisionKind
from tasks.routing import ARTIFACT_KEY


@pytest.fixture
async def account(lp_account, prefect_server, unique_name):
    """``lp_account`` saved as a ``LivePersonAccount`` block; its token cache is the default."""
    block = f"lp-{unique_name}"
    await LivePersonAccount(**lp_account.settings.model_dump()).save(block)
    set_default_cache(lp_account.tokens)
    lp_account.block = block
    yield lp_account
    set_default_cache(None)


async def with_settings(account, **changes) -> str:
    block = f"{account.block}-{uuid.uuid4().hex[:6]}"
    values = {**account.settings.model_dump(), **changes}
    await LivePersonAccount(**values).save(block)
    return block


async def run(account, events, block=None):
    state = await route_conversations(
        events=events, account_block=block or account.block, return_state=True
    )
    return state


async def test_each_decision_is_made_sent_and_recorded(account) -> None:
    account.scenario(
        {
            "1": ([], 10 * MIN),  # no agent records
            "2": (["AWAY", "OFFLINE"], 10 * MIN),  # none ONLINE
            "3": (["ONLINE", "AWAY"], 9 * MIN + 1),  # busy: 10 min
            "4": (["ONLINE"], 2 * MIN),  # short wait
            "5": (["ONLINE"], None),  # no data
        }
    )
    convs = {skill: conv(f"s{skill}") for skill in "12345"}
    state = await run(account, [routing_event(convs[s], int(s)) for s in "12345"])
    assert state.is_completed(), state.message
    decisions = {d.skill_id: d for d in await state.result()}
    kinds = {skill: d.kind for skill, d in decisions.items()}
    assert kinds == {
        "1": DecisionKind.NO_AGENT,
        "2": DecisionKind.NO_AGENT,
        "3": DecisionKind.BUSY,
        "4": DecisionKind.NO_MESSAGE,
        "5": DecisionKind.NO_DATA,
    }
    assert "no agent records" in decisions["1"].reason
    assert "none ONLINE" in decisions["2"].reason
    sent = {m["conversation_id"]: m for m in account.messages()}
    assert set(sent) == {convs["1"], convs["2"], convs["3"]}
    assert sent[convs["1"]]["message"] == "We will get back to you as soon as possible"
    assert sent[convs["3"]]["message"] == "We are currently busy. We'll get back to you in 10 min"
    assert decisions["3"].message_id == sent[convs["3"]]["message_id"]

    flow_run_id = state.state_details.flow_run_id
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        [run_row] = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    [artifact] = [a for a in artifacts if a.key == ARTIFACT_KEY]
    assert artifact.type == "table"
    assert convs["3"] in str(artifact.data) and "busy" in str(artifact.data)
    assert "sbx-" not in str(artifact.data)
    assert "sbx-" not in str(run_row.parameters)


async def test_a_batch_of_many_skills_makes_one_availability_and_one_queue_health_call(
    account,
) -> None:
    skills = {str(s): (["ONLINE"] if s % 2 else ["AWAY"], (s % 10) * MIN) for s in range(100, 140)}
    account.scenario(skills)
    events = [routing_event(conv("many"), skill) for skill in skills for _ in range(3)]
    before = account.counters()
    state = await run(account, events)
    assert state.is_completed(), state.message
    after = account.counters()
    assert after["agent_view"] - before["agent_view"] == 1
    assert after["queue_health"] - before["queue_health"] == 1
    assert after["csds"] - before["csds"] <= 1
    decisions = await state.result()
    assert len(decisions) == len(events)
    messaged = [d for d in decisions if d.message_id]
    assert len(account.messages()) == len(messaged) > 0


async def test_429_then_success(account) -> None:
    account.scenario({"1": ([], None)})
    account.fault("messages", count=2, status=429, retry_after=0.3)
    convs = [conv("rl") for _ in range(3)]
    state = await run(account, [routing_event(c, 1) for c in convs])
    assert state.is_completed(), state.message
    assert sorted(m["conversation_id"] for m in account.messages()) == sorted(convs)


async def test_5xx_beyond_client_retries_then_success_via_task_retry(account) -> None:
    account.scenario({"1": (["ONLINE"], 6 * MIN)})
    block = await with_settings(account, max_attempts=1)
    account.fault("queue_health", count=1, status=503)
    c = conv("5xx")
    state = await run(account, [routing_event(c, 1)], block=block)
    assert state.is_completed(), state.message
    [decision] = await state.result()
    assert decision.kind is DecisionKind.BUSY
    assert [m["conversation_id"] for m in account.messages()] == [c]


async def test_an_upstream_outage_fails_the_run_and_sends_nothing(account) -> None:
    account.scenario({"1": ([], None)})
    block = await with_settings(account, max_attempts=1)
    account.fault("agent_view", count=10, status=502)
    state = await run(account, [routing_event(conv("down"), 1)], block=block)
    assert state.is_failed()
    assert "HTTP 502" in state.message or "502" in str(await state.result(raise_on_failure=False))
    assert account.messages() == []


async def test_expired_bearer_gets_a_fresh_token(account) -> None:
    account.scenario({"1": ([], None)})
    first = await run(account, [routing_event(conv("tok"), 1)])
    assert first.is_completed()
    account.expire_bearer()
    c = conv("tok")
    state = await run(account, [routing_event(c, 1)])
    assert state.is_completed(), state.message
    assert c in {m["conversation_id"] for m in account.messages()}


async def test_the_same_event_twice_and_a_task_retry_message_once(account) -> None:
    account.scenario({"1": ([], None)})
    block = await with_settings(account, max_attempts=1)
    convs = [conv("dup") for _ in range(4)]
    events = [routing_event(c, 1) for c in convs]
    before = account.counters()["messages_deduplicated"]
    # the same event twice in one batch, and one send failing once: the task retries
    account.fault("messages", count=1, status=503)
    state = await run(account, [*events, events[0]], block=block)
    assert state.is_completed(), state.message
    # LivePerson redelivers the whole batch
    again = await run(account, events, block=block)
    assert again.is_completed(), again.message
    recorded = [m["conversation_id"] for m in account.messages()]
    assert sorted(recorded) == sorted(convs)
    assert account.counters()["messages_deduplicated"] - before >= 3 + 4
    first, second = await state.result(), await again.result()
    assert [d.message_id for d in first[:4]] == [d.message_id for d in second]
    assert first[4].message_id == first[0].message_id
    assert all(d.duplicate for d in second)


async def test_a_named_vault_block_supplies_the_bearer(account, openbao, vault_root) -> None:
    from blocks.vault import VaultConnection

    vault_block = f"{account.block}-vault"
    await VaultConnection(addr=openbao.url, token=vault_root.token).save(vault_block)
    set_default_cache(None)  # the default cache is not used with a block
    account.scenario({"1": ([], None)})
    c = conv("vb")
    state = await route_conversations(
        events=[routing_event(c, 1)],
        account_block=account.block,
        vault_block=vault_block,
        return_state=True,
    )
    assert state.is_completed(), state.message
    assert [m["conversation_id"] for m in account.messages()] == [c]


async def test_queue_health_v1_signs_with_api_keys_read_from_vault(
    account, credential_store, unique_name
) -> None:
    from switchboard._models import OAuth1Keys

    keys_name = f"keys-{unique_name}"
    credential_store.put_oauth1(
        keys_name, OAuth1Keys.model_validate(account.control("oauth1-keys", {}))
    )
    block = await with_settings(account, queue_health_version=1, oauth1_keys=keys_name)
    account.scenario({"1": (["ONLINE"], 8 * MIN)})
    c = conv("v1")
    state = await run(account, [routing_event(c, 1)], block=block)
    assert state.is_completed(), state.message
    [decision] = await state.result()
    assert (decision.kind, decision.wait_minutes) == (DecisionKind.BUSY, 8)
    assert [m["conversation_id"] for m in account.messages()] == [c]


async def test_one_refused_message_is_recorded_and_the_others_are_sent(account) -> None:
    account.scenario({"1": ([], None)})
    block = await with_settings(account, send_concurrency=1)  # the first send meets the fault
    account.fault("messages", count=1, status=400)
    convs = [conv("refused") for _ in range(3)]
    state = await run(account, [routing_event(c, 1) for c in convs], block=block)
    assert state.is_completed(), state.message
    decisions = await state.result()
    refused = [d for d in decisions if d.send_error]
    assert len(refused) == 1 and refused[0].message_id is None
    assert "messages: POST" in refused[0].send_error and "HTTP 400" in refused[0].send_error
    delivered = {m["conversation_id"] for m in account.messages()}
    assert delivered == {d.conversation_id for d in decisions if d.message_id}
    assert len(delivered) == 2


async def test_a_skill_the_lookups_refuse_is_that_decisions_error_not_the_batchs(account) -> None:
    """The sandbox, like a strict server, answers 400 to a skill id that is not a number."""
    account.scenario({"1": ([], None), "2": (["ONLINE"], 6 * MIN)})
    convs = {skill: conv(f"lk{skill}") for skill in ("1", "abc", "2")}
    events = [routing_event(c, skill) for skill, c in convs.items()]
    for attempt in ("first", "redelivery"):
        state = await run(account, events)
        assert state.is_completed(), f"{attempt}: {state.message}"
        decisions = {d.skill_id: d for d in await state.result()}
        assert decisions["1"].kind is DecisionKind.NO_AGENT
        assert decisions["2"].kind is DecisionKind.BUSY
        refused = decisions["abc"]
        assert refused.kind is DecisionKind.REFUSED and refused.message is None
        assert "HTTP 400" in refused.reason and "agent_view" in refused.reason
    sent = sorted(m["conversation_id"] for m in account.messages())
    assert sent == sorted([convs["1"], convs["2"]])


async def test_a_conversation_refused_with_a_4xx_fails_only_its_own_decision(account) -> None:
    account.scenario({"1": ([], None)})
    convs = [conv("closed") for _ in range(3)]
    account.control("messaging", {"account_id": account.account_id, "refuse": {convs[1]: 403}})
    events = [routing_event(c, 1) for c in convs]
    for attempt in ("first", "redelivery"):
        state = await run(account, events)
        assert state.is_completed(), f"{attempt}: {state.message}"
        decisions = await state.result()
        assert decisions[1].send_error and "HTTP 403" in decisions[1].send_error
        assert decisions[1].message_id is None
        assert all(d.message_id and not d.send_error for d in (decisions[0], decisions[2]))
    assert sorted(m["conversation_id"] for m in account.messages()) == sorted([convs[0], convs[2]])


@pytest.mark.parametrize("duplicate_status", [200, 409])
async def test_an_answer_that_says_duplicate_is_a_delivered_message(
    account, duplicate_status
) -> None:
    account.scenario({"1": ([], None)})
    account.control(
        "messaging", {"account_id": account.account_id, "duplicate_status": duplicate_status}
    )
    event = routing_event(conv("dup"), 1)
    first = await run(account, [event])
    again = await run(account, [event])
    assert first.is_completed() and again.is_completed(), again.message
    [delivered], [duplicate] = await first.result(), await again.result()
    assert duplicate.send_error is None
    assert duplicate.duplicate is True
    assert duplicate.message_id == delivered.message_id
    assert len(account.messages()) == 1
