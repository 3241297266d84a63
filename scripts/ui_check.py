"""``python -m scripts.ui_check``: what a person sees in the Prefect UI, checked in a real browser.

Starts OpenBao (dev), the sandbox and a Prefect server on SQLite in a temporary directory,
deploys ``prefect.yaml`` and ``automations.yaml``, runs the flows once in this process (a token
fleet with a healthy, a refresh-token, an expiring and a misconfigured credential; a routing
batch), then renders the UI's pages in headless Chromium and fails unless the run names, task
run names, artifact cells, automation names and block field titles are in the rendered page.
It saves the fleet table as ``docs/images/fleet-table.png`` (the README shows it).

Needs Chromium (``apt-get install -y chromium``; ``--chromium PATH`` or ``$CHROMIUM`` for
another). Not part of ``make test``: ``tests/test_ui_names.py`` checks the same names and cells
through Prefect's REST API without a browser.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
from pydantic import SecretStr

from sandbox.servers import free_port, start_openbao, start_prefect_server, start_sandbox
from scripts.deploy import ROOT, deploy_all, prefect_api

__all__ = ["main"]

BLOCK = "ui-check"
ACCOUNT = "ui-check-brand"
IMAGE = ROOT / "docs" / "images" / "fleet-table.png"
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--window-size=2000,1000",  # the run lists render only the rows in view; tables are wide
    "--run-all-compositor-stages-before-draw",
    "--virtual-time-budget=60000",  # virtual: the UI's API calls finish first
]
CREDENTIALS: dict[str, dict[str, Any]] = {  # name: sandbox client options
    "crm-api": {"grant_types": ["client_credentials"]},
    "billing": {"grant_types": ["refresh_token"]},
    "erp": {  # Keycloak: the refresh token dies before the next refresh would renew it
        "grant_types": ["refresh_token"],
        "profile": "keycloak",
        "access_token_lifetime": 3600,
    },
    "liveperson": {"grant_types": ["client_credentials"]},
    "legacy-crm": {"grant_types": ["client_credentials"], "wrong_secret": True},
}
SCENARIO = {
    "101": {"agents": [{"agentId": "a1", "currentStatus": "AWAY"}], "wait_p90_ms": 60_000},
    "102": {"agents": [{"agentId": "a2", "currentStatus": "ONLINE"}], "wait_p90_ms": 540_000},
    "103": {"agents": [{"agentId": "a3", "currentStatus": "ONLINE"}], "wait_p90_ms": -1},
}


class UICheckFailed(AssertionError):
    """A page did not show what it should; the message names the page and the missing text."""


def _add_credentials(sandbox_url: str) -> None:
    """Register each credential at the sandbox and write its definition (and seed) to Vault."""
    from blocks.vault import resources_for
    from switchboard._models import ClientDefinition

    store = resources_for(BLOCK).store
    for name, options in CREDENTIALS.items():
        spec = {k: v for k, v in options.items() if k != "wrong_secret"}
        client_id = f"{name}-{uuid.uuid4().hex[:6]}"
        client = httpx2.post(
            f"{sandbox_url}/_control/clients", json={"client_id": client_id, **spec}, timeout=10
        ).raise_for_status()
        issued = client.json()
        secret = "sbx-wrong" if options.get("wrong_secret") else issued["client_secret"]
        grant = spec["grant_types"][0]
        store.put_client(
            name,
            ClientDefinition(
                token_url=f"{sandbox_url}/oauth/token",
                client_id=client_id,
                client_secrets=(SecretStr(secret),),
                grant=grant,
            ),
        )
        if issued.get("refresh_token"):
            store.put_seed(name, SecretStr(issued["refresh_token"]))


def _run_flows(sandbox_url: str) -> dict[str, str]:
    """Each flow once, in this process; the flow run id of each, by what it did."""
    from blocks.liveperson import LivePersonAccount
    from flows.acquire_token import acquire_token
    from flows.handle_credential_failure import handle_credential_failure
    from flows.keep_alive_tokens import keep_alive_tokens
    from flows.refresh_due_tokens import refresh_due_tokens
    from flows.route_conversations import route_conversations

    runs: dict[str, Any] = {}

    async def tokens() -> None:  # the token flows are async
        runs["acquire"] = await acquire_token("liveperson", vault_block=BLOCK, return_state=True)
        runs["refresh"] = await refresh_due_tokens(vault_block=BLOCK, return_state=True)
        runs["keep-alive"] = await keep_alive_tokens(vault_block=BLOCK, return_state=True)

    asyncio.run(tokens())
    runs["handle"] = handle_credential_failure(
        "legacy-crm", "ClientRejected", vault_block=BLOCK, return_state=True
    )
    httpx2.post(
        f"{sandbox_url}/_control/scenario", json={"account_id": ACCOUNT, "skills": SCENARIO}
    ).raise_for_status()
    LivePersonAccount(
        account_id=ACCOUNT,
        csds_host=sandbox_url.removeprefix("http://"),
        scheme="http",
        bearer_credential="liveperson",
        skill_rules={"102": {"threshold_minutes": 3}},
    ).save(BLOCK, overwrite=True)
    events = [
        {
            "general": {"convId": f"conv-{index}", "dialogId": f"conv-{index}"},
            "routing": {"newSkillId": skill, "oldSkillId": "-1"},
        }
        for index, skill in enumerate(["101", "102", "103", "102", "101", "103"])
    ]

    async def route() -> Any:
        return await route_conversations(
            events=events, account_block=BLOCK, vault_block=BLOCK, return_state=True
        )

    runs["route"] = asyncio.run(route())
    return {what: str(state.state_details.flow_run_id) for what, state in runs.items()}


def _render(chromium: str, url: str, screenshot: Path | None = None) -> str:
    """The page's DOM after its scripts ran (and a screenshot of it when asked)."""
    with tempfile.TemporaryDirectory() as profile:
        flags = [*BROWSER_FLAGS, f"--user-data-dir={profile}"]
        if screenshot is not None:
            subprocess.run(
                [chromium, *flags, f"--screenshot={screenshot}", url],
                capture_output=True,
                timeout=120,
                check=True,
            )
        done = subprocess.run(
            [chromium, *flags, "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    return re.sub(r"\s+", " ", done.stdout)


def _expect(page: str, dom: str, texts: list[str]) -> None:
    missing = [text for text in texts if text not in dom]
    if missing:
        shown = re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", dom))
        raise UICheckFailed(f"{page}: not shown: {missing}; the page's text ends: {shown[-1500:]}")
    print(f"ok  {page}: {len(texts)} text(s) shown")


def _artifact_id(api_url: str, flow_run_id: str, key: str) -> str:
    with prefect_api(api_url) as api:
        body = {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}, "key": {"any_": [key]}}}
        [artifact] = api.post("artifacts/filter", json=body).raise_for_status().json()
    return str(artifact["id"])


