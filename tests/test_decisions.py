"""The routing decision rules as a table of pure cases."""

from __future__ import annotations

import pytest

from switchboard.liveperson import AgentStatus, RoutingEvent, SkillRule, SkillWait
from switchboard.routing import (
    DecisionKind,
    SkillAvailability,
    count_availability,
    decide,
    decide_all,
    request_id_for,
    wait_minutes,
)

RULE = SkillRule(threshold_minutes=5)
BUSY = "We are currently busy. We'll get back to you in {} min"
NO_AGENT = "We will get back to you as soon as possible"


def event(conv: str = "c1", skill: str = "7") -> RoutingEvent:
    return RoutingEvent.model_validate(
        {"general": {"convId": conv, "dialogId": f"d-{conv}"}, "routing": {"newSkillId": skill}}
    )


def avail(agents: int, online: int) -> SkillAvailability:
    return SkillAvailability(skill_id="7", agents=agents, online=online)


def wait(p90_ms: int | None) -> SkillWait:
    return SkillWait(skill_id="7", p90_ms=p90_ms)


MIN = 60_000


@pytest.mark.parametrize(
    ("availability", "skill_wait", "kind", "minutes", "message", "reason_has"),
    [
        # no agent ONLINE, whatever the queue says
        (avail(0, 0), wait(10 * MIN), DecisionKind.NO_AGENT, None, NO_AGENT, "no agent records"),
        (None, wait(10 * MIN), DecisionKind.NO_AGENT, None, NO_AGENT, "no agent records"),
        (avail(3, 0), wait(10 * MIN), DecisionKind.NO_AGENT, None, NO_AGENT, "none ONLINE"),
        (avail(3, 0), None, DecisionKind.NO_AGENT, None, NO_AGENT, "none ONLINE"),
        # at or above the threshold (rounded up): busy with the minutes
        (avail(3, 1), wait(5 * MIN), DecisionKind.BUSY, 5, BUSY.format(5), "at or above"),
        (avail(3, 1), wait(4 * MIN + 1), DecisionKind.BUSY, 5, BUSY.format(5), "at or above"),
        (avail(3, 2), wait(61 * MIN), DecisionKind.BUSY, 61, BUSY.format(61), "at or above"),
        # below it: no message (not a failure)
        (avail(3, 1), wait(4 * MIN), DecisionKind.NO_MESSAGE, 4, None, "below"),
        (avail(3, 1), wait(0), DecisionKind.NO_MESSAGE, 0, None, "below"),
        # no data: no message, flagged
        (avail(3, 1), wait(None), DecisionKind.NO_DATA, None, None, "no queue-health data"),
        (avail(3, 1), None, DecisionKind.NO_DATA, None, None, "no queue-health data"),
    ],
)
def test_decision_table(availability, skill_wait, kind, minutes, message, reason_has) -> None:
    decision = decide(event(), availability, skill_wait, RULE)
    assert decision.kind is kind
    assert decision.wait_minutes == minutes
    assert decision.message == message
    assert reason_has in decision.reason
    assert (decision.request_id is not None) == (message is not None)
    assert (decision.conversation_id, decision.dialog_id, decision.skill_id) == ("c1", "d-c1", "7")


@pytest.mark.parametrize(
    ("ms", "minutes"), [(0, 0), (1, 1), (59_999, 1), (60_000, 1), (60_001, 2), (300_000, 5)]
)
def test_wait_rounds_up_to_minutes(ms: int, minutes: int) -> None:
    assert wait_minutes(ms) == minutes


def test_per_skill_rules_and_templates_with_a_default() -> None:
    rules = {
        "9": SkillRule(
            threshold_minutes=1, busy_message="Wait ~{minutes}m", no_agent_message="Later!"
        )
    }
    events = [event("a", "7"), event("b", "9"), event("c", "9")]
    availability = {
        "7": SkillAvailability(skill_id="7", agents=1, online=1),
        "9": SkillAvailability(skill_id="9", agents=1, online=1),
    }
    waits = {
        "7": SkillWait(skill_id="7", p90_ms=2 * MIN),
        "9": SkillWait(skill_id="9", p90_ms=2 * MIN),
    }
    decisions = decide_all(events, availability, waits, rules, RULE)
    assert [d.kind for d in decisions] == [
        DecisionKind.NO_MESSAGE,
        DecisionKind.BUSY,
        DecisionKind.BUSY,
    ]
    assert decisions[1].message == "Wait ~2m"
    availability["9"] = SkillAvailability(skill_id="9", agents=1, online=0)
    assert decide_all(events[1:2], availability, waits, rules, RULE)[0].message == "Later!"


def test_request_id_is_deterministic_per_conversation_and_decision() -> None:
    first = request_id_for(event("c1"), DecisionKind.BUSY)
    assert first == request_id_for(event("c1"), DecisionKind.BUSY)
    assert first != request_id_for(event("c1"), DecisionKind.NO_AGENT)
    assert first != request_id_for(event("c2"), DecisionKind.BUSY)
    assert first != request_id_for(event("c1", skill="8"), DecisionKind.BUSY)


def test_count_availability_distinguishes_empty_and_offline() -> None:
    records = [
        AgentStatus(agent_id="a", current_status="ONLINE", skill_ids=("1", "2")),
        AgentStatus(agent_id="b", current_status="AWAY", skill_ids=("2",)),
        AgentStatus(agent_id="c", current_status="ONLINE", skill_ids=("99",)),
    ]
    counted = count_availability(records, ["1", "2", "3"])
    assert (counted["1"].agents, counted["1"].online) == (1, 1)
    assert (counted["2"].agents, counted["2"].online) == (2, 1)
    assert (counted["3"].agents, counted["3"].online) == (0, 0)
    assert "99" not in counted


def test_busy_template_must_only_use_minutes() -> None:
    with pytest.raises(ValueError, match="minutes"):
        SkillRule(busy_message="Wait {hours}")
