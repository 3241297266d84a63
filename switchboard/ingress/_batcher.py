"""Group concurrent requests' events into batches, run a bounded number of batches at once.

A batch closes when ``max_batch_size`` events wait or ``window`` seconds after its first event.
While every slot is busy, events keep gathering, so batches grow under load (up to the maximum)
and the per-batch cost is spread over more events. Each request's future resolves with its own
slice of the batch's results, or the batch's exception.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Batcher", "Overloaded"]

E = TypeVar("E")
R = TypeVar("R")


class Overloaded(Exception):
    """More events are waiting than ``max_queued``: the caller should retry later."""


@dataclass
class _Request(Generic[E, R]):
    events: Sequence[E]
    done: asyncio.Future[list[R]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Batcher(Generic[E, R]):
    """Run ``handler`` over batches of submitted events; ``start()`` first, ``aclose()`` last."""

    def __init__(
        self,
        handler: Callable[[list[E]], Awaitable[list[R]]],
        *,
        window: float,
        max_batch_size: int,
        max_in_flight: int,
        max_queued: int,
    ) -> None:
        self._handler = handler
        self._window = window
        self._max_batch = max_batch_size
        self._max_queued = max_queued
        self._slots = asyncio.Semaphore(max_in_flight)
        self._pending: deque[_Request[E, R]] = deque()
        self._queued = 0
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None
        self.batches = 0

    @property
    def queued(self) -> int:
        """Events accepted and not yet handed to a batch."""
        return self._queued

    @property
    def in_flight(self) -> int:
        return len(self._running)

    @property
    def running(self) -> bool:
        """Whether batches are being dispatched (false before ``start()`` and after a crash)."""
        return self._dispatcher is not None and not self._dispatcher.done()

    def start(self) -> None:
        self._dispatcher = asyncio.create_task(self._dispatch(), name="ingress-batcher")

    async def submit(self, events: Sequence[E]) -> list[R]:
        """Wait until the events' batch is handled; their results in order."""
        if not self.running:
            raise RuntimeError("the batcher is not running")
        if self._queued + len(events) > self._max_queued:
            raise Overloaded(f"{self._queued} events are waiting; retry shortly")
        request: _Request[E, R] = _Request(events)
        self._pending.append(request)
        self._queued += len(events)
        self._arrived.set()
        if self._queued >= self._max_batch:
            self._full.set()
        return await asyncio.shield(request.done)

    async def aclose(self) -> None:
        """Hand what is waiting to a last batch, wait for every batch, stop."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        while self._pending:
            await self._slots.acquire()
            self._launch(self._take())
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            deadline = loop.time() + self._window
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), timeout=max(0.0, deadline - loop.time()))
            await self._slots.acquire()  # events keep gathering while every slot is busy
            self._launch(self._take())

    def _take(self) -> list[_Request[E, R]]:
        """Whole requests, oldest first, up to ``max_batch_size`` events (at least one request)."""
        taken: list[_Request[E, R]] = []
        size = 0
        while self._pending and (
            not taken or size + len(self._pending[0].events) <= self._max_batch
        ):
            request = self._pending.popleft()
            taken.append(request)
            size += len(request.events)
        self._queued -= size
        if not self._pending:
            self._arrived.clear()
        if self._queued < self._max_batch:
            self._full.clear()
        return taken

    def _launch(self, requests: list[_Request[E, R]]) -> None:
        task = asyncio.create_task(self._run(requests))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, requests: list[_Request[E, R]]) -> None:
        try:
            self.batches += 1
            events = [event for request in requests for event in request.events]
            try:
                results = await self._handler(events)
                if len(results) != len(events):
                    raise RuntimeError(f"{len(results)} results for {len(events)} events")
            except Exception as exc:  # every waiting request hears of it
                for request in requests:
                    if not request.done.done():
                        request.done.set_exception(exc)
                return
            except BaseException:
                for request in requests:
                    request.done.cancel()
                raise
            start = 0
            for request in requests:
                end = start + len(request.events)
                if not request.done.done():
                    request.done.set_result(results[start:end])
                start = end
        finally:
            self._slots.release()
