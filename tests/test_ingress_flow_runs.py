"""The ingress's flow runs: busy answers (SQLite's 503) are retried promptly, not after 2 s.

A real Prefect server sits behind a loopback proxy that answers 503 to the first few
``POST /api/flow_runs/`` (or state changes), as the embedded SQLite server does when a write
races another write.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import httpx2
import pytest
from helpers import drain_prefect_workers
from prefect import flow
from test_routing_support import routing_event

from serve import (
    create_flow_run,
    flow_run_creator,
    in_process,
    retry_soon_when_busy,
    run_in_new_flow_run,
    serialize_parameters,
)
from switchboard.liveperson import parse_events

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


CREATIONS = re.compile(r"^/api/flow_runs/?$")
STATE_CHANGES = re.compile(r"^/api/flow_runs/[0-9a-f-]+/set_state/?$")


class BusyProxy:
    """Forwards to the Prefect API; answers 503 to the next ``busy`` POSTs to ``busy_path``
    (flow-run creations unless told otherwise), counting the POSTs there.

    ``created`` lists the ids of the runs the server created (answered 201): the server
    itself may answer a creation busy (SQLite locked), which Prefect's client retries, so
    the POSTs seen can outnumber the runs created without anything being duplicated."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.busy, self.posts, self.answered_busy = upstream, 0, 0, 0
        self.busy_path = CREATIONS
        self.created: list[str] = []
        self.requests: Counter[str] = Counter()  # "POST /api/flows/": how many, answered
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.command == "POST" and proxy.busy_path.match(self.path):
                    proxy.posts += 1
                    if proxy.busy > 0:
                        proxy.busy -= 1
                        proxy.answered_busy += 1
                        self.send_response(503)
                        self.send_header("content-length", "0")
                        self.end_headers()
                        return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                answer = httpx2.request(  # never cut a slow answer: the client would resend
                    self.command,
                    proxy.upstream + self.path,
                    headers=headers,
                    content=body,
                    timeout=60,
                )
                with proxy.lock:
                    if answer.status_code != 503:  # the server's own busy answers are resent
                        proxy.requests[f"{self.command} {self.path}"] += 1
                    if answer.status_code == 201 and CREATIONS.match(self.path):
                        proxy.created.append(answer.json()["id"])
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in _HOP_BY_HOP | {"content-encoding"}:
                        self.send_header(key, value)
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"


@pytest.fixture
def busy_proxy(prefect_server) -> Iterator[BusyProxy]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    proxy = BusyProxy(prefect_server.url)
    threading.Thread(target=proxy.server.serve_forever, daemon=True).start()
    try:
        with temporary_settings(updates={PREFECT_API_URL: proxy.url}):
            yield proxy
            drain_prefect_workers()  # the runs' logs and events go through the proxy too
    finally:
        proxy.server.shutdown()


@flow(name="ingress-flow-run-probe", persist_result=False)
async def double(value: int, label: str = "probe") -> int:
    return value * 2


async def _parameters_of(flow_run_id: Any) -> dict[str, Any]:
    from prefect import get_client

    async with get_client() as client:
        return (await client.read_flow_run(flow_run_id)).parameters


async def test_a_batch_runs_in_its_own_completed_flow_run(busy_proxy: BusyProxy) -> None:
    async with flow_run_creator():
        state = await run_in_new_flow_run(double, {"value": 21, "label": "batch"})

    assert state.is_completed()
    assert await state.aresult() == 42
    assert await _parameters_of(state.state_details.flow_run_id) == {"value": 21, "label": "batch"}
    assert busy_proxy.created == [str(state.state_details.flow_run_id)]


async def test_busy_answers_are_retried_by_the_ingress_not_after_prefects_2_s_sleep(
    busy_proxy: BusyProxy,
) -> None:
    busy_proxy.busy = 3
    async with flow_run_creator():
        flow_run = await create_flow_run(double, {"value": 1})

    assert busy_proxy.answered_busy == 3
    assert busy_proxy.created == [str(flow_run.id)]  # three busy answers, nothing duplicated
    assert flow_run.state is not None and flow_run.state.is_pending()
    assert await _parameters_of(flow_run.id) == {"value": 1}


async def test_the_ingress_looks_its_flow_up_once(busy_proxy: BusyProxy) -> None:
    """``POST /flows/`` is a write: once per process, not once per batch."""
    async with flow_run_creator():
        runs = [await create_flow_run(double, {"value": n}) for n in range(3)]

    assert busy_proxy.requests["POST /api/flows/"] == 1
    assert busy_proxy.created == [str(run.id) for run in runs]
    assert len({run.flow_id for run in runs}) == 1


async def test_an_ingress_run_asks_nothing_about_result_storage(busy_proxy: BusyProxy) -> None:
    """Its results are not persisted, so the server's default storage matters little; the
    engine would ask for it per run, on a sync client, blocking the ingress's event loop."""
    async with flow_run_creator():
        state = await run_in_new_flow_run(double, {"value": 6})
        assert busy_proxy.requests["GET /api/admin/storage"] == 1  # as the flow is: asked
        state = await run_in_new_flow_run(in_process(double), {"value": 7})

    assert await state.aresult() == 14
    assert busy_proxy.requests["GET /api/admin/storage"] == 1


