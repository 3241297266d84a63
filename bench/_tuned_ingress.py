"""``python -m bench._tuned_ingress``: ``switchboard ingest`` with one Prefect client per process.

An experiment for the profile findings in BENCHMARKS.md, not a product: without a client context,
every flow run builds a new Prefect HTTP client (async and sync; an SSL context each, and a CSRF
token fetch) on the ingress's event loop. Entering ``AsyncClientContext`` and
``SyncClientContext`` before the batcher starts lets every flow run reuse them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import uvicorn
from prefect.context import AsyncClientContext, SyncClientContext
from starlette.applications import Starlette

from switchboard._settings import load
from switchboard.ingress import IngressSettings, create_app, flow_handler
from switchboard.routing import client_pool


def main() -> None:
    settings = load(IngressSettings)
    app = create_app(flow_handler(settings), settings, on_shutdown=client_pool.aclose)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with SyncClientContext.get_or_create():
            async with AsyncClientContext.get_or_create(), inner(app):
                yield

    app.router.lifespan_context = lifespan
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
