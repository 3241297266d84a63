"""``GET /metrics`` for a Starlette app: the text exposition, behind an optional bearer token.

Collecting may read Vault (``CredentialCollector``), so it runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import hmac

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["metrics_route"]


def metrics_route(registry: CollectorRegistry, token: SecretStr | None = None) -> Route:
    """``GET /metrics`` serving ``registry``; with ``token``, only to ``Authorization: Bearer
    <token>`` (compared in constant time; anything else gets 401 and nothing is collected)."""
    expected = f"Bearer {token.get_secret_value()}".encode() if token is not None else None

    async def metrics(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return PlainTextResponse(
                    "metrics: send Authorization: Bearer <the metrics token>\n",
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        body = await asyncio.to_thread(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", metrics, methods=["GET"])
