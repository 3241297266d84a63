"""Run one flow run per batch, on a Prefect client that retries busy answers within milliseconds.

Prefect's embedded SQLite server answers ``503`` to a write that races another write
(``SQLITE_BUSY_SNAPSHOT``: the transaction read first, so waiting on the lock cannot help), and
Prefect's client then sleeps 2 s, then 4 s: under a steady stream of batches many writes are
answered busy, and every one held up its batch and the events queued behind it (BENCHMARKS.md
has the numbers). A retry a few milliseconds later almost always succeeds. So the ingress's
Prefect client (``flow_run_creator``) answers each busy response with a short ``Retry-After``
(``RETRY_DELAYS``, an httpx response hook), which Prefect's own retry loop honours: the flow
run's creation and every state change the engine proposes are retried promptly, by Prefect.
It also looks the flow's id up once, not before every run.

The runs have no deployment (Prefect's API no longer takes one for a run created this way), so
they carry the routing deployment's tags plus ``ingress`` (``INGRESS_TAGS``): one tag filter
shows every routing run in the UI, and ``ingress`` tells the batches apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import httpx
from pydantic_core import to_jsonable_python

if TYPE_CHECKING:
    from uuid import UUID

    from prefect import Flow
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.objects import FlowRun, State

__all__ = [
    "INGRESS_TAGS",
    "RETRY_DELAYS",
    "create_flow_run",
    "flow_run_creator",
    "in_process",
    "retry_soon_when_busy",
    "run_in_new_flow_run",
    "serialize_parameters",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

INGRESS_TAGS = ("switchboard", "routing", "ingress")
"""Tags of the runs made inside ``flow_run_creator``: the ``routing`` deployment's in
``prefect.yaml``, and ``ingress``. Only the runs carry them, not their task runs: a tagged task
run first asks the API for tag concurrency slots, one more write per task that SQLite can answer
busy."""

RETRY_DELAYS = (0.01, 0.05, 0.25, 2.0, 8.0)
"""Seconds before asking again after each busy answer to one request (the last for any later
one). SQLite's busy answers clear within milliseconds, so the first tries come soon; the later
ones wait out a database restart under PostgreSQL. Prefect's client tries
``PREFECT_CLIENT_MAX_RETRIES`` + 1 times (6 by default, and it waits once more after the last),
so a request still busy after about 18 s fails: its batch answers 503 and LivePerson redelivers
it. Prefect's own waits (2, 4, 8, 16, 32 s) held every later event for seconds per busy answer."""

_BUSY_ANSWERS = "switchboard.busy_answers"
_flow_ids: ContextVar[dict[str, UUID] | None] = ContextVar("ingress_flow_ids", default=None)
"""Inside ``flow_run_creator``: the API's id of each flow it has made runs of, by name."""


async def retry_soon_when_busy(response: httpx.Response) -> None:
    """Give a busy answer (503 without ``Retry-After``) the request's next ``RETRY_DELAYS``
    entry as ``Retry-After``, which Prefect's client waits (with its jitter) before retrying."""
    if response.status_code != 503 or "retry-after" in response.headers:
        return
    extensions = response.request.extensions  # the same request object is sent again
    answered = int(extensions.get(_BUSY_ANSWERS, 0))
    extensions[_BUSY_ANSWERS] = answered + 1
    response.headers["Retry-After"] = str(RETRY_DELAYS[min(answered, len(RETRY_DELAYS) - 1)])


@asynccontextmanager
async def flow_run_creator() -> AsyncIterator[None]:
    """Prefect's async client for every flow run made and run inside (one connection pool, one
    TLS setup), retrying busy answers promptly; the runs are tagged ``INGRESS_TAGS``.

    The hook goes onto the context's own client rather than a client built with it: Prefect's
    ``get_client()`` (artifacts, blocks) reuses the context's client only when it was built
    without settings, and would otherwise build a new client per call.
    """
    from prefect.context import AsyncClientContext

    async with AsyncClientContext.get_or_create() as context:
        hooks = context.client._client.event_hooks["response"]  # no public way to add one
        hooks.append(retry_soon_when_busy)
        token = _flow_ids.set({})
        try:
            yield
        finally:
            _flow_ids.reset(token)
            hooks.remove(retry_soon_when_busy)


