"""A minimal keep-alive HTTP/1.1 client on asyncio streams, for the load generator and the floor.

A full HTTP library spends more CPU per request than the servers it calls do on these loopback
exchanges; on 2 shared cores that overhead would be measured as the baseline's cost. This client
writes one request line and headers, reads the status, ``Content-Length`` or chunked bodies, and
keeps the connection for the next request. Nothing else: no redirects, proxies, TLS or retries
beyond reopening a keep-alive connection the server had already closed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["Connection", "Pool", "split_url"]


def split_url(url: str) -> tuple[str, int, str]:
    """``http://host:port/path`` → (host, port, path)."""
    rest = url.removeprefix("http://")
    address, _, path = rest.partition("/")
    host, _, port = address.partition(":")
    return host, int(port or 80), "/" + path


class Connection:
    """One kept-alive connection; requests on it are sequential."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Status and body; once more on a new connection if the server had closed this one."""
        reused = self._writer is not None and not self._writer.is_closing()
        try:
            return await self._request(method, path, body, headers or {})
        except (ConnectionError, asyncio.IncompleteReadError):
            if not reused:
                raise
            self.close()  # the server closed an idle keep-alive connection before reading
            return await self._request(method, path, body, headers or {})

    async def _request(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        status_line = await self._reader.readline()
        if not status_line:
            self.close()
            raise ConnectionResetError("the server closed the connection")
        status = int(status_line.split()[1])
        length, chunked, close = 0, False, False
        while (line := await self._reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value
            elif name == "connection":
                close = value == "close"
        payload = await self._chunks() if chunked else await self._reader.readexactly(length)
        if close:
            self.close()
        return status, payload

    async def _chunks(self) -> bytes:
        assert self._reader is not None
        parts = []
        while size := int((await self._reader.readline()).split(b";")[0], 16):
            parts.append(await self._reader.readexactly(size))
            await self._reader.readline()
        while await self._reader.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(parts)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = None


class Pool:
    """Connections to one origin: an idle one if there is one, else a new one (unbounded;
    callers bound their own concurrency)."""

    def __init__(self, origin: str) -> None:
        self.host, self.port, _ = split_url(origin)
        self._idle: list[Connection] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded JSON answer (``None`` for 404 or an empty body); raises on other errors."""
        body = b"" if json_body is None else json.dumps(json_body).encode()
        sent = {**(headers or {}), **({"Content-Type": "application/json"} if body else {})}
        connection = self._idle.pop() if self._idle else Connection(self.host, self.port)
        try:
            status, payload = await connection.request(method, path, body, sent)
        except BaseException:
            connection.close()
            raise
        self._idle.append(connection)
        if status == 404:
            return None
        if status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {payload[:200]!r}")
        return json.loads(payload) if payload else None

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
