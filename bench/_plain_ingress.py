"""``python -m bench._plain_ingress``: the ingress app with Switchboard's routing core, no Prefect.

Same validation, batcher, LivePerson clients, token cache and decisions as ``switchboard ingest``;
each batch calls ``route_batch`` instead of running the ``route_conversations`` flow.
"""

from __future__ import annotations

import asyncio

import uvicorn

from switchboard import load
from switchboard.consumer import default_cache
from switchboard.ingress import IngressSettings, create_app
from switchboard.liveperson import LivePersonSettings, RoutingEvent
from switchboard.routing import Decision, client_pool, route_batch


def main() -> None:
    settings = load(IngressSettings)
    account = load(LivePersonSettings)

    async def handle(events: list[RoutingEvent]) -> list[Decision]:
        client = await client_pool.get(account, await asyncio.to_thread(default_cache))
        return await route_batch(client, events)

    app = create_app(handle, settings, on_shutdown=client_pool.aclose)
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
