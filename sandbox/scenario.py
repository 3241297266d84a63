"""LivePerson scenarios: which agents serve which skill and how long customers wait.

A scenario is set per account (``POST /_control/scenario``); accounts without one use
the default account's. Agent records and queue metrics are shaped like LivePerson's
agent-view status and current queue health answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AGENT_STATUSES",
    "DEFAULT_ACCOUNT",
    "AgentRecord",
    "Scenario",
    "SkillScenario",
    "parse_scenario",
    "queue_metrics",
]

DEFAULT_ACCOUNT = "default"
AGENT_STATUSES = ("ONLINE", "AWAY", "BACK_SOON", "OFFLINE")


@dataclass(frozen=True)
class SkillScenario:
    agents: tuple[tuple[str, str], ...]  # (agentId, currentStatus)
    wait_p90_ms: int
    wait_p50_ms: int
    unassigned: int


@dataclass
class AgentRecord:
    """One agent across the skills it serves, rendered like an ``agentStatusRecords`` item."""

    agent_id: str
    status: str
    skill_ids: list[str] = field(default_factory=list)

    def render(self, since_ms: int) -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        return {
            "agentId": self.agent_id,
            "agentName": f"Agent {self.agent_id}",
            "agentNickname": f"agent{self.agent_id}",
            "agentLoginName": f"agent{self.agent_id}@sandbox.invalid",
            "agentSkills": [
                {"skillId": skill, "skillName": f"Skill {skill}"} for skill in self.skill_ids
            ],
            "agentGroupId": -1,
            "agentGroupName": "Main Group",
            "currentStatus": self.status,
            "currentStatusDuration": now_ms - since_ms,
            "currentStatusStartTimeL": since_ms,
            "currentStatusReason": None if self.status != "AWAY" else "1",
            "lastUpdatedTimeL": now_ms,
            "load": 0,
            "ringingSlots": 0,
            "busySlots": 0,
            "configuredMaxSlots": 5,
            "openAssignedConversations": 0,
            "intenseConversations": 0,
            "agentPresence": "true",
            "currentConnectionState": "CONNECTED",
        }


@dataclass
class Scenario:
    """One account's skills, with agent records precomputed so each request is cheap."""

    skills: dict[str, SkillScenario]
    agents: list[AgentRecord]
    since_ms: int

    @classmethod
    def build(cls, skills: dict[str, SkillScenario]) -> Scenario:
        by_id: dict[str, AgentRecord] = {}
        for skill_id, skill in skills.items():
            for agent_id, status in skill.agents:
                record = by_id.setdefault(agent_id, AgentRecord(agent_id, status))
                record.status = status
                record.skill_ids.append(skill_id)
        return cls(skills, list(by_id.values()), int(time.time() * 1000))


def _int(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    return value


def _skill(skill_id: str, payload: Any) -> SkillScenario:
    where = f"skills.{skill_id}"
    if not isinstance(payload, dict):
        raise ValueError(f"`{where}` must be an object with `agents` and `wait_p90_ms`")
    agents = payload.get("agents", [])
    if not isinstance(agents, list):
        raise ValueError(f"`{where}.agents` must be a list of {{agentId, currentStatus}}")
    parsed: list[tuple[str, str]] = []
    for index, agent in enumerate(agents):
        agent_id = agent.get("agentId") if isinstance(agent, dict) else None
        status = agent.get("currentStatus", "ONLINE") if isinstance(agent, dict) else None
        if isinstance(agent_id, bool) or not isinstance(agent_id, str | int) or agent_id == "":
            raise ValueError(f"`{where}.agents[{index}].agentId` must be a string or number")
        if status not in AGENT_STATUSES:
            raise ValueError(
                f"`{where}.agents[{index}].currentStatus` must be one of {AGENT_STATUSES}"
            )
        parsed.append((str(agent_id), status))
    p90 = _int(payload.get("wait_p90_ms", -1), f"{where}.wait_p90_ms", minimum=-1)
    p50 = _int(
        payload.get("wait_p50_ms", p90 // 2 if p90 > 0 else p90), f"{where}.wait_p50_ms", minimum=-1
    )
    unassigned = _int(payload.get("unassigned", 0), f"{where}.unassigned", minimum=0)
    return SkillScenario(tuple(parsed), p90, p50, unassigned)


def parse_scenario(payload: dict[str, Any]) -> tuple[str, Scenario]:
    """Validate a ``POST /_control/scenario`` body into (account id, scenario)."""
    account_id = payload.get("account_id") or DEFAULT_ACCOUNT
    if not isinstance(account_id, str | int) or isinstance(account_id, bool):
        raise ValueError("`account_id` must be a string")
    skills = payload.get("skills", {})
    if not isinstance(skills, dict):
        raise ValueError('`skills` must be an object keyed by skill id: {"12": {...}}')
    parsed = {str(skill_id): _skill(str(skill_id), skill) for skill_id, skill in skills.items()}
    return str(account_id), Scenario.build(parsed)


_WAIT_FIELDS = (
    "waitTimeForAgentAssignment_50thPercentile",
    "waitTimeForAgentAssignment_90thPercentile",
    "avgWaitTimeForAgentAssignment_NewConversation",
    "avgWaitTimeForAgentAssignment_AfterTransfer",
    "maxWaitTimeForAgentAssignment",
)


def _skill_metrics(skill: SkillScenario | None, now_ms: int) -> dict[str, int]:
    p90 = skill.wait_p90_ms if skill else -1
    p50 = skill.wait_p50_ms if skill else -1
    unassigned = skill.unassigned if skill else 0
    return {
        "time": now_ms,
        "unassignedConversations": unassigned,
        "actionableConversations": unassigned,
        "notActionableConversations": 0,
        "actionableAndManualSla": 0,
        "actionableAndDuringTransfer": 0,
        "actionableAndConsumerLastMessage": 0,
        "notActionableDuringTransfer": 0,
        "notActionableAndManualSla": 0,
        "unassignedConversationsAndFirstTimeConsumer": unassigned,
        "waitTimeForAgentAssignment_50thPercentile": p50,
        "waitTimeForAgentAssignment_90thPercentile": p90,
        "avgWaitTimeForAgentAssignment_NewConversation": p50,
        "avgWaitTimeForAgentAssignment_AfterTransfer": p50,
        "maxWaitTimeForAgentAssignment": p90,
    }


def queue_metrics(scenario: Scenario, skill_ids: list[str] | None) -> dict[str, Any]:
    """``{"skillsMetrics": {...}, "metricsTotal": {...}}`` for the skills asked (all if None).

    Skills without data (unknown, or ``wait_p90_ms`` -1) answer ``-1`` waits. The total
    sums the counts and takes the longest of each wait.
    """
    now_ms = int(time.time() * 1000)
    wanted = list(scenario.skills) if skill_ids is None else skill_ids
    per_skill = {skill: _skill_metrics(scenario.skills.get(skill), now_ms) for skill in wanted}
    total = _skill_metrics(None, now_ms)
    for metrics in per_skill.values():
        for name, value in metrics.items():
            if name in _WAIT_FIELDS:
                total[name] = max(total[name], value)
            elif name != "time":
                total[name] += value
    return {"skillsMetrics": per_skill, "metricsTotal": total}
