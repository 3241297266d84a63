"""In-memory state shared by the sandbox endpoints: injected faults and request counters.

Everything here is O(1) per request, so the sandbox keeps up with the benchmarks.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response

__all__ = [
    "BEARER_CHALLENGE",
    "ENDPOINTS",
    "Counters",
    "Fault",
    "Faults",
    "bad_request",
    "new_secret",
    "parse_fault",
    "unauthorized",
]

BEARER_CHALLENGE = 'Bearer error="invalid_token"'

#: Endpoints that accept injected faults (``POST /_control/faults`` ``endpoint``).
ENDPOINTS = ("token", "csds", "agent_view", "queue_health", "messages")


def new_secret(kind: str) -> str:
    """A fresh secret; all the sandbox issues start with ``sbx-``, so log scans find leaks."""
    return f"sbx-{kind}-{secrets.token_urlsafe(24)}"


def bad_request(message: str, status: int = 400) -> Response:
    return JSONResponse({"error": "invalid_request", "detail": message}, status_code=status)


def unauthorized(challenge: str) -> Response:
    """401 with a ``WWW-Authenticate`` challenge (``Bearer ...`` or ``OAuth ...``)."""
    return JSONResponse(
        {"error": "unauthorized", "error_description": "missing, invalid, expired or revoked"},
        status_code=401,
        headers={"WWW-Authenticate": challenge},
    )


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour: added latency, then optionally an error answer."""

    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    latency: float = 0.0

    def response(self) -> Response | None:
        """The error answer, or ``None`` when the fault only adds latency."""
        if self.status is None:
            return None
        body: dict[str, Any] = (
            {"error": self.error, "error_description": "injected by the sandbox"}
            if self.error
            else {"message": "fault injected by the sandbox"}
        )
        headers = {}
        if self.retry_after is not None:
            retry = self.retry_after
            headers["Retry-After"] = str(int(retry)) if float(retry).is_integer() else str(retry)
        return JSONResponse(body, status_code=self.status, headers=headers)


def _number(payload: dict[str, Any], name: str, *, minimum: float) -> float | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ValueError(f"`{name}` must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def parse_fault(payload: dict[str, Any]) -> tuple[str, Fault, int, str | None]:
    """Validate a ``POST /_control/faults`` body into (endpoint, fault, count, scope)."""
    endpoint = payload.get("endpoint")
    if endpoint not in ENDPOINTS:
        raise ValueError(f"`endpoint` must be one of {', '.join(ENDPOINTS)}, got {endpoint!r}")
    status = payload.get("status")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599
    ):
        raise ValueError(f"`status` must be an HTTP error status 400..599, got {status!r}")
    error = payload.get("error")
    if error is not None and not isinstance(error, str):
        raise ValueError(f"`error` must be an OAuth error code string, got {error!r}")
    if error is not None and status is None:
        raise ValueError("`error` needs a `status` (for example 400 with invalid_grant)")
    retry_after = _number(payload, "retry_after", minimum=0)
    latency = _number(payload, "latency", minimum=0) or 0.0
    if status is None and not latency:
        raise ValueError("a fault needs a `status`, a `latency`, or both")
    count = payload.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"`count` must be an integer >= 1, got {count!r}")
    scope = payload.get("client_id") or payload.get("account_id")
    if scope is not None and not isinstance(scope, str):
        raise ValueError("`client_id` / `account_id` must be a string")
    fault = Fault(status=status, error=error, retry_after=retry_after, latency=latency)
    return endpoint, fault, count, scope


@dataclass
class _Pending:
    fault: Fault
    remaining: int


@dataclass
class Faults:
    """FIFO queues of faults per endpoint, optionally scoped to one client or account.

    A scoped fault is only consumed by requests of that client (token endpoint) or
    account (LivePerson endpoints), so concurrent tests do not steal each other's faults.
    """

    _queues: dict[tuple[str, str | None], deque[_Pending]] = field(default_factory=dict)

    def add(self, endpoint: str, fault: Fault, count: int, scope: str | None = None) -> None:
        self._queues.setdefault((endpoint, scope), deque()).append(_Pending(fault, count))

    def take(self, endpoint: str, scope: str | None = None) -> Fault | None:
        """Consume one use of the oldest fault for this request, scoped queue first."""
        for key in ((endpoint, scope), (endpoint, None)) if scope else ((endpoint, None),):
            queue = self._queues.get(key)
            if queue:
                pending = queue[0]
                pending.remaining -= 1
                if pending.remaining <= 0:
                    queue.popleft()
                    if not queue:
                        del self._queues[key]
                return pending.fault
        return None

    async def apply(self, endpoint: str, scope: str | None = None) -> Response | None:
        """Sleep for an injected latency and return the injected error answer, if any."""
        if not self._queues:  # the common case: nothing injected
            return None
        fault = self.take(endpoint, scope)
        if fault is None:
            return None
        if fault.latency:
            await asyncio.sleep(fault.latency)
        return fault.response()

    def pending(self) -> dict[str, int]:
        """Remaining uses per endpoint (all scopes), for ``GET /_control/faults``."""
        totals: dict[str, int] = {}
        for (endpoint, _scope), queue in self._queues.items():
            totals[endpoint] = totals.get(endpoint, 0) + sum(p.remaining for p in queue)
        return totals

    def clear(self) -> None:
        self._queues.clear()


@dataclass
class Counters:
    """Requests seen per endpoint; the token counters count answers by grant and errors."""

    client_credentials: int = 0
    refresh_token: int = 0
    token_errors: int = 0
    reuse_detected: int = 0
    csds: int = 0
    agent_view: int = 0
    queue_health: int = 0
    messages: int = 0
    messages_deduplicated: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "token": {
                "client_credentials": self.client_credentials,
                "refresh_token": self.refresh_token,
                "errors": self.token_errors,
            },
            "reuse_detected": self.reuse_detected,
            "csds": self.csds,
            "agent_view": self.agent_view,
            "queue_health": self.queue_health,
            "messages": self.messages,
            "messages_deduplicated": self.messages_deduplicated,
        }

    def clear(self) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, 0)
