"""The ingress ASGI app: ``POST /events`` validates, batches, and answers once events are handled.

A request is answered only after its events' batch ran (decision made, message sent or none
needed); a failure answers 503 so LivePerson retries, and a crash leaves unacknowledged events to
those retries. Bad input is a 4xx naming the field, and nothing of that request is routed.
Only signed requests are read past their body (401 otherwise), bodies are read under byte caps
and dropped once parsed, and 503 answers name a failure's class, never an address or a path.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from switchboard._exceptions import SwitchboardError, UpstreamError
from switchboard.ingress._batcher import Batcher, Overloaded
from switchboard.ingress._limits import Busy, RequestLimits, TooLarge
from switchboard.ingress._settings import IngressSettings
from switchboard.ingress._signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, BadSignature, verify
from switchboard.liveperson import RoutingEvent, TooManyEvents, parse_events
from switchboard.metrics import RoutingMetrics, metrics_route
from switchboard.routing import Decision

__all__ = ["BatchHandler", "create_app"]

BatchHandler = Callable[[list[RoutingEvent]], Awaitable[list[Decision]]]
RETRY_AFTER_SECONDS = "1"
logger = logging.getLogger("switchboard.ingress")


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _describe(exc: Exception, *, detail: bool = False) -> str:
    """A failure for a 503 answer: class, service and status, never a host, path or URL.

    ``detail`` adds the message (safe to log: it carries no secret by contract) for the log.
    """
    parts = [type(exc).__name__]
    if isinstance(exc, UpstreamError):
        parts += [f"service {exc.service}"] if exc.service else []
        parts += [f"HTTP {exc.status}"] if exc.status else []
    described = ", ".join(parts)
    if detail and isinstance(exc, SwitchboardError):
        described += f": {exc}"
    return described


def create_app(
    handler: BatchHandler,
    settings: IngressSettings,
    *,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    around: Callable[[], AbstractAsyncContextManager[object]] | None = None,
    metrics: RoutingMetrics | None = None,
) -> Starlette:
    """The app; ``handler`` routes one batch (in production: one ``route_conversations`` run).

    ``around`` is entered before the batcher starts and exited after it stopped, so every batch
    runs inside it (in production: one Prefect client per process, ``serve.prefect_clients``).
    ``metrics`` counts batches, decisions and answers (a new ``RoutingMetrics`` if not given;
    ``serve`` shares its own with the LivePerson clients); ``GET /metrics`` serves them when
    ``settings.metrics`` is on.
    """
    metrics = metrics or RoutingMetrics()

    async def observed(events: list[RoutingEvent]) -> list[Decision]:
        try:
            decisions = await handler(events)
        except Exception as exc:
            metrics.batch_failed(len(events), type(exc).__name__)
            raise
        metrics.batch_routed(len(events), (d.kind.value for d in decisions))
        return decisions

    batcher: Batcher[RoutingEvent, Decision] = Batcher(
        observed,
        window=settings.batch_window_ms / 1000,
        max_batch_size=settings.max_batch_size,
        max_in_flight=settings.max_in_flight,
        max_queued=settings.max_queued_events,
    )

    limits = RequestLimits(
        max_requests=settings.max_concurrent_requests,
        max_body_bytes=settings.max_body_bytes,
        max_buffered_bytes=settings.max_buffered_bytes,
    )
    too_large = f"body: larger than {settings.max_body_bytes} bytes; send fewer events"
    retry = {"Retry-After": RETRY_AFTER_SECONDS}

    def authenticate(request: Request, body: bytes) -> None:
        if settings.webhook_secret is None:
            return  # allow_unsigned, loopback only (IngressSettings)
        verify(
            settings.webhook_secret,
            body,
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(TIMESTAMP_HEADER),
            max_age=settings.signature_max_age_seconds,
        )

    def parse(body: bytes) -> list[RoutingEvent]:
        """Events from the raw body; the body and the decoded JSON die with this frame."""
        try:
            payload: Any = json.loads(body)
        except RecursionError:
            raise _BadRequest(400, "body: JSON nested too deeply") from None
        except (ValueError, UnicodeDecodeError):
            raise _BadRequest(
                400, "body: not JSON; send a routing event or a list of them"
            ) from None
        if isinstance(payload, dict) and "events" in payload and "general" not in payload:
            payload = payload["events"]  # the event trigger's {"events": [...]} form
        try:
            return parse_events(payload, max_events=settings.max_events_per_request)
        except TooManyEvents as exc:
            raise _BadRequest(413, str(exc)) from None
        except RecursionError:
            raise _BadRequest(400, "body: JSON nested too deeply") from None
        except ValueError as exc:
            raise _BadRequest(422, str(exc)) from None

    async def read_events(request: Request) -> list[RoutingEvent]:
        limits.check_declared(request.headers.get("content-length"))
        with limits.body() as reader:
            body = await reader.read(request)
            authenticate(request, body)
            return parse(body)

    async def post_events(request: Request) -> Response:
        started = time.monotonic()
        response = await answer(request)
        metrics.answered(response.status_code, time.monotonic() - started)
        return response

    async def answer(request: Request) -> Response:
        try:
            with limits.admit():
                try:
                    events = await read_events(request)
                except TooLarge:  # close: the rest of the body is never read
                    return _error(413, too_large, Connection="close")
                except BadSignature as exc:
                    return _error(401, str(exc), **{"WWW-Authenticate": "HMAC-SHA256"})
                except _BadRequest as exc:
                    return _error(exc.status, exc.message)
                return await route(events)
        except Busy as exc:
            return _error(503, f"overloaded: {exc}", Connection="close", **retry)

    async def route(events: list[RoutingEvent]) -> Response:
        try:
            decisions = await batcher.submit(events)
        except Overloaded as exc:
            return _error(503, f"overloaded: {exc}", **retry)
        except Exception as exc:
            logger.warning("A batch failed: %s", _describe(exc, detail=True))
            return _error(503, f"routing failed: {_describe(exc)}; retry later", **retry)
        return JSONResponse({"decisions": [d.model_dump(mode="json") for d in decisions]})

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok" if batcher.running else "stopped",
                "queued_events": batcher.queued,
                "batches_in_flight": batcher.in_flight,
                "batches": batcher.batches,
            },
            status_code=200 if batcher.running else 503,
        )

    metrics.watch_queue(lambda: batcher.queued, lambda: batcher.in_flight)
    routes = [
        Route("/events", post_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    if settings.metrics == "on":
        routes.append(metrics_route(metrics.registry, settings.metrics_token))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with around() if around is not None else nullcontext():
            batcher.start()  # its tasks copy the context entered above
            try:
                yield
            finally:
                await batcher.aclose()
                if on_shutdown is not None:
                    await on_shutdown()

    return Starlette(routes=routes, lifespan=lifespan)
