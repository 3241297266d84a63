"""The load generator: one routing event per POST, like LivePerson, on a minimal HTTP/1.1 client.

A hand-rolled keep-alive client on asyncio streams costs far less CPU than a full HTTP library,
which matters when the generator shares two cores with what it measures. Two modes:
open loop (events sent at a fixed rate whatever the answers) for latency, and closed loop
(``concurrency`` requests always outstanding) for throughput. Every request is signed as the
ingress requires (``bench._ingress.WEBHOOK_SECRET``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST on the kept-alive connection; once more on a new one if the server had closed it."""
        reused = self.writer is not None and not self.writer.is_closing()
        try:
            return await self._post(path, body)
        except (ConnectionError, asyncio.IncompleteReadError):
            if not reused:
                raise
            self.close()  # the server closed an idle keep-alive connection before reading
            return await self._post(path, body)

    async def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        signature = "".join(
            f"{name}: {value}\r\n" for name, value in signed_headers(WEBHOOK_SECRET, body).items()
        )  # signed at send time, so a retry carries a fresh timestamp
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{signature}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        if not status_line:
            self.close()
            raise ConnectionResetError("the server closed the connection")
        status = int(status_line.split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        payload = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.writer = None


async def _send(connection: _Connection, path: str, event: dict[str, Any]) -> Sent:
    sent = Sent(conversation_id=str(event["general"]["convId"]), sent_at=time.time())
    try:
        sent.status, payload = await connection.post(path, json.dumps(event).encode())
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
    host, port, path = _split(url)
    idle: list[_Connection] = []
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def one(index: int, event: dict[str, Any]) -> Sent:
        await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
        connection = idle.pop() if idle else _Connection(host, port)
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
    host, port, path = _split(url)
    results: list[Sent | None] = [None] * len(events)
    cursor = iter(range(len(events)))

    async def worker() -> None:
        connection = _Connection(host, port)
        try:
            for index in cursor:
                results[index] = await _send(connection, path, events[index])
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(events)))))
    return [r for r in results if r is not None]


def _split(url: str) -> tuple[str, int, str]:
    rest = url.removeprefix("http://")
    address, _, path = rest.partition("/")
    host, _, port = address.partition(":")
    return host, int(port or 80), "/" + path
