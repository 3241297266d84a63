"""prefect.yaml deploys to a real Prefect server, and its runs start from the API and from events.

No worker runs here: these tests check what the server creates (runs with the right parameters).
Running them end to end is ``tests/test_postgres_scaleout.py`` and ``tests/test_demo.py``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from helpers import register_credential
from pydantic import SecretStr

from sandbox.servers import ManagedProcess
from scripts.deploy import POOL, ROOT, deploy_all, prefect_api, prefect_cli
from switchboard._models import utcnow

POLL_SECONDS = 90.0
REPOST_SECONDS = 15.0

Deployments = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def api(prefect_server: ManagedProcess) -> Iterator[httpx2.Client]:
    with prefect_api(prefect_server.extra["api_url"]) as client:
        yield client


@pytest.fixture(scope="module")
def deployments(prefect_server: ManagedProcess, api: httpx2.Client) -> Iterator[Deployments]:
    """``prefect --no-prompt deploy --all`` once; the deployments by name.

    Afterwards the deployments and their triggers go, so that the events later tests emit on
    the shared server (``switchboard.token.refresh-failed``) start no runs.
    """
    deploy_all(prefect_server.extra["api_url"])
    response = api.post("deployments/filter", json={"work_pools": {"name": {"any_": [POOL]}}})
    response.raise_for_status()
    found = {d["name"]: d for d in response.json()}
    yield found
    for deployment in found.values():
        owner = f"prefect.deployment.{deployment['id']}"
        api.delete(f"automations/owned-by/{owner}").raise_for_status()
        api.delete(f"deployments/{deployment['id']}").raise_for_status()


def flow_runs_of(api: httpx2.Client, deployment_id: str) -> list[dict[str, Any]]:
    response = api.post(
        "flow_runs/filter",
        json={
            "deployments": {"id": {"any_": [deployment_id]}},
            "sort": "EXPECTED_START_TIME_DESC",  # newest first
            "limit": 200,
        },
    )
    response.raise_for_status()
    return list(response.json())


def wait_for_run(
    api: httpx2.Client,
    deployment_id: str,
    parameter: str,
    value: Any,
    *,
    again: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Poll until a run of the deployment has ``parameters[parameter] == value``.

    ``again`` (re-posting an event) is called every ``REPOST_SECONDS``: the server's triggers
    service reloads automations periodically, so an event posted right after a deploy can
    arrive before the new trigger is loaded.
    """
    deadline = time.monotonic() + POLL_SECONDS
    next_post = time.monotonic() + REPOST_SECONDS
    while time.monotonic() < deadline:
        for run in flow_runs_of(api, deployment_id):
            if run["parameters"].get(parameter) == value:
                return run
        if again is not None and time.monotonic() > next_post:
            again()
            next_post = time.monotonic() + REPOST_SECONDS
        time.sleep(0.5)
    pytest.fail(f"no flow run of deployment {deployment_id} with {parameter}={value!r} appeared")


def post_event(
    api: httpx2.Client, event: str, resource_id: str, payload: dict[str, Any]
) -> Callable[[], None]:
    """Post the event now; returns how to post it again (with a new id)."""

    def post() -> None:
        body = [
            {
                "id": str(uuid.uuid4()),
                "occurred": datetime.now(UTC).isoformat(),
                "event": event,
                "resource": {"prefect.resource.id": resource_id},
                "payload": payload,
            }
        ]
        assert api.post("events", json=body).status_code == 204

    post()
    return post


def test_every_deployment_is_self_explanatory(deployments: Deployments) -> None:
    assert set(deployments) >= {
        "on-demand",
        "every-minute",
        "daily",
        "on-refresh-failed",
        "on-recovered",
        "routing",
    }
    for name, deployment in deployments.items():
        assert deployment["description"], f"{name} has no description"
        assert "switchboard" in deployment["tags"]
        assert deployment["enforce_parameter_schema"] is True
        assert deployment["parameter_openapi_schema"]["properties"], f"{name} has no parameters"
        step = deployment["pull_steps"][0]["prefect.deployments.steps.set_working_directory"]
        assert Path(step["directory"]) == ROOT


