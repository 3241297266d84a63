"""Key Messaging Metrics' agent view (domain ``agentManagerWorkspace``): which agents are ONLINE.

LivePerson documents this API as the successor of Agent Metrics' agent-view status. It answers at
most 1,000 agents per query (``offset + limit`` ≤ 1000), so Switchboard asks only for ONLINE agents
(``effectiveAgentStatus``), the only ones routing counts, and splits the skills of a query whose
answer was cut short until every part fits.
https://developers.liveperson.com/key-messaging-metrics-api-methods-agent-view.html
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from switchboard.liveperson._adapter import AccountApi, json_body, missing
from switchboard.liveperson._models import AgentStatus, AgentStatusPage
from switchboard.liveperson._paths import account_path

__all__ = [
    "AGENT_MANAGER_WORKSPACE",
    "KMM_MAX_RESULTS",
    "KMM_WINDOW_SECONDS",
    "KeyMessagingMetrics",
]

AGENT_MANAGER_WORKSPACE = "agentManagerWorkspace"
KMM_MAX_RESULTS = 1000
"""The most agents one agent-view query can return, all pages together."""
KMM_WINDOW_SECONDS = 300
"""The required ``filters.time`` window ending now; only time-based metrics depend on it, and
routing asks for none of them."""
_ONLINE = "ONLINE"


class KeyMessagingMetrics(AccountApi):
    """Key Messaging Metrics API, agent view (OAuth 2 bearer)."""

    service = "key_messaging_metrics"
    domain = AGENT_MANAGER_WORKSPACE
    """The CSDS service whose host serves this API."""

    async def list_agent_view(
        self,
        host: str,
        skill_ids: Sequence[str],
        *,
        statuses: Sequence[str] = (_ONLINE,),
        offset: int = 0,
        limit: int = KMM_MAX_RESULTS,
    ) -> AgentStatusPage:
        """POST: /manager_workspace/api/account/{accountId}/agent_view?offset=&limit=

        Agents assigned to any of ``skill_ids`` (``agentSkillIds``) whose current status is one of
        ``statuses``; ``offset + limit`` is at most 1000.
        """
        if limit <= 0 or offset < 0 or offset + limit > KMM_MAX_RESULTS:
            raise ValueError(f"offset + limit must be between 1 and {KMM_MAX_RESULTS}")
        now_ms = int(time.time() * 1000)
        body = {
            "filters": {
                "time": {"from": now_ms - KMM_WINDOW_SECONDS * 1000, "to": now_ms},
                "agentSkillIds": list(skill_ids),
                "effectiveAgentStatus": list(statuses),
            },
            "includeAgentMetadata": True,
            "metricsToRetrieveCurrentValue": ["agent_current_status"],
        }
        response = await self._request(
            "POST",
            host,
            account_path("/manager_workspace/api", self._account_id, "/agent_view"),
            params={"offset": offset, "limit": limit},
            json=body,
        )
        return _page(json_body(response, service=self.service))

    async def list_agents(self, host: str, skill_ids: Sequence[str]) -> list[AgentStatus]:
        """The ONLINE agents of ``skill_ids``: one call, unless the answer was cut at 1,000.

        A cut answer for several skills is asked again in halves (an agent found twice counts
        once); for one skill it already proves an ONLINE agent, which is all routing needs.
        """
        page = await self.list_agent_view(host, skill_ids)
        if page.count <= len(page.records) or len(skill_ids) <= 1:
            return page.records
        half = len(skill_ids) // 2
        first, second = await asyncio.gather(
            self.list_agents(host, skill_ids[:half]), self.list_agents(host, skill_ids[half:])
        )
        return list({record.agent_id: record for record in (*first, *second)}.values())


def _page(body: Any) -> AgentStatusPage:
    records = body.get("agentViewRecords") if isinstance(body, dict) else None
    if not isinstance(records, list):
        raise missing(KeyMessagingMetrics.service, "agentViewRecords list")
    parsed = [
        AgentStatus(
            agent_id=str(record.get("agentId", "")),
            current_status=str(record.get("agentCurrentStatus", "")),
            skill_ids=_skills(record.get("agentMetadata")),
        )
        for record in records
        if isinstance(record, dict)
    ]
    metadata = body.get("metadata", body.get("_metadata"))
    count = metadata.get("count") if isinstance(metadata, dict) else None
    valid = isinstance(count, int) and not isinstance(count, bool)
    return AgentStatusPage(records=parsed, count=count if valid else len(parsed))


def _skills(metadata: Any) -> tuple[str, ...]:
    """``agentMetadata.agentSkills[].skillId`` (numbers in LivePerson's example) as strings."""
    skills = metadata.get("agentSkills") if isinstance(metadata, dict) else None
    return tuple(
        str(skill["skillId"])
        for skill in skills or ()
        if isinstance(skill, dict) and skill.get("skillId") is not None
    )
