"""Bounds in bytes and requests: what one ingress process holds at once, whatever senders do.

A chunked body has no Content-Length to refuse up front, so bodies are read chunk by chunk
against two caps: the request's own (``max_body_bytes``, 413) and the bytes every request
being read holds together (``max_buffered_bytes``, 503). Requests in progress (read, parsed,
waiting for their batch) are capped too (``max_concurrent_requests``, 503).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.requests import Request

__all__ = ["Busy", "RequestLimits", "TooLarge"]


class TooLarge(Exception):
    """The body is larger than one request may send (413)."""


class Busy(Exception):
    """Too many requests or buffered bytes right now; the sender retries (503)."""


class RequestLimits:
    """Admission and capped body reads for one app (one event loop: no locks needed)."""

    def __init__(self, *, max_requests: int, max_body_bytes: int, max_buffered_bytes: int) -> None:
        self.max_requests = max_requests
        self.max_body_bytes = max_body_bytes
        self.max_buffered_bytes = max_buffered_bytes
        self.requests = 0
        self.buffered = 0

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one request slot for the block, or raise ``Busy`` when all are taken."""
        if self.requests >= self.max_requests:
            raise Busy(f"{self.requests} requests in progress; retry shortly")
        self.requests += 1
        try:
            yield
        finally:
            self.requests -= 1

    @contextmanager
    def body(self) -> Iterator[_Body]:
        """A body reader whose bytes count against the shared budget until the block ends."""
        reader = _Body(self)
        try:
            yield reader
        finally:
            self.buffered -= reader.size

    def check_declared(self, content_length: str | None) -> None:
        """Refuse a declared Content-Length over the cap before reading anything."""
        if (
            content_length
            and content_length.isdigit()
            and int(content_length) > self.max_body_bytes
        ):
            raise TooLarge


class _Body:
    def __init__(self, limits: RequestLimits) -> None:
        self._limits = limits
        self.size = 0

    async def read(self, request: Request) -> bytes:
        """The whole body, refused as soon as it passes a cap (the rest is never read)."""
        limits = self._limits
        chunks: list[bytes] = []
        async for chunk in request.stream():
            if self.size + len(chunk) > limits.max_body_bytes:
                raise TooLarge
            if limits.buffered + len(chunk) > limits.max_buffered_bytes:
                raise Busy(f"{limits.buffered} bytes of bodies are being read; retry shortly")
            self.size += len(chunk)
            limits.buffered += len(chunk)
            chunks.append(chunk)
        return b"".join(chunks)
