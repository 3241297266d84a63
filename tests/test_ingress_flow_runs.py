"""The ingress's flow-run creation: busy answers (SQLite's 503) are retried promptly, not after 2 s.

A real Prefect server sits behind a loopback proxy that answers 503 to the first few
``POST /api/flow_runs/``, as the embedded SQLite server does when a flow-run insert races
another write.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest
from helpers import drain_prefect_workers
from prefect import flow

from serve import (
    RETRY_DELAYS,
    create_flow_run,
    flow_run_creator,
    run_in_new_flow_run,
)

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class BusyProxy:
    """Forwards to the Prefect API; answers 503 to the next ``busy`` flow-run creations."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.busy, self.creations, self.answered_busy = upstream, 0, 0, 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.command == "POST" and self.path.rstrip("/") == "/api/flow_runs":
                    proxy.creations += 1
                    if proxy.busy > 0:
                        proxy.busy -= 1
                        proxy.answered_busy += 1
                        self.send_response(503)
                        self.send_header("content-length", "0")
                        self.end_headers()
                        return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                answer = httpx2.request(
                    self.command, proxy.upstream + self.path, headers=headers, content=body
                )
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
    assert busy_proxy.creations == 1


async def test_busy_answers_are_retried_by_the_ingress_not_after_prefects_2_s_sleep(
    busy_proxy: BusyProxy,
) -> None:
    busy_proxy.busy = 3
    async with flow_run_creator():
        flow_run = await create_flow_run(double, {"value": 1})

    assert busy_proxy.answered_busy == 3
    assert busy_proxy.creations == 4  # three busy answers, one created run: nothing duplicated
    assert flow_run.state is not None and flow_run.state.is_pending()
    assert await _parameters_of(flow_run.id) == {"value": 1}


async def test_past_the_prompt_retries_prefects_own_policy_takes_over(
    busy_proxy: BusyProxy,
) -> None:
    busy_proxy.busy = len(RETRY_DELAYS) + 1  # every prompt try, then Prefect's first try
    async with flow_run_creator():
        flow_run = await create_flow_run(double, {"value": 2})

    assert busy_proxy.creations == len(RETRY_DELAYS) + 2
    assert await _parameters_of(flow_run.id) == {"value": 2}


async def test_without_the_creator_context_prefects_client_creates_the_run(
    busy_proxy: BusyProxy,
) -> None:
    from prefect import tags

    with tags("switchboard-probe"):  # tags in effect apply, as to a direct call
        flow_run = await create_flow_run(double, {"value": 3})

    assert busy_proxy.creations == 1
    assert await _parameters_of(flow_run.id) == {"value": 3}
    assert "switchboard-probe" in flow_run.tags
