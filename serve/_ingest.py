"""``switchboard ingest``: serve the ingress on uvicorn, each batch one ``route_conversations`` run.

The core's ASGI app and batcher (``switchboard.ingress``) take any batch handler; this module
gives them the Prefect one. The flow runs inside this process against the Prefect API
(``PREFECT_API_URL``), so every batch is an observable flow run without a worker's polling delay
or process start.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from serve._flow_runs import flow_run_creator, in_process, run_in_new_flow_run
from switchboard import ConfigurationError, load
from switchboard.ingress import BatchHandler, IngressSettings, create_app
from switchboard.liveperson import LivePersonSettings, RoutingEvent
from switchboard.metrics import RoutingMetrics
from switchboard.resources import registry
from switchboard.routing import Decision

__all__ = [
    "INGEST_HELP",
    "add_ingest_arguments",
    "flow_handler",
    "ingest",
    "prefect_clients",
    "run_ingest",
]

INGEST_HELP = "serve the routing-event ingress (HTTP)"


@asynccontextmanager
async def prefect_clients() -> AsyncIterator[None]:
    """One sync and one async Prefect client for every flow run of this process.

    Without them each batch's flow run builds two new clients (an SSL context and a CSRF-token
    request each) on the event loop, which then spends much of its time on them (BENCHMARKS.md).
    The async one (``flow_run_creator``) retries busy answers within milliseconds.
    """
    from prefect.context import SyncClientContext

    with SyncClientContext.get_or_create():
        async with flow_run_creator():
            yield


def flow_handler(settings: IngressSettings, metrics: RoutingMetrics | None = None) -> BatchHandler:
    """A batch handler that runs one ``route_conversations`` flow run per batch, in process.

    ``metrics`` hears of every LivePerson call of the batches' clients: before the first batch,
    the Vault identity's client pool (the one ``connect_account`` uses) is told to report to it.
    """
    from blocks.vault import resources_for
    from flows._run_names import route_name
    from flows.route_conversations import route_conversations  # Prefect: imported to serve

    flow = in_process(route_conversations)
    observing = metrics is None

    async def handle(events: list[RoutingEvent]) -> list[Decision]:
        nonlocal observing
        if not observing:  # twice at worst (batches in flight at once): observe is idempotent
            # the first use loads the Vault block and logs in: off the event loop
            pool = await asyncio.to_thread(lambda: resources_for(settings.vault_block).clients)
            pool.observe(metrics)
            observing = True
        state = await run_in_new_flow_run(
            flow,
            {
                "events": events,
                "account_block": settings.account_block,
                "vault_block": settings.vault_block,
            },
            name=route_name(len(events)),
        )
        decisions: list[Decision] = await state.aresult()  # raises the run's error if it failed
        return decisions

    return handle


def add_ingest_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``ingest`` options; each defaults to its ``SWITCHBOARD_INGRESS_*`` setting."""
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 8787)")
    parser.add_argument("--account-block", help="LivePersonAccount block name")
    parser.add_argument("--vault-block", help="VaultConnection block name")
    parser.add_argument("--batch-window-ms", type=float, help="batching window (default 100)")
    parser.add_argument("--max-batch-size", type=int, help="events per flow run (default 500)")
    parser.add_argument("--max-in-flight", type=int, help="flow runs at once (default 1)")


def run_ingest(args: argparse.Namespace) -> None:
    """Serve until SIGINT/SIGTERM; waiting batches finish before the process exits."""
    import uvicorn
    from pydantic import ValidationError

    if not os.environ.get("PREFECT_API_URL"):
        raise ConfigurationError(
            "PREFECT_API_URL: not set; point the ingress at the Prefect server that should record "
            "its flow runs (e.g. http://127.0.0.1:4200/api)"
        )
    overrides = {
        name: value
        for name in IngressSettings.model_fields
        if (value := getattr(args, name, None)) is not None
    }
    try:
        settings = IngressSettings.model_validate(
            {**load(IngressSettings).model_dump(), **overrides}
        )
    except ValidationError as exc:  # a flag made the settings wrong: one line, as from load()
        first = exc.errors(include_url=False, include_input=False)[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        where = ".".join(str(part) for part in first["loc"])
        text = f"--{where.replace('_', '-')}: {message}" if where else message
        raise ConfigurationError(text) from None
    if settings.account_block is None:
        load(LivePersonSettings)  # fail at start, naming the variable, not at the first batch
    metrics = RoutingMetrics()
    app = create_app(
        flow_handler(settings, metrics),
        settings,
        on_shutdown=registry.aclose,  # every Vault identity's LivePerson clients
        around=prefect_clients,
        metrics=metrics,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level="info",
        timeout_graceful_shutdown=30,
    )


def ingest(argv: Sequence[str]) -> int:
    """``switchboard ingest [OPTIONS]``: parse ``argv`` (after ``ingest``), serve; exit code 0."""
    parser = argparse.ArgumentParser(prog="switchboard ingest", description=INGEST_HELP)
    add_ingest_arguments(parser)
    run_ingest(parser.parse_args(argv))
    return 0
