"""Run one flow run per batch, creating it with a prompt retry when SQLite is busy.

Prefect's embedded SQLite server answers ``503`` to a flow-run insert that races another write
(``SQLITE_BUSY_SNAPSHOT``: the insert's transaction read first, so waiting on the lock cannot
help), and Prefect's client then sleeps 2 s, even on its last attempt: under a steady stream of
batches most first tries are busy, and every one of them would wait those 2 s (BENCHMARKS.md has
the numbers). A retry a few milliseconds later almost always succeeds, so the ingress creates
each run through a client of its own whose busy answers fail at once (an httpx response hook),
retries within ``RETRY_DELAYS``, and hands the run to Prefect's engine. Everything else the run
does goes through Prefect's clients and policies.

The runs have no deployment (Prefect's API no longer takes one for a run created this way), so
they carry the routing deployment's tags plus ``ingress`` (``INGRESS_TAGS``): one tag filter
shows every routing run in the UI, and ``ingress`` tells the batches apart.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from prefect import Flow
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.objects import FlowRun, State

__all__ = [
    "INGRESS_TAGS",
    "RETRY_DELAYS",
    "create_flow_run",
    "flow_run_creator",
    "run_in_new_flow_run",
]

INGRESS_TAGS = ("switchboard", "routing", "ingress")
"""Tags of the runs made inside ``flow_run_creator``: the ``routing`` deployment's in
``prefect.yaml``, and ``ingress``. Only the runs carry them, not their task runs: a tagged task
run first asks the API for tag concurrency slots, one more write per task that SQLite can answer
busy, and Prefect's client then waits 2 s before asking again, holding up the whole batch."""

RETRY_DELAYS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
"""Seconds to wait after each busy answer; after the last, Prefect's own retry policy applies."""

_creator: ContextVar[PrefectClient | None] = ContextVar("flow_run_creator", default=None)


class _Busy(Exception):
    """The Prefect API answered 503 (SQLite busy); retry soon."""


async def _fail_fast_when_busy(response: httpx.Response) -> None:
    if response.status_code == 503:
        await response.aclose()
        raise _Busy


def _new_creator() -> PrefectClient:
    from prefect.client.orchestration import get_client

    return get_client(httpx_settings={"event_hooks": {"response": [_fail_fast_when_busy]}})


@asynccontextmanager
async def flow_run_creator() -> AsyncIterator[None]:
    """One fail-fast creating client for every batch inside (one connection pool, one TLS setup);
    the batches' runs are tagged ``INGRESS_TAGS`` (``create_flow_run``)."""
    async with _new_creator() as client:
        token = _creator.set(client)
        try:
            yield
        finally:
            _creator.reset(token)


async def create_flow_run(flow: Flow[..., Any], parameters: dict[str, Any]) -> FlowRun:
    """Create a ``Pending`` run of ``flow`` with ``parameters``, retrying busy answers promptly."""
    from prefect.context import AsyncClientContext, TagsContext
    from prefect.states import Pending

    creator = _creator.get()
    tags = TagsContext.get().current_tags  # as the engine's own creation does
    fields: dict[str, Any] = {
        "parameters": flow.serialize_parameters(parameters),
        "state": Pending(),
        "tags": tags if creator is None else sorted({*tags, *INGRESS_TAGS}),
    }
    if creator is not None:
        for delay in RETRY_DELAYS:
            try:
                return await creator.create_flow_run(flow, **fields)
            except _Busy:
                await asyncio.sleep(random.uniform(delay, 1.5 * delay))  # racers spread out
    async with AsyncClientContext.get_or_create() as context:
        return await context.client.create_flow_run(flow, **fields)


async def run_in_new_flow_run(flow: Flow[..., Any], parameters: dict[str, Any]) -> State[Any]:
    """Call async ``flow`` with ``parameters`` in a flow run made by ``create_flow_run``.

    A top-level run (never a subflow), for an async flow and complete parameters, as the
    ingress has them. Prefect's engine validates the parameters as for a direct call, and adds
    one ``PATCH`` of the run (flow version, retry policy) before starting it.
    """
    from prefect.flow_engine import run_flow

    flow_run = await create_flow_run(flow, parameters)
    state: State[Any] = await run_flow(  # type: ignore[misc]  # an async flow: a coroutine
        flow, flow_run=flow_run, parameters=parameters, return_type="state"
    )
    return state