async def test_a_flow_deleted_under_the_ingress_is_looked_up_again(busy_proxy: BusyProxy) -> None:
    from prefect import get_client

    async with flow_run_creator():
        first = await create_flow_run(double, {"value": 1})
        async with get_client() as client:
            await client.delete_flow(first.flow_id)  # from the UI, say, with its runs
        second = await create_flow_run(double, {"value": 2})

    assert busy_proxy.requests["POST /api/flows/"] == 2
    assert busy_proxy.created == [str(first.id), str(second.id)]
    assert second.flow_id != first.flow_id
    assert await _parameters_of(second.id) == {"value": 2}


async def test_a_run_whose_state_changes_are_answered_busy_completes(
    busy_proxy: BusyProxy,
) -> None:
    busy_proxy.busy_path, busy_proxy.busy = STATE_CHANGES, 3  # Running, then Completed
    async with flow_run_creator():
        state = await run_in_new_flow_run(double, {"value": 4})

    assert state.is_completed()
    assert await state.aresult() == 8
    assert busy_proxy.answered_busy == 3


async def test_prefects_own_callers_share_the_ingress_client(busy_proxy: BusyProxy) -> None:
    """Artifacts and blocks call ``get_client()``: a new client per call would cost a TLS setup
    and a CSRF request per batch."""
    from prefect import get_client
    from prefect.context import AsyncClientContext

    async with flow_run_creator():
        context = AsyncClientContext.get()
        assert context is not None and get_client() is context.client
        assert retry_soon_when_busy in context.client._client.event_hooks["response"]
    assert retry_soon_when_busy not in context.client._client.event_hooks["response"]


async def test_a_request_busy_past_every_retry_fails_and_creates_nothing(
    busy_proxy: BusyProxy,
) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    busy_proxy.busy = 100  # busy at every try Prefect's client makes
    with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 2}):  # waits 0.01, 0.05, 0.25
        async with flow_run_creator():
            with pytest.raises(httpx.HTTPStatusError, match="503"):
                await create_flow_run(double, {"value": 2}, name="never created")

    assert busy_proxy.posts == busy_proxy.answered_busy == 3
    assert busy_proxy.created == []
    async with get_client() as client:
        named = FlowRunFilter(name=FlowRunFilterName(any_=["never created"]))
        assert not await client.read_flow_runs(flow_run_filter=named)


async def test_a_run_whose_state_changes_stay_busy_fails_its_batch(busy_proxy: BusyProxy) -> None:
    """The ingress answers 503 for a batch whose run could not be recorded: LivePerson
    redelivers it, and the Request-IDs dedupe any message already sent."""
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    busy_proxy.busy_path, busy_proxy.busy = STATE_CHANGES, 100
    with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 2}):
        async with flow_run_creator():
            with pytest.raises(httpx.HTTPStatusError, match="503"):
                state = await run_in_new_flow_run(double, {"value": 5})
                await state.aresult()


@pytest.mark.parametrize(
    ("busy_answers", "retry_after"),
    [(0, "0.01"), (1, "0.05"), (4, "8.0"), (9, "8.0")],
    ids=["first", "second", "last", "past-the-last"],
)
async def test_each_busy_answer_to_a_request_waits_the_next_delay(
    busy_answers: int, retry_after: str
) -> None:
    request = httpx.Request("POST", "http://prefect.invalid/api/flow_runs/")
    for _ in range(busy_answers):
        await retry_soon_when_busy(httpx.Response(503, request=request))
    busy = httpx.Response(503, request=request)
    await retry_soon_when_busy(busy)
    assert busy.headers["Retry-After"] == retry_after


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [(200, {}, None), (500, {}, None), (503, {"Retry-After": "7"}, "7")],
    ids=["ok", "error", "server-said"],
)
async def test_other_answers_are_left_as_they_are(
    status: int, headers: dict[str, str], retry_after: str | None
) -> None:
    request = httpx.Request("GET", "http://prefect.invalid/api/flow_runs/")
    response = httpx.Response(status, headers=headers, request=request)
    await retry_soon_when_busy(response)
    assert response.headers.get("Retry-After") == retry_after


def test_parameters_are_stored_as_prefect_would_store_them() -> None:
    from flows.route_conversations import route_conversations

    events = parse_events([routing_event(f"conv-{n}", n, dialog=f"dlg-{n}") for n in range(3)])
    parameters = {"events": events, "account_block": "acme", "vault_block": None}
    assert serialize_parameters(parameters) == route_conversations.serialize_parameters(parameters)


def test_the_ingress_variant_neither_validates_again_nor_renames() -> None:
    from flows.route_conversations import route_conversations

    variant = in_process(route_conversations)
    assert (variant.name, variant.fn) == (route_conversations.name, route_conversations.fn)
    assert not variant.should_validate_parameters and variant.flow_run_name is None
    assert variant.persist_result is False  # its storage keeps only a failed run's exception
    assert route_conversations.should_validate_parameters and route_conversations.flow_run_name
    assert route_conversations.result_storage is None
    stored = double.with_options(result_storage="local-file-system/ingress-probe")
    assert in_process(stored).result_storage == "local-file-system/ingress-probe"


async def test_without_the_creator_context_each_run_looks_its_flow_up(
    busy_proxy: BusyProxy,
) -> None:
    from prefect import tags

    with tags("switchboard-probe"):  # tags in effect apply, as to a direct call
        flow_run = await create_flow_run(double, {"value": 3})

    assert busy_proxy.created == [str(flow_run.id)]
    assert busy_proxy.requests["POST /api/flows/"] == 1  # nothing remembered outside
    assert await _parameters_of(flow_run.id) == {"value": 3}
    assert "switchboard-probe" in flow_run.tags
