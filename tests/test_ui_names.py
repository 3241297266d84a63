"""What a person sees in the Prefect UI, read back through Prefect's REST API: run names that say
what a run did, task runs without counters, artifacts with absolute times and no "None", the
fleet table, the ingress's tags, automation and block field labels.

The same things rendered in a browser: ``scripts/ui_check.py``.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_routing_support)
from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from helpers import register_credential
from prefect.events.schemas.automations import AutomationCore
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from pydantic import SecretStr
from test_routing_support import MIN, conv, lp_account, routing_event  # noqa: F401

from blocks.liveperson import LivePersonAccount
from blocks.vault import VaultConnection, resources_for
from sandbox.servers import ManagedProcess
from serve import INGRESS_TAGS, flow_run_creator, run_in_new_flow_run
from switchboard.consumer import set_default_cache
from switchboard.vault import CredentialStore
from tasks.reports import FLEET_ARTIFACT_KEY, REPORT_ARTIFACT_KEY, RUNBOOK_ARTIFACT_KEY
from tasks.routing import ARTIFACT_KEY as DECISIONS_KEY

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("prefect_server")


class Api:
    """Prefect's REST API, as the UI reads it."""

    def __init__(self, server: ManagedProcess) -> None:
        self.url = server.extra["api_url"]

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return httpx2.post(f"{self.url}/{path}", json=body, timeout=30).raise_for_status().json()

    def flow_run(self, flow_run_id: Any) -> dict[str, Any]:
        return dict(httpx2.get(f"{self.url}/flow_runs/{flow_run_id}").raise_for_status().json())

    def subflow_runs(self, flow_run_id: Any) -> list[dict[str, Any]]:
        body = {"flow_runs": {"parent_flow_run_id": {"any_": [str(flow_run_id)]}}}
        return list(self.post("flow_runs/filter", body))

    def task_run_names(
        self, flow_run_id: Any, *, count: int = 1, including: str | None = None
    ) -> list[str]:
        """The run's task-run names, sorted, once ``count`` of them (and ``including``) are
        recorded: the server records task runs from their events, a moment after the run."""
        body = {"task_runs": {"flow_run_id": {"any_": [str(flow_run_id)]}}}
        deadline = time.monotonic() + 30
        while True:
            names = sorted(run["name"] for run in self.post("task_runs/filter", body))
            enough = len(names) >= count and (including is None or including in names)
            if enough or time.monotonic() > deadline:
                return names
            time.sleep(0.2)

    def artifact(self, flow_run_id: Any, key: str) -> dict[str, Any]:
        body = {"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}}
        [found] = [a for a in self.post("artifacts/filter", body) if a["key"] == key]
        return dict(found)


@pytest.fixture
def api(prefect_server: ManagedProcess) -> Api:
    return Api(prefect_server)


@pytest.fixture
def vault_block(openbao: ManagedProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``VaultConnection`` with a base path of its own: "every credential" is this test's."""
    monkeypatch.setenv("SWITCHBOARD_TOKEN_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setenv("SWITCHBOARD_TOKEN_MAX_ATTEMPTS", "1")
    name = f"ui-{uuid.uuid4().hex[:8]}"
    token = SecretStr(openbao.extra["root_token"])
    VaultConnection(addr=openbao.url, token=token, base_path=name).save(name)
    return name


@pytest.fixture
def add(sandbox: ManagedProcess, vault_block: str) -> Callable[..., str]:
    store: CredentialStore = resources_for(vault_block).store

    def add_credential(name: str, grant: str = "client_credentials", **options: Any) -> str:
        client_id = f"{name}-{uuid.uuid4().hex[:6]}"
        register_credential(sandbox.url, store, name, grant, client_id=client_id, **options)
        return name

    return add_credential


def rows(artifact: dict[str, Any]) -> list[dict[str, Any]]:
    return list(json.loads(artifact["data"]))


def assert_readable(artifact: dict[str, Any]) -> None:
    """No "None" and no secret anywhere a person reads."""
    for text in (artifact["data"], artifact["description"] or ""):
        assert "None" not in text and "null" not in text and "sbx-" not in text, text


def test_token_runs_are_named_for_what_they_did(
    api: Api, vault_block: str, add: Callable[..., str]
) -> None:
    from flows.acquire_token import acquire_token
    from flows.refresh_due_tokens import refresh_due_tokens

    names = [add("alpha"), add("beta"), add("gamma", grant="refresh_token")]
    first = asyncio.run(refresh_due_tokens(vault_block=vault_block, return_state=True))
    second = asyncio.run(
        refresh_due_tokens(credentials=["alpha"], vault_block=vault_block, return_state=True)
    )
    acquired = asyncio.run(acquire_token("beta", vault_block=vault_block, return_state=True))
    assert first.is_completed() and second.is_completed() and acquired.is_completed()

    run_id = first.state_details.flow_run_id
    assert api.flow_run(run_id)["name"] == "refresh 3 due of 3"
    assert api.flow_run(second.state_details.flow_run_id)["name"] == "refresh 0 due of 1"
    assert api.flow_run(acquired.state_details.flow_run_id)["name"] == "acquire beta"
    assert api.task_run_names(run_id, count=2 + len(names)) == sorted(
        ["plan-refreshes", "publish-refresh-report", *(f"refresh-{n}" for n in names)]
    )
    assert api.task_run_names(acquired.state_details.flow_run_id) == ["refresh-beta"]

    report = api.artifact(run_id, REPORT_ARTIFACT_KEY)
    assert_readable(report)
    by_name = {row["credential"]: row for row in rows(report)}
    assert by_name["alpha"]["access token expires"].endswith(" UTC (in 59 min)")
    assert by_name["alpha"]["last error"] == "" and by_name["alpha"]["refresh token dies"] == ""
    assert "`healthy`: the last refresh worked" in report["description"]


def test_the_daily_run_publishes_every_credential(
    api: Api, vault_block: str, add: Callable[..., str]
) -> None:
    """The fleet table lists credentials the run did not refresh, and the broken ones."""
    from flows.keep_alive_tokens import keep_alive_tokens
    from flows.refresh_due_tokens import refresh_due_tokens

    add("fresh")
    add("broken", client_secret="sbx-wrong")
    # neither is due any more after this
    asyncio.run(refresh_due_tokens(vault_block=vault_block, return_state=True))
    add("late", client_secret="sbx-wrong")
    state = asyncio.run(keep_alive_tokens(vault_block=vault_block, return_state=True))
    assert state.is_failed()  # late fails: the table is published all the same

    run_id = state.state_details.flow_run_id
    assert api.flow_run(run_id)["name"] == "keep alive tokens idle 12.0 h"
    [subflow] = api.subflow_runs(run_id)
    assert subflow["name"] == "refresh 1 due of 3"
    assert "publish-fleet-table" in api.task_run_names(run_id, including="publish-fleet-table")

    fleet = api.artifact(run_id, FLEET_ARTIFACT_KEY)
    assert_readable(fleet)
    by_name = {row["credential"]: row for row in rows(fleet)}
    assert set(by_name) == {"fresh", "broken", "late"}
    assert by_name["fresh"]["state"] == "healthy"
    assert by_name["fresh"]["access token expires"].endswith(" UTC (in 59 min)")
    assert by_name["fresh"]["failures in a row"] == ""
    assert by_name["broken"]["state"] == "misconfigured"
    assert by_name["broken"]["last error"] == "ClientRejected"
    assert by_name["broken"]["failures in a row"] == 1
    assert "3 in all, 1 healthy, 2 misconfigured" in fleet["description"]
    assert "`misconfigured`: the client definition or seed is wrong" in fleet["description"]


def test_the_failure_runbook_names_its_run_and_shows_times(
    api: Api, vault_block: str, add: Callable[..., str]
) -> None:
    from flows.handle_credential_failure import handle_credential_failure
    from flows.refresh_due_tokens import refresh_due_tokens

    add("refused", client_secret="sbx-wrong")
    asyncio.run(refresh_due_tokens(vault_block=vault_block, return_state=True))
    state = handle_credential_failure(
        "refused", "ClientRejected", vault_block=vault_block, return_state=True
    )
    run_id = state.state_details.flow_run_id
    assert api.flow_run(run_id)["name"] == "handle refused: ClientRejected"
    assert api.task_run_names(run_id, count=2) == [
        "explain-refused-ClientRejected",
        "read-health-refused",
    ]
    runbook = api.artifact(run_id, RUNBOOK_ARTIFACT_KEY)
    assert_readable(runbook)
    assert "| last attempt | 20" in runbook["data"] and " UTC (<1 min ago) |" in runbook["data"]


@pytest.fixture
async def account(lp_account: Any, unique_name: str) -> Any:
    block = f"lp-{unique_name}"
    await LivePersonAccount(**lp_account.settings.model_dump()).save(block)
    set_default_cache(lp_account.tokens)
    lp_account.block = block
    yield lp_account
    set_default_cache(None)


async def test_routing_runs_tasks_and_the_decisions_table(api: Api, account: Any) -> None:
    from flows.route_conversations import route_conversations

    account.scenario({"1": ([], 10 * MIN), "2": (["ONLINE"], MIN), "3": (["ONLINE"], None)})
    events = [routing_event(conv("ui"), skill) for skill in (1, 2, 3, 3)]
    state = await route_conversations(events=events, account_block=account.block, return_state=True)
    assert state.is_completed(), state.message

    run_id = state.state_details.flow_run_id
    assert api.flow_run(run_id)["name"] == "route 4 conversations"
    assert api.task_run_names(run_id, count=3) == [
        "check-agent-availability-of-3-skills",
        "check-queue-health-of-3-skills",
        "message-customers-of-4-conversations",
    ]
    table = api.artifact(run_id, DECISIONS_KEY)
    assert_readable(table)
    kinds = {row["skill"]: row for row in rows(table)}
    assert kinds["1"]["decision"] == "no_agent" and kinds["1"]["message id"]
    assert kinds["2"]["message id"] == "" and kinds["2"]["wait minutes"] == 1
    assert kinds["3"]["wait minutes"] == "" and kinds["3"]["error"] == ""
    description = table["description"]
    for code in ("no_agent", "no_message", "no_data"):
        assert f"- `{code}`: " in description
    assert "`busy`" not in description  # only the codes the table shows


async def test_ingress_batches_carry_the_routing_deployments_tags(account: Any, api: Api) -> None:
    from flows.route_conversations import route_conversations

    account.scenario({"7": (["ONLINE"], MIN)})
    events = [routing_event(conv("ingress"), 7) for _ in range(6)]
    async with flow_run_creator():
        state = await run_in_new_flow_run(
            route_conversations,
            {"events": events, "account_block": account.block, "vault_block": None},
        )
    assert state.is_completed(), state.message
    run = api.flow_run(state.state_details.flow_run_id)
    assert run["name"] == "route 6 conversations"
    routing = next(
        d
        for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
        if d["name"] == "routing"
    )
    assert set(run["tags"]) == {*routing["tags"], "ingress"} == set(INGRESS_TAGS)


def test_every_deployment_trigger_says_which_event_starts_what() -> None:
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    triggers = [
        (deployment, DeploymentEventTrigger.model_validate(trigger))
        for deployment in deployments
        for trigger in deployment.get("triggers", [])
    ]
    assert len(triggers) == 4
    for deployment, trigger in triggers:
        [event] = trigger.expect
        flow = deployment["entrypoint"].rsplit(":", 1)[1].replace("_", "-")
        assert trigger.name == f"{event} → {flow}" or trigger.name.startswith(f"{event} → {flow} (")
        assert deployment["name"] in trigger.description


def test_the_fleet_wide_automations_say_which_event_starts_what() -> None:
    """``automations.yaml``: ``<event> <condition> → <action>``, and a description."""
    for spec in yaml.safe_load((ROOT / "automations.yaml").read_text())["automations"]:
        automation = AutomationCore.model_validate(spec)
        assert " → " in automation.name and automation.description


@pytest.mark.parametrize("block", [VaultConnection, LivePersonAccount], ids=lambda b: b.__name__)
def test_block_fields_have_titles_and_descriptions(block: type[Any]) -> None:
    """Titles given, not made up by pydantic from the name ("Ca Cert"); the form shows both."""
    schema = block.model_json_schema()["properties"]
    for name, field in schema.items():
        assert field["title"] == block.model_fields[name].title, name
        assert field.get("description"), name
