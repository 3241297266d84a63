"""One place that talks HTTP to LivePerson: retries, Retry-After, and the error mapping.

Status → exception: 401/403 ``Unauthorized``, 429 ``RateLimited`` (``retry_after`` from the header),
5xx / network / timeout ``UpstreamUnavailable``, any other non-2xx ``UpstreamError``. 429 and
``UpstreamUnavailable`` are tried ``max_attempts`` times in all (exponential backoff with jitter,
or the server's Retry-After) before they are raised. Messages name the service, method, path and
status, never a header or a body. An ``UpstreamObserver`` hears of every answer and of every
call that failed for good (the metrics of ``switchboard.metrics``).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, ClassVar, Protocol

import httpx2

from switchboard._exceptions import (
    RateLimited,
    Unauthorized,
    UpstreamError,
    UpstreamUnavailable,
)
from switchboard._http import parse_retry_after

__all__ = [
    "DEFAULT_BACKOFF_SECONDS",
    "MAX_RETRY_WAIT_SECONDS",
    "AccountApi",
    "Adapter",
    "UpstreamObserver",
    "json_body",
    "missing",
]

DEFAULT_BACKOFF_SECONDS = 0.2
MAX_RETRY_WAIT_SECONDS = 30.0
"""The longest a Retry-After makes a LivePerson call wait in-process before its next try."""


class UpstreamObserver(Protocol):
    """Told of each LivePerson call; must not block or raise (it runs on the event loop)."""

    def upstream_answered(self, service: str, status: str) -> None:
        """One attempt ended: its HTTP status (``"200"``, ``"429"``), ``timeout`` or ``network``."""

    def upstream_failed(self, service: str, error_class: str) -> None:
        """A call failed for good (after its retries, or at once for a refusal)."""


class Adapter:
    """An ``httpx2.AsyncClient`` plus LivePerson's error semantics; shared by every API class.

    ``observer`` may be replaced at any time (``LivePersonClient.observe``).
    """

    def __init__(
        self,
        client: httpx2.AsyncClient,
        *,
        max_attempts: int = 3,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        observer: UpstreamObserver | None = None,
    ) -> None:
        self.client = client
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.observer = observer

    async def request(
        self,
        method: str,
        url: str,
        *,
        service: str,
        auth: httpx2.Auth | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        accept: frozenset[int] = frozenset(),
    ) -> httpx2.Response:
        """Send with retries; return the 2xx response (or one whose status is in ``accept``, for
        the caller to read) or raise the mapped ``UpstreamError``."""
        request = self.client.build_request(method, url, params=params, json=json, headers=headers)
        attempt = 1
        while True:
            try:
                return await self._send_once(request, service=service, auth=auth, accept=accept)
            except (RateLimited, UpstreamUnavailable) as exc:
                if attempt < self.max_attempts:
                    await asyncio.sleep(self._delay(attempt, exc.retry_after))
                    attempt += 1
                    continue
                self._failed(service, exc)
                raise
            except UpstreamError as exc:
                self._failed(service, exc)
                raise

    def _failed(self, service: str, exc: UpstreamError) -> None:
        if self.observer is not None:
            self.observer.upstream_failed(service, type(exc).__name__)

    def _answered(self, service: str, status: str) -> None:
        if self.observer is not None:
            self.observer.upstream_answered(service, status)

    async def _send_once(
        self,
        request: httpx2.Request,
        *,
        service: str,
        auth: httpx2.Auth | None,
        accept: frozenset[int],
    ) -> httpx2.Response:
        where = _where(request, service)
        try:
            if auth is None:
                response = await self.client.send(request)
            else:
                response = await self.client.send(request, auth=auth)
        except httpx2.TimeoutException:
            self._answered(service, "timeout")
            raise UpstreamUnavailable(f"{where} timed out", service=service) from None
        except httpx2.TransportError as exc:
            self._answered(service, "network")
            raise UpstreamUnavailable(
                f"{where} failed: {type(exc).__name__}", service=service
            ) from None
        status = response.status_code
        self._answered(service, str(status))
        if status < 300 or status in accept:
            return response
        message = f"{where} answered HTTP {status}"
        if status in (401, 403):
            raise Unauthorized(message, service=service, status=status)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RateLimited(message, service=service, status=status, retry_after=retry_after)
        if status >= 500:
            raise UpstreamUnavailable(message, service=service, status=status)
        raise UpstreamError(message, service=service, status=status)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_WAIT_SECONDS)
        base: float = self.backoff_seconds * 2.0 ** (attempt - 1)
        return base + random.uniform(0, base)


def _where(request: httpx2.Request, service: str) -> str:
    """How errors name a call: service, method and path (never a header or a body)."""
    return f"{service}: {request.method} {request.url.path}"


def json_body(response: httpx2.Response, *, service: str) -> Any:
    """The decoded JSON of a 2xx answer; an HTML error page from a proxy counts as an outage."""
    try:
        return response.json()
    except ValueError:
        where = _where(response.request, service)
        raise UpstreamUnavailable(
            f"{where} answered HTTP {response.status_code} with a body that is not JSON",
            service=service,
            status=response.status_code,
        ) from None


class AccountApi:
    """Base of the per-account API classes (like hvac's ``VaultApiBase``).

    Holds the shared adapter, the account, the URL scheme and the default auth; ``service``
    names the API in errors.
    """

    service: ClassVar[str]

    def __init__(
        self, adapter: Adapter, *, account_id: str, scheme: str, auth: httpx2.Auth
    ) -> None:
        self._adapter = adapter
        self._account_id = account_id
        self._scheme = scheme
        self._auth = auth

    async def _request(
        self,
        method: str,
        host: str,
        path: str,
        *,
        auth: httpx2.Auth | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        accept: frozenset[int] = frozenset(),
    ) -> httpx2.Response:
        """``method`` ``path`` on ``host`` via the adapter; ``auth`` replaces the default."""
        return await self._adapter.request(
            method,
            f"{self._scheme}://{host}{path}",
            service=self.service,
            auth=self._auth if auth is None else auth,
            params=params,
            json=json,
            headers=headers,
            accept=accept,
        )


def missing(service: str, what: str) -> UpstreamError:
    """The error for a 2xx answer that lacks what the API promises."""
    return UpstreamError(f"{service}: the answer has no {what}", service=service)
