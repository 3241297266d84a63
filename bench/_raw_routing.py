"""``python -m bench._raw_routing``: the routing floor, a hand-written server making the same calls.

It takes the same signed single-event POSTs as the ingress and answers each with its decision,
after the same upstream calls: one Vault read for the bearer and CSDS once at start, then per
batch one agent-view call, one queue-health call and one message per conversation that needs
one (``send_concurrency`` at a time, with a Request-ID). Batches form as the ingress's do: from
the first waiting event, ``batch_window_ms`` or ``max_batch_size`` events, whichever comes
first, ``max_in_flight`` at once, growing while every slot is busy (the same settings, so the
same number of calls). What it leaves out is what makes it the floor: HTTP parsing is a few
lines on asyncio streams, the upstream client is ``bench._http1`` (an HTTP library spends more
CPU per call than the sandbox spends answering it), events stay dicts (no validation models),
and there are no retries, metrics or logs. uvloop, as the ingress has under uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import uvloop

from bench._http1 import Pool
from bench._scenario import NO_AGENT_MESSAGE, THRESHOLD_MINUTES, busy_message

_NAMESPACE = uuid.UUID("0b0e7c7e-5a39-4c43-a0b5-4b8d2f1e6a11")
P90 = "waitTimeForAgentAssignment_90thPercentile"
_MAX_AGE = 300


class _Batches:
    """Events waiting for a batch; a batch runs ``route`` and resolves each event's future."""

    def __init__(
        self,
        route: Callable[[list[dict[str, Any]]], Awaitable[list[str]]],
        *,
        window: float,
        max_size: int,
        in_flight: int,
    ) -> None:
        self._route, self._window, self._max = route, window, max_size
        self._slots = asyncio.Semaphore(in_flight)
        self._pending: list[tuple[dict[str, Any], asyncio.Future[str]]] = []
        self._arrived, self._full = asyncio.Event(), asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, event: dict[str, Any]) -> str:
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.append((event, done))
        self._arrived.set()
        if len(self._pending) >= self._max:
            self._full.set()
        return await done

    async def dispatch(self) -> None:
        while True:
            await self._arrived.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._window)
            await self._slots.acquire()
            batch, self._pending = self._pending[: self._max], self._pending[self._max :]
            if not self._pending:
                self._arrived.clear()
            if len(self._pending) < self._max:
                self._full.clear()
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[tuple[dict[str, Any], asyncio.Future[str]]]) -> None:
        try:
            kinds = await self._route([event for event, _ in batch])
            for (_, done), kind in zip(batch, kinds, strict=True):
                done.set_result(kind)
        except Exception as exc:
            for _, done in batch:
                done.set_exception(exc)
        finally:
            self._slots.release()


def _answer(status: int, body: bytes) -> bytes:
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found"}.get(status, "Error")
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _signed(secret: bytes, body: bytes, headers: dict[str, str]) -> bool:
    """The ingress's check: HMAC-SHA256 over ``<timestamp>.<body>``, a recent timestamp."""
    timestamp = headers.get("x-switchboard-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > _MAX_AGE:
        return False
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(
        f"sha256={digest}".encode(), headers.get("x-switchboard-signature", "").encode()
    )


async def _serve(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    batches: _Batches,
    secret: bytes,
) -> None:
    try:
        while request_line := await reader.readline():
            method, path, _ = request_line.decode("latin-1").split(" ", 2)
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            if method == "GET" and path == "/healthz":
                writer.write(_answer(200, b'{"status":"ok"}'))
            elif method != "POST" or path != "/events":
                writer.write(_answer(404, b"{}"))
            elif not _signed(secret, body, headers):
                writer.write(_answer(401, b'{"error":"bad signature"}'))
            else:
                kind = await batches.submit(json.loads(body))
                writer.write(_answer(200, json.dumps({"decisions": [{"kind": kind}]}).encode()))
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _main() -> None:
    from switchboard import load
    from switchboard.ingress import IngressSettings
    from switchboard.liveperson import LivePersonSettings

    settings, account = load(IngressSettings), load(LivePersonSettings)
    pools: dict[str, Pool] = {}

    def pool(origin: str) -> Pool:
        if origin not in pools:
            pools[origin] = Pool(origin)
        return pools[origin]

    vault = await pool(os.environ["VAULT_ADDR"]).request(
        "GET",
        f"/v1/secret/data/switchboard/credentials/{account.bearer_credential}/token",
        headers={"X-Vault-Token": os.environ["VAULT_TOKEN"]},
    )
    auth = {"Authorization": f"Bearer {vault['data']['data']['access_token']}"}
    csds = await pool(f"http://{account.csds_host}").request(
        "GET", f"/api/account/{account.account_id}/service/baseURI.json?version=1.0"
    )
    hosts = {e["service"]: pool(f"http://{e['baseURI']}") for e in csds["baseURIs"]}

    async def route(events: list[dict[str, Any]]) -> list[str]:
        return await _route_batch(
            hosts, auth, account.account_id, events, send_concurrency=account.send_concurrency
        )

    batches = _Batches(
        route,
        window=settings.batch_window_ms / 1000,
        max_size=settings.max_batch_size,
        in_flight=settings.max_in_flight,
    )
    assert settings.webhook_secret is not None  # the bench signs every request
    secret = settings.webhook_secret.get_secret_value().encode()
    server = await asyncio.start_server(
        lambda r, w: _serve(r, w, batches, secret), settings.host, settings.port, backlog=2048
    )
    async with server:
        await asyncio.gather(server.serve_forever(), batches.dispatch())


async def _route_batch(
    hosts: dict[str, Pool],
    auth: dict[str, str],
    account_id: str,
    events: Sequence[dict[str, Any]],
    *,
    send_concurrency: int,
) -> list[str]:
    """Route one batch; each event's decision kind."""
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

    sends, kinds = [], []
    for event in events:
        skill = str(event["routing"]["newSkillId"])
        p90 = metrics.get(skill, {}).get(P90, -1)
        minutes = 0 if p90 is None or p90 < 0 else math.ceil(p90 / 60_000)
        if not online[skill]:
            kinds.append("no_agent")
            sends.append(send(event, NO_AGENT_MESSAGE, "no_agent"))
        elif p90 is None or p90 < 0:
            kinds.append("no_data")
        elif minutes >= THRESHOLD_MINUTES:
            kinds.append("busy")
            sends.append(send(event, busy_message(minutes), "busy"))
        else:
            kinds.append("no_message")
    await asyncio.gather(*sends)
    return kinds


if __name__ == "__main__":
    uvloop.run(_main())
