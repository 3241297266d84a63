"""``python -m bench._plain_ingress``: the ingress app with Switchboard's routing core, no Prefect.

Same validation, batcher, LivePerson clients, token cache and decisions as ``switchboard ingest``,
and the same step order (``route_batch``); each batch runs the plain steps instead of the
``route_conversations`` flow's tasks, so the difference measured is Prefect's.
"""

from __future__ import annotations

import asyncio

import uvicorn

from switchboard import load
from switchboard.ingress import IngressSettings, create_app
from switchboard.liveperson import LivePersonSettings, RoutingEvent
from switchboard.resources import registry
from switchboard.routing import Decision, route_batch


def main() -> None:
    settings = load(IngressSettings)
    account = load(LivePersonSettings)

    async def handle(events: list[RoutingEvent]) -> list[Decision]:
        clients = await asyncio.to_thread(lambda: registry.default().clients)
        return await route_batch(await clients.get(account), events)

    app = create_app(handle, settings, on_shutdown=registry.aclose)
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
