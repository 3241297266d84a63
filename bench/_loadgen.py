"""The load generator: one routing event per POST, like LivePerson, on a minimal HTTP/1.1 client.

A hand-rolled keep-alive client on asyncio streams (``bench._http1``) costs far less CPU than a
full HTTP library, which matters when the generator shares two cores with what it measures.
Two modes: open loop (events sent at a fixed rate whatever the answers) for latency, and closed
loop (``concurrency`` requests always outstanding) for throughput. Every request is signed as the
ingress requires (``bench._ingress.WEBHOOK_SECRET``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench._http1 import Connection, split_url
from bench._ingress import WEBHOOK_SECRET
from switchboard.ingress import signed_headers

__all__ = ["Sent", "offer_closed_loop", "offer_open_loop"]


@dataclass
class Sent:
    """One event's POST: when it left (epoch s), when it was answered, and how."""

    conversation_id: str
    sent_at: float
    acked_at: float = 0.0
    status: int = 0
    decision: str | None = None
    error: str | None = None


async def _send(connection: Connection, path: str, event: dict[str, Any]) -> Sent:
    sent = Sent(conversation_id=str(event["general"]["convId"]), sent_at=time.time())
    body = json.dumps(event).encode()
    headers = {**signed_headers(WEBHOOK_SECRET, body), "Content-Type": "application/json"}
    try:
        sent.status, payload = await connection.request("POST", path, body, headers)
        if sent.status == 200:
            sent.decision = json.loads(payload)["decisions"][0]["kind"]
        else:
            sent.error = payload[:200].decode(errors="replace")
    except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
        connection.close()
        sent.error = f"{type(exc).__name__}: {exc}"
    sent.acked_at = time.time()
    return sent


async def offer_open_loop(url: str, events: Sequence[dict[str, Any]], *, rate: float) -> list[Sent]:
    """Send event ``i`` at ``start + i / rate``, on an idle connection or a new one."""
    host, port, path = split_url(url)
    idle: list[Connection] = []
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def one(index: int, event: dict[str, Any]) -> Sent:
        await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
        connection = idle.pop() if idle else Connection(host, port)
        try:
            return await _send(connection, path, event)
        finally:
            idle.append(connection)

    try:
        return list(await asyncio.gather(*(one(i, e) for i, e in enumerate(events))))
    finally:
        for connection in idle:
            connection.close()


async def offer_closed_loop(
    url: str, events: Sequence[dict[str, Any]], *, concurrency: int
) -> list[Sent]:
    """Keep ``concurrency`` requests outstanding until every event was answered."""
    host, port, path = split_url(url)
    results: list[Sent | None] = [None] * len(events)
    cursor = iter(range(len(events)))

    async def worker() -> None:
        connection = Connection(host, port)
        try:
            for index in cursor:
                results[index] = await _send(connection, path, events[index])
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(events)))))
    return [r for r in results if r is not None]
