"""Start the ingress as its own process: Switchboard's (``switchboard ingest``) or the plain one.

The plain ingress (``python -m bench._plain_ingress``) is the same ASGI app and batcher with a
handler that calls ``switchboard.routing.route_batch`` directly: Switchboard without Prefect.
Comparing the two isolates what the flow runs cost.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bench._servers import BenchServers
from sandbox.servers import ManagedProcess, free_port, wait_for_http

__all__ = [
    "INGRESS_COMMAND",
    "PLAIN_INGRESS_COMMAND",
    "account_env",
    "start_ingress",
]

INGRESS_COMMAND = (sys.executable, "-m", "switchboard.ingress")
PLAIN_INGRESS_COMMAND = (sys.executable, "-m", "bench._plain_ingress")


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
        **(extra_env or {}),
    )
    log_path = servers.workdir / f"{name}.log"
    with Path(log_path).open("ab") as log:
        process = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    ingress = ManagedProcess(name, process, url, log_path, {"events_url": f"{url}/events"})
    try:
        wait_for_http(f"{url}/healthz", process=process, timeout=120)
    except BaseException:
        ingress.stop()
        raise
    return ingress
