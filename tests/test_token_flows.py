"""The token flows through a real Prefect server, OpenBao and the sandbox.

Each test uses its own VaultConnection block with its own base path, so discovery
("every credential") sees only that test's credentials.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from helpers import ping, register_credential, token_fault
from pydantic import SecretStr

from sandbox.servers import ManagedProcess
from switchboard._models import utcnow
from switchboard._settings import TokenSettings
from switchboard.vault import CredentialStore

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture
def vault_block(
    openbao: ManagedProcess, prefect_server: ManagedProcess, tmp_path, monkeypatch
) -> str:
    from blocks.vault import VaultConnection

    monkeypatch.setenv("SWITCHBOARD_TOKEN_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setenv("SWITCHBOARD_TOKEN_MAX_ATTEMPTS", "2")
    name = f"vault-{uuid.uuid4().hex[:8]}"
    VaultConnection(
        addr=openbao.url, token=SecretStr(openbao.extra["root_token"]), base_path=f"flows-{name}"
    ).save(name)
    return name


@pytest.fixture
def block_store(vault_block: str) -> CredentialStore:
    from blocks.vault import resources_for

    return resources_for(vault_block).store  # the one the flows' tasks use


@pytest.fixture
def add_credential(sandbox: ManagedProcess, block_store: CredentialStore) -> Callable[..., str]:
    def add(name: str, grant: str = "client_credentials", secret: str | None = None) -> str:
        client_id = f"{name}-{uuid.uuid4().hex[:6]}"
        register_credential(
            sandbox.url, block_store, name, grant, client_id=client_id, client_secret=secret
        )
        return name

    return add


def _api(prefect_server: ManagedProcess) -> str:
    return prefect_server.extra["api_url"]


def _artifacts(prefect_server: ManagedProcess, flow_run_id: Any) -> list[dict[str, Any]]:
    body = {"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}}
    response = httpx2.post(f"{_api(prefect_server)}/artifacts/filter", json=body)
    return response.raise_for_status().json()


def _events(
    prefect_server: ManagedProcess, credential: str, expected: set[str], *, as_related: bool = False
) -> set[str]:
    """Names of the events about ``credential`` (as their resource, or a related one)."""
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=10)
    where = "related" if as_related else "resource"
    body = {"filter": {where: {"id": [f"switchboard.credential.{credential}"]}}, "limit": 50}
    deadline = time.monotonic() + 30
    while True:  # events are stored asynchronously by the server
        found = httpx2.post(f"{_api(prefect_server)}/events/filter", json=body).json()
        names = {event["event"] for event in found["events"]}
        if expected <= names or time.monotonic() > deadline:
            for event in found["events"]:
                assert "sbx-" not in str(event["payload"])
            return names
        time.sleep(0.5)


def test_refresh_due_tokens_reports_and_fails_only_after_all_ran(
    prefect_server: ManagedProcess,
    vault_block: str,
    block_store: CredentialStore,
    add_credential: Callable[..., str],
) -> None:
    from flows.refresh_due_tokens import refresh_due_tokens
    from tasks.reports import REPORT_ARTIFACT_KEY

    good = [add_credential("alpha"), add_credential("beta", grant="refresh_token")]
    bad = add_credential("broken", secret="sbx-wrong")
    state = asyncio.run(refresh_due_tokens(vault_block=vault_block, return_state=True))
    assert state.is_failed()
    assert "broken" in (state.message or "")
    for name in good:
        assert block_store.read_token(name).token is not None
    health = block_store.read_health(bad)
    assert health is not None and health.state == "misconfigured"

    artifacts = _artifacts(prefect_server, state.state_details.flow_run_id)
    table = next(a for a in artifacts if a["key"] == REPORT_ARTIFACT_KEY)
    assert table["type"] == "table"
    rows = {row["credential"]: row for row in json.loads(table["data"])}
    assert rows["alpha"]["result"] == "refreshed" and rows["alpha"]["state"] == "healthy"
    assert rows["broken"]["last error"] == "ClientRejected"
    assert "sbx-" not in table["data"]

    assert "switchboard.token.refreshed" in _events(
        prefect_server, "alpha", {"switchboard.token.refreshed"}
    )
    assert "switchboard.token.refresh-failed" in _events(
        prefect_server, "broken", {"switchboard.token.refresh-failed"}
    )

    # nothing due now: a second run skips both good ones and leaves the broken one backing off
    outcomes = asyncio.run(refresh_due_tokens(credentials=good, vault_block=vault_block))
    assert [o.status for o in outcomes] == ["skipped", "skipped"]


def test_refresh_due_tokens_adds_its_outcome_counters_to_the_metrics_textfile(
    vault_block: str,
    add_credential: Callable[..., str],
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from flows.refresh_due_tokens import refresh_due_tokens

    textfile = tmp_path / "switchboard_refresh.prom"
    monkeypatch.setenv("SWITCHBOARD_METRICS_TEXTFILE", str(textfile))
    good = add_credential("metered")
    bad = add_credential("metered-broken", secret="sbx-wrong")
    assert asyncio.run(refresh_due_tokens(vault_block=vault_block, return_state=True)).is_failed()

    text = textfile.read_text()
    found = {
        (sample.name, sample.labels.get("status"), sample.labels.get("error_class")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert found[("switchboard_refresh_outcomes_total", "refreshed", "")] == 1
    assert found[("switchboard_refresh_outcomes_total", "failed", "ClientRejected")] == 1
    assert good not in text and bad not in text and "sbx-" not in text


def test_acquire_token_and_recovery_event(
    prefect_server: ManagedProcess,
    vault_block: str,
    block_store: CredentialStore,
    add_credential: Callable[..., str],
    sandbox: ManagedProcess,
) -> None:
    from flows.acquire_token import acquire_token

    name = add_credential("gamma", grant="refresh_token")
    client_id = block_store.read_client(name).client_id
    token_fault(sandbox, client_id, count=2, status=503)
    assert asyncio.run(acquire_token(name, vault_block=vault_block, return_state=True)).is_failed()
    backing_off = asyncio.run(acquire_token(name, vault_block=vault_block))
    assert backing_off.status == "skipped"
    health = block_store.read_health(name)
    assert health is not None and health.next_attempt_at is not None
    waited = health.model_copy(update={"next_attempt_at": utcnow()})  # the backoff has passed
    block_store.write_health(name, waited)
    outcome = asyncio.run(acquire_token(name, vault_block=vault_block))
    assert (outcome.status, outcome.recovered) == ("refreshed", True)
    token = block_store.read_token(name).token
    assert token is not None
    assert ping(sandbox, token.access_token) == 200
    assert "switchboard.token.recovered" in _events(
        prefect_server, name, {"switchboard.token.recovered"}
    )


def test_keep_alive_refreshes_idle_refresh_tokens(
    vault_block: str, block_store: CredentialStore, add_credential: Callable[..., str]
) -> None:
    from flows.keep_alive_tokens import keep_alive_tokens
    from flows.refresh_due_tokens import refresh_due_tokens

    rotating = add_credential("delta", grant="refresh_token")
    add_credential("epsilon")
    asyncio.run(refresh_due_tokens(vault_block=vault_block))
    before = block_store.read_token(rotating).version
    outcomes = asyncio.run(keep_alive_tokens(min_idle_hours=0, vault_block=vault_block))
    assert {(o.name, o.status) for o in outcomes} == {
        ("delta", "refreshed"),
        ("epsilon", "skipped"),
    }
    assert block_store.read_token(rotating).version == before + 1
    outcomes = asyncio.run(keep_alive_tokens(min_idle_hours=12, vault_block=vault_block))
    assert {o.status for o in outcomes} == {"skipped"}


def test_handle_credential_failure_publishes_a_runbook(
    prefect_server: ManagedProcess,
    vault_block: str,
    add_credential: Callable[..., str],
) -> None:
    from flows.handle_credential_failure import handle_credential_failure
    from flows.refresh_due_tokens import refresh_due_tokens

    name = add_credential("zeta", secret="sbx-wrong")
    asyncio.run(refresh_due_tokens(credentials=[name], vault_block=vault_block, return_state=True))
    state = handle_credential_failure(name, "whatever", vault_block=vault_block, return_state=True)
    assert state.result() == "ClientRejected"
    artifacts = _artifacts(prefect_server, state.state_details.flow_run_id)
    markdown = next(a for a in artifacts if a["type"] == "markdown")["data"]
    assert "client_secrets" in markdown and "misconfigured" in markdown
    assert "sbx-" not in markdown


def test_max_concurrency_setting_is_named_when_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    from switchboard._exceptions import ConfigurationError
    from switchboard._settings import load

    monkeypatch.setenv("SWITCHBOARD_TOKEN_MAX_CONCURRENCY", "zero")
    with pytest.raises(ConfigurationError, match="SWITCHBOARD_TOKEN_MAX_CONCURRENCY"):
        load(TokenSettings)


def test_a_large_fleet_runs_in_batch_tasks(
    prefect_server: ManagedProcess,
    vault_block: str,
    block_store: CredentialStore,
    add_credential: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.refresh_due_tokens import refresh_due_tokens
    from tasks.reports import REPORT_ARTIFACT_KEY

    monkeypatch.setenv("SWITCHBOARD_TOKEN_PER_CREDENTIAL_TASKS_UP_TO", "2")
    monkeypatch.setenv("SWITCHBOARD_TOKEN_MAX_CONCURRENCY", "3")
    names = [add_credential(f"fleet{index}") for index in range(6)]
    broken = add_credential("fleet-broken", secret="sbx-wrong")
    state = asyncio.run(refresh_due_tokens(vault_block=vault_block, return_state=True))
    assert state.is_failed() and "fleet-broken" in (state.message or "")
    assert all(block_store.read_token(name).token is not None for name in names)
    flow_run_id = state.state_details.flow_run_id
    runs = httpx2.post(
        f"{_api(prefect_server)}/task_runs/filter",
        json={"flow_runs": {"id": {"any_": [str(flow_run_id)]}}},
    ).json()
    batch_runs = sorted(run["name"] for run in runs if run["name"].startswith("refresh-batch-"))
    assert batch_runs == ["refresh-batch-1-of-3", "refresh-batch-2-of-3", "refresh-batch-3-of-3"]
    table = next(
        a for a in _artifacts(prefect_server, flow_run_id) if a["key"] == REPORT_ARTIFACT_KEY
    )
    listed = json.loads(table["data"])
    rows = {row["credential"]: row for row in listed}
    assert len(rows) == len(listed) == 7 and rows[broken]["last error"] == "ClientRejected"
    # the batches share one backlog: each credential refreshed by exactly one of them
    assert sorted(row["result"] for row in listed) == ["failed"] + ["refreshed"] * 6
    # fleet mode: successes summed up in batch events naming each credential; failures one by one
    batch_event = {"switchboard.tokens.refreshed"}
    assert _events(prefect_server, names[0], batch_event, as_related=True) == batch_event
    assert "switchboard.token.refreshed" not in _events(prefect_server, names[0], set())
    failed = {"switchboard.token.refresh-failed"}
    assert failed <= _events(prefect_server, broken, failed)


def test_the_radar_emits_one_refresh_expiring_event(
    prefect_server: ManagedProcess,
    vault_block: str,
    block_store: CredentialStore,
    sandbox: ManagedProcess,
) -> None:
    """Keycloak's 1800 s refresh lifetime with hour-long access tokens: the refresh token dies
    before the next refresh. Refreshed twice, the credential says so once."""
    from flows.acquire_token import acquire_token

    name = "eta"
    client_id = f"{name}-{uuid.uuid4().hex[:6]}"
    options = {"profile": "keycloak", "access_token_lifetime": 3600}
    register_credential(
        sandbox.url, block_store, name, "refresh_token", client_id=client_id, **options
    )
    for _ in range(2):
        outcome = asyncio.run(acquire_token(name, vault_block=vault_block))
        assert (outcome.status, outcome.state) == ("refreshed", "refresh_expiring")
    expiring = "switchboard.token.refresh-expiring"
    assert expiring in _events(prefect_server, name, {expiring})
    body = {
        "filter": {
            "resource": {"id": [f"switchboard.credential.{name}"]},
            "event": {"name": [expiring]},
        }
    }
    found = httpx2.post(f"{_api(prefect_server)}/events/filter", json=body).json()["events"]
    assert len(found) == 1
    assert found[0]["payload"]["cause"] == "refresh_token_expires"
    assert found[0]["payload"]["deadline"].endswith("Z")


def test_credentials_a_broken_fleet_batch_took_are_reported_failed() -> None:
    """Fleet batches share one backlog, so which batch took what is not known: every due
    credential no batch reported on is failed with a broken batch's error, never dropped."""
    from prefect import flow, task

    from flows.refresh_due_tokens import _outcomes
    from switchboard import RefreshOutcome

    @task(name="probe-batch", persist_result=False)
    def batch(name: str | None) -> list[RefreshOutcome]:
        if name is None:
            raise RuntimeError("Vault went away mid-batch")
        return [RefreshOutcome(name=name, status="refreshed")]

    @flow(name="probe-broken-batches", persist_result=False)
    def probe() -> list[RefreshOutcome]:
        futures = [batch.submit("a"), batch.submit(None), batch.submit(None)]
        return _outcomes(["a", "b", "c"], futures, one_each=False)

    outcomes = {outcome.name: outcome for outcome in probe()}
    assert set(outcomes) == {"a", "b", "c"}
    assert outcomes["a"].status == "refreshed"
    assert {outcomes[name].status for name in "bc"} == {"failed"}
    assert {outcomes[name].error_class for name in "bc"} == {"RuntimeError"}