def _check_pages(chromium: str, ui: str, api_url: str, runs: dict[str, str], image: Path) -> None:
    """Open the pages a person would, and look for what they should see."""
    _expect(
        "flow runs",
        _render(chromium, f"{ui}/runs"),
        [
            "acquire liveperson",
            "refresh 4 due of 5",
            "keep alive tokens idle 12.0 h",
            "handle legacy-crm: ClientRejected",
            "route 6 conversations",
        ],
    )
    _expect(
        "the refresh run's task runs",
        _render(chromium, f"{ui}/runs/flow-run/{runs['refresh']}"),
        ["refresh 4 due of 5", "plan-refreshes", "refresh-crm-api", "publish-refresh-report"],
    )
    _expect(
        "the routing run's task runs",
        _render(chromium, f"{ui}/runs/flow-run/{runs['route']}"),
        ["check-agent-availability-of-3-skills", "message-customers-of-6-conversations"],
    )
    fleet = _artifact_id(api_url, runs["keep-alive"], "token-fleet")
    dom = _render(chromium, f"{ui}/artifacts/artifact/{fleet}", screenshot=image)
    _expect(
        "the fleet table",
        dom,
        ["crm-api", "erp", "legacy-crm", "refresh_expiring", "misconfigured", "UTC (in "],
    )
    cells = [re.sub(r"<[^>]*>", "", cell).strip() for cell in re.findall(r"<td.*?</td>", dom)]
    if not cells or "None" in cells or "sbx-" in dom:
        raise UICheckFailed(f"the fleet table: no cells, a None cell or a secret: {cells}")
    decisions = _artifact_id(api_url, runs["route"], "routing-decisions")
    _expect(
        "the routing decisions",
        _render(chromium, f"{ui}/artifacts/artifact/{decisions}"),
        ["no_agent", "busy", "no_data", "the p90 wait reached the skill's threshold"],
    )
    _expect(
        "automations",
        _render(chromium, f"{ui}/automations"),
        [
            "switchboard.token.refresh-failed → handle-credential-failure (runbook)",
            "liveperson.conversation.routed → route-conversations",
            "prefect.flow-run.heartbeat silent 120 s → crash the flow run",
        ],
    )
    _expect(
        "the Vault block form",
        _render(chromium, f"{ui}/blocks/catalog/switchboard-vault-connection/create"),
        ["Vault address", "AppRole role ID", "CA certificate file", "KV v2 mount"],
    )


