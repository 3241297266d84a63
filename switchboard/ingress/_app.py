"""The ingress ASGI app: ``POST /events`` validates, batches, and answers once events are handled.

A request is answered only after its events' batch ran (decision made, message sent or none
needed); a failure answers 503 so LivePerson retries, and a crash leaves unacknowledged events to
those retries. Bad input is a 4xx naming the field, and nothing of that request is routed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from switchboard._exceptions import SwitchboardError
from switchboard.ingress._batcher import Batcher, Overloaded
from switchboard.ingress._settings import IngressSettings
from switchboard.liveperson import RoutingEvent, TooManyEvents, parse_events
from switchboard.routing import Decision

__all__ = ["BatchHandler", "create_app"]

BatchHandler = Callable[[list[RoutingEvent]], Awaitable[list[Decision]]]
RETRY_AFTER_SECONDS = "1"


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def create_app(
    handler: BatchHandler,
    settings: IngressSettings,
    *,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    around: Callable[[], AbstractAsyncContextManager[object]] | None = None,
) -> Starlette:
    """The app; ``handler`` routes one batch (in production: one ``route_conversations`` run).

    ``around`` is entered before the batcher starts and exited after it stopped, so every batch
    runs inside it (in production: one Prefect client per process, see ``prefect_clients``).
    """
    batcher: Batcher[RoutingEvent, Decision] = Batcher(
        handler,
        window=settings.batch_window_ms / 1000,
        max_batch_size=settings.max_batch_size,
        max_in_flight=settings.max_in_flight,
        max_queued=settings.max_queued_events,
    )

    too_large = f"body: larger than {settings.max_body_bytes} bytes; send fewer events"

    async def post_events(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
            return _error(413, too_large)  # refused before reading the body
        body = await request.body()
        if len(body) > settings.max_body_bytes:
            return _error(413, too_large)
        try:
            payload: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "body: not JSON; send a routing event or a list of them")
        if isinstance(payload, dict) and "events" in payload and "general" not in payload:
            payload = payload["events"]  # the event trigger's {"events": [...]} form
        try:
            events = parse_events(payload, max_events=settings.max_events_per_request)
        except TooManyEvents as exc:
            return _error(413, str(exc))
        except ValueError as exc:
            return _error(422, str(exc))
        try:
            decisions = await batcher.submit(events)
        except Overloaded as exc:
            return _error(503, f"overloaded: {exc}", **{"Retry-After": RETRY_AFTER_SECONDS})
        except SwitchboardError as exc:  # messages carry no secrets by contract
            return _error(503, f"routing failed: {exc}", **{"Retry-After": RETRY_AFTER_SECONDS})
        except Exception as exc:
            return _error(
                503, f"routing failed: {type(exc).__name__}", **{"Retry-After": RETRY_AFTER_SECONDS}
            )
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

    return Starlette(
        routes=[
            Route("/events", post_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
