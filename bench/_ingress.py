"""Start a routing server as its own process: Switchboard's ingress (``switchboard ingest``),
the plain one, or the raw floor (``bench._raw_routing``).

The plain ingress (``python -m bench._plain_ingress``) is the same ASGI app and batcher with a
handler that calls ``switchboard.routing.route_batch`` directly: Switchboard without Prefect.
Comparing the two isolates what the flow runs cost.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Sequence

from pydantic import SecretStr

from bench._servers import BenchServers
from sandbox.servers import ManagedProcess, free_port, ready, spawn
from scripts.deploy import ROOT

__all__ = [
    "INGRESS_COMMAND",
    "PLAIN_INGRESS_COMMAND",
    "RAW_INGRESS_COMMAND",
    "WEBHOOK_SECRET",
    "account_env",
    "start_ingress",
]

INGRESS_COMMAND = (sys.executable, "-m", "serve", "ingest")
PLAIN_INGRESS_COMMAND = (sys.executable, "-m", "bench._plain_ingress")
RAW_INGRESS_COMMAND = (sys.executable, "-m", "bench._raw_routing")
WEBHOOK_SECRET = SecretStr("sbx-webhook-" + secrets.token_urlsafe(24))
"""The bench's ingresses take only requests signed with this (the load generator signs)."""


def account_env(
    servers: BenchServers, account_id: str, bearer_credential: str, **extra: str
) -> dict[str, str]:
    """Environment of a process that routes for ``account_id`` against the sandbox."""
    return servers.child_env(
        SWITCHBOARD_LP_ACCOUNT_ID=account_id,
        SWITCHBOARD_LP_CSDS_HOST=servers.sandbox.url.removeprefix("http://"),
        SWITCHBOARD_LP_SCHEME="http",
        SWITCHBOARD_LP_BEARER_CREDENTIAL=bearer_credential,
        **extra,
    )


def start_ingress(
    servers: BenchServers,
    *,
    name: str,
    command: Sequence[str],
    account_id: str,
    bearer_credential: str,
    extra_env: dict[str, str] | None = None,
) -> ManagedProcess:
    """Start ``command`` serving account ``account_id``; wait until ``/healthz`` answers."""
    port = free_port()
    env = account_env(
        servers,
        account_id,
        bearer_credential,
        SWITCHBOARD_INGRESS_HOST="127.0.0.1",
        SWITCHBOARD_INGRESS_PORT=str(port),
        SWITCHBOARD_INGRESS_WEBHOOK_SECRET=WEBHOOK_SECRET.get_secret_value(),
        **(extra_env or {}),
    )
    log_path = servers.workdir / f"{name}.log"
    process = spawn(command, log_path, base_env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    ingress = ManagedProcess(name, process, url, log_path, {"events_url": f"{url}/events"})
    return ready(ingress, f"{url}/healthz", timeout=120)
