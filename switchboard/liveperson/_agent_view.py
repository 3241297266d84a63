"""Agent-view status (domain ``msgHist``): which agents of which skills are ONLINE.

This is Agent Metrics' agent view, the default availability source; LivePerson documents it as
superseded by Key Messaging Metrics' agent view (``switchboard.liveperson._kmm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from switchboard.liveperson._adapter import AccountApi, json_body, missing
from switchboard.liveperson._models import AgentStatus, AgentStatusPage
from switchboard.liveperson._paths import account_path

__all__ = ["MAX_PAGE_SIZE", "MSG_HIST", "AgentView"]

MAX_PAGE_SIZE = 1000
MSG_HIST = "msgHist"


class AgentView(AccountApi):
    """Agent-view status, part of LivePerson's Messaging History API (documented for reporting,
    hence one call per batch rather than one per conversation)."""

    service = "agent_view"
    domain = MSG_HIST
    """The CSDS service whose host serves this API."""

    async def list_agents(self, host: str, skill_ids: Sequence[str]) -> list[AgentStatus]:
        """Every agent of ``skill_ids``: one call, more pages only past 1,000 agents."""
        records: list[AgentStatus] = []
        while True:
            page = await self.list_agent_statuses(host, skill_ids, offset=len(records))
            records.extend(page.records)
            if len(page.records) < MAX_PAGE_SIZE or len(records) >= page.count:
                return records

    async def list_agent_statuses(
        self, host: str, skill_ids: Sequence[str], *, offset: int = 0, limit: int = MAX_PAGE_SIZE
    ) -> AgentStatusPage:
        """POST: /messaging_history/api/account/{accountId}/agent-view/status?offset=&limit=

        One call covers every skill in ``skill_ids``; ``limit`` is at most 1000.
        """
        if not 0 < limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, not {limit}")
        response = await self._request(
            "POST",
            host,
            account_path("/messaging_history/api", self._account_id, "/agent-view/status"),
            params={"offset": offset, "limit": limit},
            json={"skillIds": list(skill_ids)},
        )
        return _page(json_body(response, service=self.service))


def _page(body: Any) -> AgentStatusPage:
    records = body.get("agentStatusRecords") if isinstance(body, dict) else None
    if not isinstance(records, list):
        raise missing(AgentView.service, "agentStatusRecords list")
    parsed = [
        AgentStatus(
            agent_id=str(record.get("agentId", "")),
            current_status=str(record.get("currentStatus", "")),
            skill_ids=tuple(
                str(skill["skillId"])
                for skill in record.get("agentSkills") or ()
                if isinstance(skill, dict) and skill.get("skillId") is not None
            ),
        )
        for record in records
        if isinstance(record, dict)
    ]
    metadata = body.get("_metadata")
    count = metadata.get("count") if isinstance(metadata, dict) else None
    return AgentStatusPage(records=parsed, count=count if isinstance(count, int) else len(parsed))
