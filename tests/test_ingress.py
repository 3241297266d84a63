"""The ingress: batching (plain unit tests) and ``switchboard ingest`` end to end.

The end-to-end tests start the real ingress process (``python -m serve ingest``) against
the session's Prefect server, OpenBao and sandbox, and post events over loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from test_routing_support import MIN, SandboxAccount, conv, create_account, routing_event

from blocks.liveperson import LivePersonAccount
from sandbox.servers import free_port, wait_for_http
from serve import prefect_clients
from switchboard._exceptions import SwitchboardError
from switchboard.ingress import (
    Batcher,
    IngressSettings,
    Overloaded,
    create_app,
    sign,
    signed_headers,
)

SECRET = SecretStr("sbx-webhook-" + uuid.uuid4().hex)

# --- the batcher, a plain class -------------------------------------------------------------


def make_batcher(seen: list[list[int]], *, fail: bool = False, **options) -> Batcher[int, int]:
    async def handler(events: list[int]) -> list[int]:
        seen.append(list(events))
        await asyncio.sleep(0.01)
        if fail:
            raise RuntimeError("upstream down")
        return [event * 10 for event in events]

    defaults = {"window": 0.05, "max_batch_size": 100, "max_in_flight": 2, "max_queued": 1000}
    return Batcher(handler, **{**defaults, **options})


async def test_concurrent_requests_share_one_batch_and_get_their_own_results() -> None:
    seen: list[list[int]] = []
    batcher = make_batcher(seen)
    batcher.start()
    results = await asyncio.gather(*(batcher.submit([i, i + 100]) for i in range(20)))
    await batcher.aclose()
    assert results == [[i * 10, (i + 100) * 10] for i in range(20)]
    assert len(seen) == 1 and len(seen[0]) == 40


async def test_the_batcher_refuses_work_unless_running() -> None:
    batcher = make_batcher([])
    assert not batcher.running
    with pytest.raises(RuntimeError, match="not running"):
        await batcher.submit([1])
    batcher.start()
    assert batcher.running
    await batcher.aclose()
    assert not batcher.running


async def test_batches_are_capped_and_requests_kept_whole() -> None:
    seen: list[list[int]] = []
    batcher = make_batcher(seen, max_batch_size=10, window=1.0)
    batcher.start()
    results = await asyncio.gather(*(batcher.submit([i] * 4) for i in range(6)))
    await batcher.aclose()
    assert results == [[i * 10] * 4 for i in range(6)]
    assert [len(batch) for batch in seen] == [8, 8, 8]


async def test_a_failed_batch_fails_each_of_its_requests() -> None:
    batcher = make_batcher([], fail=True)
    batcher.start()
    outcomes = await asyncio.gather(
        batcher.submit([1]), batcher.submit([2]), return_exceptions=True
    )
    await batcher.aclose()
    assert [str(o) for o in outcomes] == ["upstream down", "upstream down"]


async def test_too_many_waiting_events_is_overloaded() -> None:
    batcher = make_batcher([], max_queued=5, window=10.0)
    batcher.start()
    waiting = asyncio.ensure_future(batcher.submit([1, 2, 3]))
    await asyncio.sleep(0)
    with pytest.raises(Overloaded):
        await batcher.submit([4, 5, 6])
    await batcher.aclose()  # hands the waiting events to a last batch
    assert await waiting == [10, 20, 30]


# --- the app's lifespan ------------------------------------------------------------------------

_AROUND: contextvars.ContextVar[str] = contextvars.ContextVar("around", default="outside")


def test_batches_run_inside_the_around_context_entered_for_the_app_lifetime() -> None:
    from starlette.testclient import TestClient

    log: list[str] = []

    @contextlib.asynccontextmanager
    async def around() -> AsyncIterator[None]:
        log.append("enter")
        token = _AROUND.set("inside")
        try:
            yield
        finally:
            _AROUND.reset(token)
            log.append("exit")

    async def handler(events: list) -> list:
        log.append(f"batch {_AROUND.get()}")
        raise SwitchboardError("no routing in this test")

    app = create_app(
        handler, IngressSettings(batch_window_ms=0, webhook_secret=SECRET), around=around
    )
    body = json.dumps(routing_event("c-1", 7)).encode()
    with TestClient(app) as client:
        response = client.post("/events", content=body, headers=signed_headers(SECRET, body))
        assert response.status_code == 503
    assert log == ["enter", "batch inside", "exit"]


async def test_prefect_clients_are_shared_by_every_task_and_closed_after(prefect_server) -> None:
    from prefect.context import AsyncClientContext, SyncClientContext

    async def seen() -> tuple[object, object]:  # what the flow engine does for each run
        await asyncio.sleep(0)
        with SyncClientContext.get_or_create() as sync:
            async with AsyncClientContext.get_or_create() as async_:
                return async_.client, sync.client

    async with prefect_clients():
        first, second = await asyncio.gather(seen(), seen())
        assert first == second
        outer_async, outer_sync = AsyncClientContext.get(), SyncClientContext.get()
        assert outer_async is not None and outer_sync is not None
        assert first == (outer_async.client, outer_sync.client)
    assert AsyncClientContext.get() is None
    assert SyncClientContext.get() is None


# --- switchboard ingest, end to end ---------------------------------------------------------


class Ingress:
    def __init__(self, url: str, account: SandboxAccount, process: subprocess.Popen[bytes]) -> None:
        self.url, self.account, self.process = url, account, process

    def health(self) -> dict:
        return httpx2.get(f"{self.url}/healthz", timeout=10).raise_for_status().json()

    def post(
        self, payload: object = None, *, content: bytes | None = None, timeout: float = 60
    ) -> httpx2.Response:
        """POST /events signed with the shared secret, as a configured sender does."""
        body = content if content is not None else json.dumps(payload).encode()
        headers = {"content-type": "application/json", **signed_headers(SECRET, body)}
        return httpx2.post(f"{self.url}/events", content=body, headers=headers, timeout=timeout)


def ingress_env(state_dir, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SWITCHBOARD_TOKEN_JOURNAL_DIR": str(state_dir / "ingress-journal"),
        "SWITCHBOARD_INGRESS_BATCH_WINDOW_MS": "50",
        "SWITCHBOARD_INGRESS_WEBHOOK_SECRET": SECRET.get_secret_value(),
        **extra,
    }


@contextlib.contextmanager
def running_ingress(
    sandbox, credential_store, state_dir, tag: str, **extra_env: str
) -> Iterator[Ingress]:
    """``python -m serve ingest`` for a new sandbox account, stopped (cleanly) after."""
    account = create_account(sandbox.url, credential_store, tag, state_dir / "journal")
    block = f"lp-{tag}"
    LivePersonAccount(**account.settings.model_dump()).save(block)
    port = free_port()
    log = (state_dir / "ingress.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serve",
            "ingest",
            "--port",
            str(port),
            "--account-block",
            block,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=ingress_env(state_dir, **extra_env),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/healthz", process=process, timeout=120)
        yield Ingress(url, account, process)
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()
        # uvicorn shuts down gracefully, then re-raises SIGTERM
        output = (state_dir / "ingress.log").read_text()
        assert process.returncode in (0, -signal.SIGTERM), output[-3000:]
        assert "Application shutdown complete" in output
        assert SECRET.get_secret_value() not in output


@pytest.fixture(scope="module")
def ingress(
    sandbox, prefect_server, credential_store, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ingress]:
    tag = "ing-" + uuid.uuid4().hex[:8]
    with running_ingress(sandbox, credential_store, tmp_path_factory.mktemp(tag), tag) as running:
        yield running


async def test_events_posted_together_become_one_batch_and_are_answered_with_decisions(
    ingress: Ingress,
) -> None:
    ingress.account.scenario({"1": ([], None), "2": (["ONLINE"], 12 * MIN), "3": (["ONLINE"], 0)})
    batches = ingress.health()["batches"]
    convs = [conv("ing") for _ in range(24)]
    bodies = [json.dumps(routing_event(c, 1 + i % 3)).encode() for i, c in enumerate(convs)]
    async with httpx2.AsyncClient(timeout=60) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    f"{ingress.url}/events", content=body, headers=signed_headers(SECRET, body)
                )
                for body in bodies
            )
        )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    kinds = [a.json()["decisions"][0]["kind"] for a in answers]
    assert kinds == [("no_agent", "busy", "no_message")[i % 3] for i in range(24)]
    assert ingress.health()["batches"] - batches < len(convs)  # grouped into few flow runs
    sent = {m["conversation_id"]: m for m in ingress.account.messages()}
    messaged = [c for i, c in enumerate(convs) if i % 3 != 2]
    assert set(messaged) <= set(sent)
    busy = answers[1].json()["decisions"][0]
    assert busy["message_id"] == sent[convs[1]]["message_id"]
    assert busy["wait_minutes"] == 12


def test_lists_and_the_trigger_payload_form_are_accepted(ingress: Ingress) -> None:
    ingress.account.scenario({"1": ([], None)})
    pair = [routing_event(conv("list"), 1), routing_event(conv("list"), "1")]
    answer = ingress.post(pair)
    assert answer.status_code == 200 and len(answer.json()["decisions"]) == 2
    wrapped = ingress.post({"events": [routing_event(conv("wrap"), 1)]})
    assert wrapped.status_code == 200 and wrapped.json()["decisions"][0]["kind"] == "no_agent"


def test_a_redelivered_event_is_messaged_once(ingress: Ingress) -> None:
    ingress.account.scenario({"1": ([], None)})
    event = routing_event(conv("again"), 1)
    first = ingress.post(event).json()["decisions"][0]
    second = ingress.post(event).json()["decisions"][0]
    assert first["message_id"] == second["message_id"] and second["duplicate"] is True
    recorded = [
        m for m in ingress.account.messages() if m["conversation_id"] == event["general"]["convId"]
    ]
    assert len(recorded) == 1


def test_an_upstream_failure_is_a_503_then_the_retry_succeeds(ingress: Ingress) -> None:
    ingress.account.scenario({"1": ([], None)})
    ingress.account.fault("agent_view", count=9, status=502)  # 3 client attempts x 3 task runs
    event = routing_event(conv("fail"), 1)
    failed = ingress.post(event, timeout=120)
    assert failed.status_code == 503
    assert failed.headers["retry-after"] == "1"
    assert "502" in failed.json()["error"]
    assert "sbx-" not in failed.text
    # no internal address or path: LivePerson (or whoever calls) learns the class, not the map
    assert "127.0.0.1" not in failed.text and "/" not in failed.json()["error"]
    retried = ingress.post(event)
    assert retried.status_code == 200
    assert retried.json()["decisions"][0]["message_id"]


@pytest.mark.parametrize(
    ("body", "status", "error_starts"),
    [
        (b"{not json", 400, "body: not JSON"),
        (b"[]", 422, "events: the list is empty"),
        (json.dumps([routing_event("big", 1)] * 1001).encode(), 413, "events: 1001 events"),
        (
            b'{"general": {"convId": "c"}, "routing": {"newSkillId": 1}}',
            422,
            "events[0].general.dialogId",
        ),
        (b"[" * 100_000 + b"]" * 100_000, 400, "body: JSON nested too deeply"),
        (  # deep inside an ignored field: still a 400, never a 500
            b'{"general": {"x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}",
            400,
            "body: JSON nested too deeply",
        ),
        (  # ".." would walk the messaging URL up a level
            b'{"general": {"convId": "..", "dialogId": "d"}, "routing": {"newSkillId": 1}}',
            422,
            "events[0].general.convId",
        ),
        (
            b'{"general": {"convId": "c", "dialogId": "."}, "routing": {"newSkillId": 1}}',
            422,
            "events[0].general.dialogId",
        ),
        (  # an id's rule says "at most" too: still a bad field, not a large body
            b'{"general": {"convId": "a/b", "dialogId": "a/b"}, "routing": {"newSkillId": 1}}',
            422,
            "events[0].general.convId",
        ),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem(ingress, body, status, error_starts) -> None:
    answer = ingress.post(content=body)
    assert answer.status_code == status
    assert answer.json()["error"].startswith(error_starts)


ids = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=300),
    st.integers(),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def bad_payloads(draw: st.DrawFn) -> object:
    events = draw(
        st.lists(
            st.fixed_dictionaries({"conv": ids, "dialog": ids, "skill": ids}),
            min_size=1,
            max_size=5,
        )
    )
    payload = [
        {
            "general": {"convId": e["conv"], "dialogId": e["dialog"]},
            "routing": {"newSkillId": e["skill"]},
        }
        for e in events
    ]
    victim = draw(st.integers(min_value=0, max_value=len(payload) - 1))
    section, field = draw(
        st.sampled_from([("general", "convId"), ("general", "dialogId"), ("routing", "newSkillId")])
    )
    if draw(st.booleans()):
        del payload[victim][section][field]  # a missing id
    else:
        payload[victim][section][field] = draw(
            st.one_of(
                st.none(),
                st.booleans(),
                st.floats(),
                st.text(min_size=1).map(lambda t: t + "é"),
                st.just(""),
            )
        )
    return payload


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=bad_payloads())
def test_generated_bad_payloads_are_refused_naming_the_field_and_nothing_is_sent(
    ingress: Ingress, payload
) -> None:
    before = len(ingress.account.messages())
    answer = ingress.post(payload, timeout=30)
    assert 400 <= answer.status_code < 500
    error = answer.json()["error"]
    assert error.startswith("events[")
    assert any(name in error for name in ("convId", "dialogId", "newSkillId"))
    assert len(ingress.account.messages()) == before
    assert ingress.health()["status"] == "ok"
    assert ingress.process.poll() is None


# --- who may post, and how much: authentication and bounds -----------------------------------


def test_unsigned_or_wrongly_signed_requests_get_401_and_route_nothing(ingress: Ingress) -> None:
    ingress.account.scenario({"1": ([], None)})
    body = json.dumps(routing_event(conv("unsigned"), 1)).encode()
    now = str(int(time.time()))
    stale = str(int(time.time()) - 3600)
    wrong = SecretStr("sbx-webhook-wrong")
    attempts = {
        "unsigned": {},
        "wrong secret": {"X-Switchboard-Signature": sign(wrong, body)},
        "garbage": {"X-Switchboard-Signature": "sha256=" + "0" * 64},
        "signed, then the body changed": {
            "X-Switchboard-Signature": sign(SECRET, body.replace(b"1", b"2"))
        },
        "timestamp not covered": {
            "X-Switchboard-Timestamp": now,
            "X-Switchboard-Signature": sign(SECRET, body),
        },
        "replayed an hour later": {
            "X-Switchboard-Timestamp": stale,
            "X-Switchboard-Signature": sign(SECRET, body, stale),
        },
    }
    batches, sent = ingress.health()["batches"], len(ingress.account.messages())
    for what, headers in attempts.items():
        answer = httpx2.post(
            f"{ingress.url}/events",
            content=body,
            headers={"content-type": "application/json", **headers},
            timeout=30,
        )
        assert answer.status_code == 401, what
        assert answer.json()["error"].startswith("X-Switchboard-"), what
        assert SECRET.get_secret_value() not in answer.text
    assert ingress.health()["batches"] == batches  # no flow run
    assert len(ingress.account.messages()) == sent
    body_only = httpx2.post(  # a sender without timestamps signs the body alone
        f"{ingress.url}/events",
        content=body,
        headers={"content-type": "application/json", "X-Switchboard-Signature": sign(SECRET, body)},
        timeout=60,
    )
    assert body_only.status_code == 200, body_only.text


@pytest.mark.parametrize(
    ("extra", "args", "named"),
    [
        ({}, [], "SWITCHBOARD_INGRESS_WEBHOOK_SECRET"),
        ({"SWITCHBOARD_INGRESS_WEBHOOK_SECRET": ""}, [], "SWITCHBOARD_INGRESS_WEBHOOK_SECRET"),
        (
            {"SWITCHBOARD_INGRESS_ALLOW_UNSIGNED": "true", "SWITCHBOARD_INGRESS_HOST": "0.0.0.0"},
            [],
            "SWITCHBOARD_INGRESS_ALLOW_UNSIGNED",
        ),
        (  # the same through the flag: one line too, not a traceback
            {"SWITCHBOARD_INGRESS_ALLOW_UNSIGNED": "true"},
            ["--host", "0.0.0.0"],
            "SWITCHBOARD_INGRESS_ALLOW_UNSIGNED",
        ),
    ],
)
def test_ingest_refuses_to_start_open_to_anyone(
    extra: dict[str, str], args: list[str], named: str, tmp_path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_INGRESS_")}
    env.update(PREFECT_API_URL="http://127.0.0.1:9/api", SWITCHBOARD_LP_ACCOUNT_ID="1", **extra)
    done = subprocess.run(
        [sys.executable, "-m", "serve", "ingest", "--port", str(free_port()), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert named in done.stderr and "Traceback" not in done.stderr


def test_a_chunked_body_is_refused_once_over_the_cap_without_reading_the_rest(
    ingress: Ingress,
) -> None:
    pulled = 0
    megabyte = b" " * 1_000_000

    def chunks() -> Iterator[bytes]:  # 200 MB, no Content-Length: Transfer-Encoding: chunked
        nonlocal pulled
        for _ in range(200):
            pulled += 1
            yield megabyte

    rss = _rss_mb(ingress.process.pid)
    try:
        answer = httpx2.post(
            f"{ingress.url}/events",
            content=chunks(),
            headers=signed_headers(SECRET, b"not the body"),
            timeout=60,
        )
        assert answer.status_code == 413
        assert answer.json()["error"].startswith("body: larger than")
    except httpx2.TransportError:
        pass  # the ingress answered and closed while we were still writing
    assert pulled < 60, f"the ingress read {pulled} MB of a body capped at 4 MB"
    assert _rss_mb(ingress.process.pid) - rss < 50
    assert ingress.health()["status"] == "ok"


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in open(f"/proc/{pid}/status"):  # noqa: SIM115
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


@pytest.fixture(scope="module")
def bounded_ingress(
    sandbox, prefect_server, credential_store, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ingress]:
    """A fresh process (its peak memory is its own) that takes at most 48 requests at once."""
    tag = "ingb-" + uuid.uuid4().hex[:8]
    with running_ingress(
        sandbox,
        credential_store,
        tmp_path_factory.mktemp(tag),
        tag,
        SWITCHBOARD_INGRESS_MAX_CONCURRENT_REQUESTS="48",
    ) as running:
        yield running


async def test_waiting_requests_do_not_hold_their_bodies(bounded_ingress: Ingress) -> None:
    ingress = bounded_ingress
    ingress.account.scenario({"1": ([], None)})
    ingress.post(routing_event(conv("warm"), 1)).raise_for_status()  # clients, pools, caches
    before = _rss_mb(ingress.process.pid)
    ingress.account.fault("agent_view", latency=1.5)  # the batch waits, and so do the requests

    def padded(i: int) -> bytes:  # 3.9 MB each, nearly all of it in a field the model ignores
        event = routing_event(conv(f"pad{i}"), 1)
        event["general"]["padding"] = "x" * 3_900_000
        return json.dumps(event).encode()

    async with httpx2.AsyncClient(timeout=120) as client:

        async def post(i: int) -> httpx2.Response:
            body = padded(i)
            headers = {"content-type": "application/json", **signed_headers(SECRET, body)}
            return await client.post(f"{ingress.url}/events", content=body, headers=headers)

        answers = await asyncio.gather(*(post(i) for i in range(40)))
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 503}, [a.text[:200] for a in answers]
    assert statuses.count(200) >= 10
    assert all(a.headers["retry-after"] for a in answers if a.status_code == 503)
    peak = _rss_mb(ingress.process.pid, "VmHWM")
    assert peak - before < 120, f"{before:.0f} MB before, {peak:.0f} MB at the peak"


async def test_requests_over_the_concurrency_cap_get_503_with_retry_after(
    bounded_ingress: Ingress,
) -> None:
    ingress = bounded_ingress
    ingress.account.scenario({"1": ([], None)})
    ingress.account.fault("agent_view", latency=2.0)
    bodies = [json.dumps(routing_event(conv("cap"), 1)).encode() for _ in range(60)]
    async with httpx2.AsyncClient(timeout=120, limits=httpx2.Limits(max_connections=100)) as c:
        answers = await asyncio.gather(
            *(
                c.post(f"{ingress.url}/events", content=b, headers=signed_headers(SECRET, b))
                for b in bodies
            )
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(503) >= 12 and statuses.count(200) >= 1, statuses
    refused = [a for a in answers if a.status_code == 503]
    assert all(a.headers["retry-after"] == "1" for a in refused)
    assert all(a.json()["error"].startswith("overloaded: ") for a in refused)
    assert ingress.health()["status"] == "ok"
