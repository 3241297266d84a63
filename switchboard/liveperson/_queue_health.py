"""Queue health (domain ``leDataReporting``): wait-time percentiles per skill."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import httpx2

from switchboard.liveperson._adapter import AccountApi, Adapter, json_body, missing
from switchboard.liveperson._models import SkillWait
from switchboard.liveperson._paths import account_path

__all__ = ["QueueHealth", "QueueHealthCache"]

P90 = "waitTimeForAgentAssignment_90thPercentile"
P50 = "waitTimeForAgentAssignment_50thPercentile"


class QueueHealth(AccountApi):
    """Messaging current queue health API: v2 takes the OAuth 2 bearer, v1 the OAuth 1 API keys.

    https://developers.liveperson.com/messaging-operations-api-methods-messaging-current-queue-health.html
    """

    service = "queue_health"

    def __init__(
        self,
        adapter: Adapter,
        *,
        account_id: str,
        scheme: str,
        bearer: httpx2.Auth,
        oauth1: httpx2.Auth | None,
    ) -> None:
        super().__init__(adapter, account_id=account_id, scheme=scheme, auth=bearer)
        self._oauth1 = oauth1

    async def read_current_queue_health(
        self,
        host: str,
        skill_ids: Sequence[str],
        *,
        version: Literal[1, 2] = 2,
        from_millis: int | None = None,
        to_millis: int | None = None,
    ) -> dict[str, SkillWait]:
        """GET: /operations/api/account/{accountId}/msgqueuehealth/current/?skillIds=&v=

        One call covers every skill. v2 adds ``fromMillis``/``toMillis`` when given. Skills the
        answer leaves out are missing from the result (no data).
        """
        if version == 1 and self._oauth1 is None:
            raise ValueError("queue health v1 needs OAuth 1 API keys")
        auth = self._oauth1 if version == 1 else None  # None: the bearer
        params: dict[str, Any] = {"skillIds": ",".join(skill_ids), "v": version}
        if version == 2 and from_millis is not None:
            params["fromMillis"] = from_millis
        if version == 2 and to_millis is not None:
            params["toMillis"] = to_millis
        path = account_path("/operations/api", self._account_id, "/msgqueuehealth/current/")
        response = await self._request("GET", host, path, auth=auth, params=params)
        return _waits(json_body(response, service=self.service))


class QueueHealthCache:
    """Each skill's waits kept ``ttl_seconds``, so a busy account asks queue health about a skill
    once per TTL rather than once per batch (LivePerson's own routing recipe caches it too; the
    API aggregates in 5-minute buckets, so a few seconds' reuse loses nothing). 0 turns it off.
    Refusals are not kept: they propagate to the caller each time.
    """

    def __init__(
        self,
        api: QueueHealth,
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._ttl = ttl_seconds
        self._clock = clock
        self._kept: dict[str, tuple[float, SkillWait]] = {}

    async def read(
        self,
        host: str,
        skill_ids: Sequence[str],
        *,
        version: Literal[1, 2] = 2,
        from_millis: int | None = None,
        to_millis: int | None = None,
    ) -> dict[str, SkillWait]:
        """``read_current_queue_health`` for the skills not kept; a skill the answer leaves out
        is kept as "no data" (``SkillWait`` without waits), as the decision reads it anyway."""
        now = self._clock()
        kept = {
            skill: entry[1]
            for skill in skill_ids
            if (entry := self._kept.get(skill)) is not None and entry[0] > now
        }
        wanted = [skill for skill in skill_ids if skill not in kept]
        if not wanted:
            return kept
        found = await self._api.read_current_queue_health(
            host, wanted, version=version, from_millis=from_millis, to_millis=to_millis
        )
        if self._ttl > 0:
            until = now + self._ttl
            for skill in wanted:
                self._kept[skill] = (until, found.get(skill) or SkillWait(skill_id=skill))
        return {**kept, **found}


def _millis(value: Any) -> int | None:
    """LivePerson's -1 (and anything not a number) means no data."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return int(value)


def _waits(body: Any) -> dict[str, SkillWait]:
    skills = body.get("skillsMetrics") if isinstance(body, dict) else None
    if (
        skills is None
        and isinstance(body, dict)
        and ("metricsTotal" in body or "metricsTotals" in body)
    ):
        skills = {}
    if not isinstance(skills, dict):
        raise missing(QueueHealth.service, "skillsMetrics")
    return {
        str(skill_id): SkillWait(
            skill_id=str(skill_id),
            p90_ms=_millis(metrics.get(P90)),
            p50_ms=_millis(metrics.get(P50)),
        )
        for skill_id, metrics in skills.items()
        if isinstance(metrics, dict)
    }