def in_process(flow: Flow[_P, _R]) -> Flow[_P, _R]:
    """``flow`` as the ingress runs it: no second validation and no engine-side naming.

    The ingress hands the flow the models its own parsing validated (``parse_events``, the
    flow's parameter types), so validating them again per run is pure cost; and it names each
    run when creating it (``run_in_new_flow_run``'s ``name``), which saves the engine's
    ``PATCH`` of the name. A flow that does not persist its results and names no storage gets
    the local result path, written only with a failed run's exception: otherwise the engine
    asks the server for its default storage on every run, with a blocking call on the
    ingress's event loop (not when ``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK`` names one, which
    is then kept). Runs from deployments, the UI and the API use ``flow`` as it is.
    """
    from prefect.settings import get_current_settings

    results = get_current_settings().results
    storage = flow.result_storage
    if storage is None and flow.persist_result is False and results.default_storage_block is None:
        storage = results.local_storage_path  # a Path: a LocalFileSystem, unsaved
    variant = flow.with_options(validate_parameters=False, result_storage=storage)
    variant.flow_run_name = None  # with_options keeps the original's when given None
    return variant


def serialize_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """The parameters as the API stores them: ``Flow.serialize_parameters``'s JSON (aliases,
    ISO times), written by pydantic's compiled serializer instead of a walk in Python.

    The same for models, strings and ``None``, the ingress's parameter types; unlike Prefect's,
    it raises on a value it cannot serialize instead of storing a ``<Type>`` placeholder."""
    return {key: to_jsonable_python(value, by_alias=True) for key, value in parameters.items()}


async def create_flow_run(
    flow: Flow[..., Any], parameters: dict[str, Any], *, name: str | None = None
) -> FlowRun:
    """Create a ``Pending`` run of ``flow`` with ``parameters``, named ``name`` (else by
    Prefect); inside ``flow_run_creator``, busy answers are retried promptly and the flow's id
    is looked up once.

    Prefect's ``create_flow_run`` would ask the API for the flow's id (``POST /flows/``, an
    upsert: a write SQLite can answer busy) before every run. A remembered id whose flow was
    deleted meanwhile is answered ``409``: it is looked up again, once.
    """
    from prefect.context import AsyncClientContext, TagsContext

    tags = TagsContext.get().current_tags  # as the engine's own creation does
    remembered = _flow_ids.get()
    if remembered is not None:
        tags = {*tags, *INGRESS_TAGS}
    known = {} if remembered is None else remembered  # outside: a lookup per run, as Prefect's
    async with AsyncClientContext.get_or_create() as context:
        client = context.client
        if flow.name in known:
            try:
                return await _post_flow_run(client, known[flow.name], flow, parameters, name, tags)
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 409:
                    raise
        known[flow.name] = await client.create_flow(flow)
        return await _post_flow_run(client, known[flow.name], flow, parameters, name, tags)


async def _post_flow_run(
    client: PrefectClient,
    flow_id: UUID,
    flow: Flow[..., Any],
    parameters: dict[str, Any],
    name: str | None,
    tags: Iterable[str],
) -> FlowRun:
    """``POST /flow_runs/`` as Prefect's client makes it (less its empty ``context`` and
    ``parent_task_run_id``, the server's defaults), with the parameters serialised once."""
    from prefect.client.schemas.actions import FlowRunCreate
    from prefect.client.schemas.objects import FlowRun, FlowRunPolicy
    from prefect.states import Pending, to_state_create

    body = FlowRunCreate(
        flow_id=flow_id,
        flow_version=flow.version,
        name=name,
        tags=sorted(tags),
        state=to_state_create(Pending()),
        empirical_policy=FlowRunPolicy(
            retries=flow.retries, retry_delay=int(flow.retry_delay_seconds or 0)
        ),
    ).model_dump(mode="json", exclude_unset=True)
    body["parameters"] = serialize_parameters(parameters)
    response = await client.request("POST", "/flow_runs/", json=body)
    return FlowRun.model_validate(response.json())


async def run_in_new_flow_run(
    flow: Flow[..., Any], parameters: dict[str, Any], *, name: str | None = None
) -> State[Any]:
    """Call async ``flow`` with ``parameters`` in a flow run made by ``create_flow_run``.

    A top-level run (never a subflow), for an async flow and complete parameters, as the
    ingress has them: plain values, never futures, so each is handed over ``opaque`` and the
    engine does not walk a batch's every event looking for one. The engine validates the
    parameters if ``flow`` does (``in_process`` does not), and adds one ``PATCH`` of the run
    (flow version, retry policy) before starting it.
    """
    from prefect.flow_engine import run_flow
    from prefect.utilities.annotations import opaque

    flow_run = await create_flow_run(flow, parameters, name=name)
    state: State[Any] = await run_flow(  # type: ignore[misc]  # an async flow: a coroutine
        flow,
        flow_run=flow_run,
        parameters={key: opaque(value) for key, value in parameters.items()},
        return_type="state",
    )
    return state
