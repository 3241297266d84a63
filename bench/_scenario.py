"""The routing workload: 50 skills (a third without ONLINE agents, a third busy, a third quiet)."""

from __future__ import annotations

import math
from typing import Any

import httpx2

__all__ = [
    "BUSY_P90_MS",
    "NO_AGENT_MESSAGE",
    "QUIET_P90_MS",
    "SKILLS",
    "THRESHOLD_MINUTES",
    "all_recorded",
    "busy_message",
    "expected_message",
    "make_events",
    "set_scenario",
]

SKILLS = [str(4000 + i) for i in range(50)]
AGENTS_PER_SKILL = 4
BUSY_P90_MS = 7 * 60_000 - 5_000  # rounds up to 7 min, above the default 5 min threshold
QUIET_P90_MS = 90_000  # 2 min: below the threshold, no message
THRESHOLD_MINUTES = 5
NO_AGENT_MESSAGE = "We will get back to you as soon as possible"


def busy_message(minutes: int) -> str:
    return f"We are currently busy. We'll get back to you in {minutes} min"


def _kind(index: int) -> str:
    return ("no_agent", "busy", "quiet")[index % 3]


def skill_spec() -> dict[str, Any]:
    """The sandbox scenario for every skill."""
    skills: dict[str, Any] = {}
    for index, skill in enumerate(SKILLS):
        kind = _kind(index)
        status = "AWAY" if kind == "no_agent" else "ONLINE"
        skills[skill] = {
            "agents": [
                {"agentId": f"a{skill}-{n}", "currentStatus": status}
                for n in range(AGENTS_PER_SKILL)
            ],
            "wait_p90_ms": BUSY_P90_MS if kind == "busy" else QUIET_P90_MS,
        }
    return skills


def set_scenario(sandbox_url: str, account_id: str) -> None:
    httpx2.post(
        f"{sandbox_url}/_control/scenario",
        json={"account_id": account_id, "skills": skill_spec()},
        timeout=30,
    ).raise_for_status()


def expected_message(skill_id: str) -> str | None:
    """The message a conversation routed to ``skill_id`` should get, or ``None``."""
    kind = _kind(SKILLS.index(skill_id))
    if kind == "no_agent":
        return NO_AGENT_MESSAGE
    if kind == "busy":
        return busy_message(math.ceil(BUSY_P90_MS / 60_000))
    return None


def make_events(prefix: str, count: int) -> list[dict[str, Any]]:
    """``count`` LivePerson routing events spread round-robin over the 50 skills.

    Every other skill id is sent as a number, as LivePerson sometimes does.
    """
    events = []
    for index in range(count):
        skill = SKILLS[index % len(SKILLS)]
        events.append(
            {
                "general": {"convId": f"{prefix}-{index}", "dialogId": f"{prefix}-{index}-d"},
                "routing": {
                    "newSkillId": int(skill) if index % 2 else skill,
                    "oldSkillId": "-1",
                },
            }
        )
    return events


def all_recorded(run: dict[str, Any]) -> bool:
    """An ingress run answered every event 200 and the sandbox holds exactly the expected
    messages: the right one for every conversation that needs one, none for the others."""
    messages = run["messages"]
    return bool(
        messages["wrong"] == messages["extra"] == 0
        and messages["recorded"] == messages["expected"]
        and run["statuses"].get("200") == run["events"]
    )