@contextmanager
def _servers(workdir: Path) -> Iterator[tuple[str, str]]:
    """OpenBao, the sandbox and Prefect on free ports; (Prefect API URL, sandbox URL)."""
    root_token = f"root-{uuid.uuid4().hex}"
    logs = workdir / "logs"
    started = []
    try:
        bao = start_openbao(port=free_port(), root_token=root_token, log_path=logs / "bao.log")
        started.append(bao)
        sandbox = start_sandbox(port=free_port(), log_path=logs / "sandbox.log")
        started.append(sandbox)
        prefect = start_prefect_server(
            port=free_port(), home=workdir / "prefect", log_path=logs / "prefect.log"
        )
        started.append(prefect)
        os.environ.update(
            {
                "PREFECT_API_URL": prefect.extra["api_url"],
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "SWITCHBOARD_TOKEN_JOURNAL_DIR": str(workdir / "journal"),
                "SWITCHBOARD_TOKEN_MAX_ATTEMPTS": "1",
            }
        )
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from blocks.vault import VaultConnection

        with temporary_settings(updates={PREFECT_API_URL: prefect.extra["api_url"]}):
            VaultConnection(addr=bao.url, token=SecretStr(root_token), base_path=BLOCK).save(
                BLOCK, overwrite=True
            )
            yield prefect.extra["api_url"], sandbox.url
    finally:
        for server in reversed(started):
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.ui_check", description=__doc__)
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "chromium"))
    parser.add_argument("--image", type=Path, default=IMAGE, help="where the fleet table goes")
    args = parser.parse_args(argv)
    chromium = shutil.which(args.chromium)
    if chromium is None:
        print(f"{args.chromium}: not found; apt-get install -y chromium", file=sys.stderr)
        return 2
    with (
        tempfile.TemporaryDirectory(prefix="switchboard-ui-") as tmp,
        _servers(Path(tmp)) as (
            api_url,
            sandbox_url,
        ),
    ):
        deploy_all(api_url)
        _add_credentials(sandbox_url)
        runs = _run_flows(sandbox_url)
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)
        EventsWorker.drain_all(timeout=10)
        args.image.parent.mkdir(parents=True, exist_ok=True)
        try:
            _check_pages(chromium, api_url.removesuffix("/api"), api_url, runs, args.image)
        except UICheckFailed as failed:
            print(f"FAILED {failed}", file=sys.stderr)
            return 1
    print(f"fleet table: {args.image}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