def test_schedules_and_the_refresh_concurrency_limit(deployments: Deployments) -> None:
    refresh = deployments["every-minute"]
    assert [s["schedule"]["interval"] for s in refresh["schedules"]] == [60.0]
    assert refresh["global_concurrency_limit"]["limit"] == 1
    assert refresh["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    assert [s["schedule"]["cron"] for s in deployments["daily"]["schedules"]] == ["17 3 * * *"]
    for name in ("on-demand", "routing", "on-refresh-failed", "on-recovered"):
        assert deployments[name]["schedules"] == [], f"{name} should run only when asked"


def test_rest_create_flow_run_carries_the_parameters(
    deployments: Deployments, api: httpx2.Client, unique_name: str
) -> None:
    deployment = deployments["on-demand"]
    response = api.post(
        f"deployments/{deployment['id']}/create_flow_run",
        json={"parameters": {"credential": unique_name}},
    )
    assert response.status_code == 201, response.text
    run = api.get(f"flow_runs/{response.json()['id']}").json()
    assert run["parameters"]["credential"] == unique_name
    assert run["deployment_id"] == deployment["id"]


def test_the_parameter_schema_rejects_bad_input(
    deployments: Deployments, api: httpx2.Client
) -> None:
    deployment = deployments["on-demand"]
    response = api.post(
        f"deployments/{deployment['id']}/create_flow_run", json={"parameters": {"credential": 42}}
    )
    assert response.status_code in (409, 422), response.text
    assert "credential" in response.text


def test_prefect_deployment_run_from_the_cli(
    prefect_server: ManagedProcess, deployments: Deployments, api: httpx2.Client, unique_name: str
) -> None:
    deployment = deployments["on-demand"]
    flow = api.get(f"flows/{deployment['flow_id']}").json()["name"]
    prefect_cli(
        prefect_server.extra["api_url"],
        "deployment",
        "run",
        f"{flow}/on-demand",
        "-p",
        f"credential={unique_name}",
    )
    wait_for_run(api, deployment["id"], "credential", unique_name)


def test_a_routing_event_triggers_the_routing_deployment(
    deployments: Deployments, api: httpx2.Client, unique_name: str
) -> None:
    routed = {
        "general": {"convId": f"conv-{unique_name}", "dialogId": f"conv-{unique_name}"},
        "routing": {"newSkillId": "12", "oldSkillId": "-1"},
    }
    again = post_event(
        api, "liveperson.conversation.routed", "liveperson.account.demo", {"events": [routed]}
    )
    run = wait_for_run(api, deployments["routing"]["id"], "events", [routed], again=again)
    assert run["parameters"]["events"][0]["general"]["convId"] == f"conv-{unique_name}"


def test_a_refresh_failed_event_triggers_the_failure_handler(
    deployments: Deployments, api: httpx2.Client, unique_name: str
) -> None:
    again = post_event(
        api,
        "switchboard.token.refresh-failed",
        f"switchboard.credential.{unique_name}",
        {"credential": unique_name, "error_class": "CredentialRevoked"},
    )
    run = wait_for_run(
        api, deployments["on-refresh-failed"]["id"], "credential", unique_name, again=again
    )
    assert run["parameters"]["error_class"] == "CredentialRevoked"


def runs_for(api: httpx2.Client, deployment_id: str, credential: str, count: int) -> int:
    """How many runs of the deployment name ``credential``: waits for ``count`` of them, then
    a little longer for any more (events reach triggers asynchronously)."""
    deadline = time.monotonic() + POLL_SECONDS
    settle: float | None = None
    while True:
        found = sum(
            run["parameters"].get("credential") == credential
            for run in flow_runs_of(api, deployment_id)
        )
        now = time.monotonic()
        if found >= count and settle is None:
            settle = now + 5
        if (settle is not None and now >= settle) or now > deadline:
            return found
        time.sleep(0.5)


def events_about(api: httpx2.Client, credential: str, event: str) -> int:
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=10)
    time.sleep(2)  # the server stores events asynchronously
    body = {
        "filter": {
            "resource": {"id": [f"switchboard.credential.{credential}"]},
            "event": {"name": [event]},
        },
        "limit": 50,
    }
    found = api.post("events/filter", json=body).raise_for_status().json()["events"]
    assert all("sbx-" not in str(item["payload"]) for item in found)
    return len(found)


def test_alerts_do_not_storm_and_recover_once(
    deployments: Deployments,
    api: httpx2.Client,
    openbao: ManagedProcess,
    sandbox: ManagedProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unique_name: str,
) -> None:
    """A credential failing on every run starts one failure-handling run per window, and one
    recovery run when it heals, through the real triggers of ``prefect.yaml``."""
    from blocks.vault import VaultConnection, resources_for
    from flows.refresh_due_tokens import refresh_due_tokens

    window = 20.0
    monkeypatch.setenv("SWITCHBOARD_TOKEN_ALERT_WINDOW_SECONDS", str(window))
    monkeypatch.setenv("SWITCHBOARD_TOKEN_JOURNAL_DIR", str(tmp_path / "journal"))
    block = f"vault-{unique_name}"
    VaultConnection(
        addr=openbao.url, token=SecretStr(openbao.extra["root_token"]), base_path=block
    ).save(block)
    store = resources_for(block).store
    failure = deployments["on-refresh-failed"]["id"]
    recovery = deployments["on-recovered"]["id"]
    for deployment, event in ((failure, "refresh-failed"), (recovery, "recovered")):
        probe = f"{unique_name}-probe-{event}"  # the server loads new triggers periodically
        payload = {"credential": probe, "error_class": "TransientTokenError"}
        resource = f"switchboard.credential.{probe}"
        again = post_event(api, f"switchboard.token.{event}", resource, payload)
        wait_for_run(api, deployment, "credential", probe, again=again)

    name = f"{unique_name}-failing"
    client = register_credential(sandbox.url, store, name, client_secret="sbx-wrong")

    def fail_once() -> None:
        state = asyncio.run(
            refresh_due_tokens(credentials=[name], vault_block=block, return_state=True)
        )
        assert state.is_failed()
        health = store.read_health(name)
        assert health is not None and health.state == "misconfigured"
        # every minute for a while: the backoff between runs has passed
        store.write_health(name, health.model_copy(update={"next_attempt_at": utcnow()}))

    started = time.monotonic()
    for _ in range(4):
        fail_once()
    assert time.monotonic() - started < window
    assert runs_for(api, failure, name, 1) == 1
    assert events_about(api, name, "switchboard.token.refresh-failed") == 1

    health = store.read_health(name)
    assert health is not None and [alert.cause for alert in health.alerts] == ["ClientRejected"]
    alerted = health.alerts[0].at  # the window runs from the alert Vault recorded
    time.sleep(max(0.0, (alerted - utcnow()).total_seconds() + window + 0.5))
    fail_once()
    fail_once()
    assert runs_for(api, failure, name, 2) == 2

    good = store.read_client(name).model_copy(
        update={"client_secrets": (SecretStr(client["client_secret"]),)}
    )
    store.put_client(name, good)
    for _ in range(3):
        outcomes = asyncio.run(
            refresh_due_tokens(credentials=[name], vault_block=block, force=True)
        )
        assert [o.state for o in outcomes] == ["healthy"]
    assert runs_for(api, recovery, name, 1) == 1
    assert events_about(api, name, "switchboard.token.recovered") == 1
