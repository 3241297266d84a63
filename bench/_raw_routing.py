"""The raw routing baseline: the same upstream calls as Switchboard, as cheaply as they come.

What a careful hand-written script would do with the same events: one Vault read for the
bearer, CSDS once, then per batch of up to ``batch_size`` events one agent-view call, one
queue-health call and one message per conversation that needs one (``send_concurrency`` at a
time, with a Request-ID), ``in_flight`` batches at once. It runs on uvloop (as the ingress
does under uvicorn) with the bench's minimal keep-alive HTTP/1.1 client (``bench._http1``):
an HTTP library costs more CPU per call than the sandbox spends answering it, and on 2 cores a
baseline paying that would be slower than Switchboard without Prefect (``plain``), hiding part
of Prefect's cost in the ratio. No validation models, no retries, no observability: the floor.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Sequence
from typing import Any

from bench._http1 import Pool
from bench._scenario import NO_AGENT_MESSAGE, THRESHOLD_MINUTES, busy_message

__all__ = ["route_raw"]

_NAMESPACE = uuid.UUID("0b0e7c7e-5a39-4c43-a0b5-4b8d2f1e6a11")
P90 = "waitTimeForAgentAssignment_90thPercentile"


async def route_raw(
    *,
    vault_url: str,
    vault_token: str,
    token_path: str,
    csds_host: str,
    account_id: str,
    events: Sequence[dict[str, Any]],
    batch_size: int = 500,
    in_flight: int = 4,
    send_concurrency: int = 32,
) -> dict[str, Any]:
    """Route ``events``; the seconds it took and how many messages were sent."""
    started = time.perf_counter()
    pools: dict[str, Pool] = {}

    def pool(origin: str) -> Pool:
        return pools.setdefault(origin, Pool(origin))

    try:
        vault = await pool(vault_url).request(
            "GET", f"/v1/secret/data/{token_path}", headers={"X-Vault-Token": vault_token}
        )
        auth = {"Authorization": f"Bearer {vault['data']['data']['access_token']}"}
        csds = await pool(f"http://{csds_host}").request(
            "GET", f"/api/account/{account_id}/service/baseURI.json?version=1.0"
        )
        hosts = {e["service"]: pool(f"http://{e['baseURI']}") for e in csds["baseURIs"]}
        slots = asyncio.Semaphore(in_flight)

        async def batch(chunk: Sequence[dict[str, Any]]) -> int:
            async with slots:
                return await _route_batch(
                    hosts, auth, account_id, chunk, send_concurrency=send_concurrency
                )

        chunks = [events[i : i + batch_size] for i in range(0, len(events), batch_size)]
        sent = sum(await asyncio.gather(*(batch(chunk) for chunk in chunks)))
    finally:
        for each in pools.values():
            each.close()
    return {"seconds": time.perf_counter() - started, "messages": sent, "batches": len(chunks)}


async def _route_batch(
    hosts: dict[str, Pool],
    auth: dict[str, str],
    account_id: str,
    events: Sequence[dict[str, Any]],
    *,
    send_concurrency: int,
) -> int:
    skills = sorted({str(e["routing"]["newSkillId"]) for e in events})
    now_ms = int(time.time() * 1000)
    account = f"/api/account/{account_id}"
    agents_call = hosts["msgHist"].request(
        "POST",
        f"/messaging_history{account}/agent-view/status?offset=0&limit=1000",
        json_body={"skillIds": skills},
        headers=auth,
    )
    queue_call = hosts["leDataReporting"].request(
        "GET",
        f"/operations{account}/msgqueuehealth/current/?skillIds={','.join(skills)}&v=2"
        f"&fromMillis={now_ms - 300_000}&toMillis={now_ms}",
        headers=auth,
    )
    agents, queue = await asyncio.gather(agents_call, queue_call)
    online: dict[str, int] = dict.fromkeys(skills, 0)
    known: dict[str, int] = dict.fromkeys(skills, 0)
    for record in agents["agentStatusRecords"]:
        for skill in record.get("agentSkills") or ():
            sid = str(skill["skillId"])
            if sid in known:
                known[sid] += 1
                online[sid] += record.get("currentStatus") == "ONLINE"
    metrics = queue.get("skillsMetrics", {})

    gate = asyncio.Semaphore(send_concurrency)
    messaging = hosts["messagingRestApiDomain"]
    headers = {**auth, "Brand-ID": account_id, "Client-source": "raw"}

    async def send(event: dict[str, Any], text: str, kind: str) -> None:
        conv, dialog = str(event["general"]["convId"]), str(event["general"]["dialogId"])
        request_id = str(uuid.uuid5(_NAMESPACE, f"{conv}|{dialog}|{kind}"))
        async with gate:
            await messaging.request(
                "POST",
                f"/messaging{account}/conversations/{conv}/messages",
                json_body={"dialogId": dialog, "contentType": "text/plain", "message": text},
                headers={**headers, "Request-ID": request_id},
            )

    sends = []
    for event in events:
        skill = str(event["routing"]["newSkillId"])
        if not online[skill]:
            sends.append(send(event, NO_AGENT_MESSAGE, "no_agent"))
            continue
        p90 = metrics.get(skill, {}).get(P90, -1)
        if p90 is None or p90 < 0:
            continue
        minutes = math.ceil(p90 / 60_000)
        if minutes >= THRESHOLD_MINUTES:
            sends.append(send(event, busy_message(minutes), "busy"))
    await asyncio.gather(*sends)
    return len(sends)
