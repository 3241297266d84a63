"""Deploy ``prefect.yaml`` to a Prefect server (the process work pool, then every deployment), and
talk to its REST API the way Prefect's own client does when the server is busy."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import yaml

__all__ = [
    "POOL",
    "ROOT",
    "DeployError",
    "deploy_all",
    "install_automations",
    "prefect_api",
    "prefect_cli",
]

ROOT = Path(__file__).resolve().parent.parent
POOL = "switchboard-process"


RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0)


class DeployError(RuntimeError):
    """A ``prefect`` command failed; the message carries its output."""


def prefect_cli(api_url: str, *args: str, timeout: float = 300.0) -> str:
    """Run ``prefect ARGS`` in the checkout against ``api_url``; its stdout, or ``DeployError``."""
    env = {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    result = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise DeployError(f"prefect {' '.join(args)} failed ({result.returncode}):\n{output}")
    return result.stdout


def deploy_all(api_url: str) -> None:
    """Create (or update) the work pool, run ``prefect --no-prompt deploy --all``, and install
    ``automations.yaml``."""
    prefect_cli(api_url, "work-pool", "create", POOL, "--type", "process", "--overwrite")
    prefect_cli(api_url, "--no-prompt", "deploy", "--all")
    install_automations(api_url)


def install_automations(api_url: str, path: Path = ROOT / "automations.yaml") -> None:
    """Create each automation in ``path``, or replace the one of the same name: deploying twice
    leaves one of each (``prefect automation create`` would add a second)."""
    from prefect.events.schemas.automations import AutomationCore

    wanted = [
        AutomationCore.model_validate(spec).model_dump(mode="json")
        for spec in yaml.safe_load(path.read_text())["automations"]
    ]
    with prefect_api(api_url) as api:
        existing = api.post("automations/filter", json={}).raise_for_status().json()
        ids = {automation["name"]: automation["id"] for automation in existing}
        for automation in wanted:
            if automation["name"] in ids:
                api.put(
                    f"automations/{ids[automation['name']]}", json=automation
                ).raise_for_status()
            else:
                api.post("automations/", json=automation).raise_for_status()


class _RetryOn503(httpx2.HTTPTransport):
    """Prefect on SQLite answers 503 while its database is locked: try again a little later."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        for delay in RETRY_DELAYS:
            response = super().handle_request(request)
            if response.status_code != 503:
                return response
            response.close()
            time.sleep(delay)
        return super().handle_request(request)


def prefect_api(api_url: str, *, timeout: float = 30.0) -> httpx2.Client:
    """A client for Prefect's REST API at ``api_url`` (paths relative to ``/api/``)."""
    return httpx2.Client(
        base_url=api_url.rstrip("/") + "/", timeout=timeout, transport=_RetryOn503()
    )
