"""Scale-out shape: the project's deployments on a Prefect server backed by PostgreSQL, run by a
separate ``prefect worker`` process, the flows logged in to OpenBao with the flows' AppRole.

PostgreSQL is Debian's ``postgresql`` (``.ci/run`` installs it): a private cluster is initialised
in a temporary directory on a free loopback port and removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import hvac
import pytest

from sandbox.servers import (
    ManagedProcess,
    free_port,
    postgres_bin_dir,
    start_postgres,
    start_prefect_server,
)
from scripts.deploy import POOL, deploy_all, prefect_api
from scripts.hygiene import SECRET_PATTERN
from switchboard import admin

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

RUN_TIMEOUT_SECONDS = 240.0
SCHEDULED = ("every-minute", "daily")


@dataclass(frozen=True)
class Cluster:
    bin_dir: Path
    port: int

    @property
    def address(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "switchboard"]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://switchboard@127.0.0.1:{self.port}/prefect"

    def dump(self) -> bytes:
        """Everything Prefect stored, as SQL text."""
        command = [str(self.bin_dir / "pg_dump"), *self.address, "prefect"]
        return subprocess.run(command, check=True, capture_output=True).stdout


@pytest.fixture(scope="module")
def postgres(session_dir: Path) -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster with a database ``prefect``."""
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL binaries (initdb, postgres) not found: apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))  # under /tmp: postgres may enter
    server = start_postgres(root, log_path=session_dir / "postgres.log", durable=False)
    try:
        yield Cluster(Path(server.extra["bin_dir"]), int(server.extra["port"]))
    finally:
        server.stop(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_prefect(postgres: Cluster, session_dir: Path) -> Iterator[ManagedProcess]:
    """``prefect server start`` on PostgreSQL."""
    server = start_prefect_server(
        port=free_port(),
        home=session_dir / "pg-prefect-home",
        log_path=session_dir / "pg-prefect.log",
        database_url=postgres.url,
    )
    try:
        yield server
    finally:
        server.stop()


def pause_schedules(api: httpx2.Client) -> None:
    """Keep scheduled runs (which would discover every credential in the shared test Vault) away."""
    deployments = api.post("deployments/filter", json={}).json()
    for deployment in deployments:
        if deployment["name"] in SCHEDULED:
            api.patch(f"deployments/{deployment['id']}", json={"paused": True}).raise_for_status()
            runs = api.post(
                "flow_runs/filter",
                json={"deployments": {"id": {"any_": [deployment["id"]]}}, "limit": 200},
            ).json()
            for run in runs:
                api.delete(f"flow_runs/{run['id']}").raise_for_status()


def wait_for_final_state(api: httpx2.Client, flow_run_id: str, worker: ManagedProcess) -> Any:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        run = api.get(f"flow_runs/{flow_run_id}").json()
        if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        if worker.process.poll() is not None:
            pytest.fail(f"the worker exited:\n{worker.log_tail()}")
        time.sleep(1)
    pytest.fail(f"flow run {flow_run_id} did not finish:\n{worker.log_tail()}")


@pytest.fixture
def flows_identity_env(vault_root: hvac.Client, openbao: ManagedProcess) -> dict[str, str]:
    """Environment for the flows: the AppRole identity only, no Vault token."""
    admin.set_up(vault_root)
    identity = admin.issue_identity(vault_root)
    env = {k: v for k, v in os.environ.items() if k != "VAULT_TOKEN"}
    env.update(
        VAULT_ADDR=openbao.url,
        SWITCHBOARD_VAULT_ROLE_ID=identity.role_id,
        SWITCHBOARD_VAULT_SECRET_ID=identity.secret_id.get_secret_value(),
    )
    return env


def test_a_separate_worker_runs_a_deployment_on_postgres(
    postgres: Cluster,
    pg_prefect: ManagedProcess,
    sandbox: ManagedProcess,
    vault_root: hvac.Client,
    flows_identity_env: dict[str, str],
    session_dir: Path,
    unique_name: str,
) -> None:
    api_url = pg_prefect.extra["api_url"]
    with prefect_api(api_url) as api:
        deploy_all(api_url)
        pause_schedules(api)

        client = httpx2.post(
            f"{sandbox.url}/_control/clients", json={"grant_types": ["client_credentials"]}
        ).json()
        vault_root.secrets.kv.v2.create_or_update_secret(
            path=f"switchboard/credentials/{unique_name}/client",
            secret={
                "token_url": f"{sandbox.url}/oauth/token",
                "client_id": client["client_id"],
                "client_secret": client["client_secret"],
                "grant": "client_credentials",
            },
        )

        worker_log = session_dir / "pg-worker.log"
        env = {
            **flows_identity_env,
            "PREFECT_API_URL": api_url,
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_HOME": str(session_dir / "pg-worker-home"),
            "SWITCHBOARD_TOKEN_JOURNAL_DIR": str(session_dir / "pg-worker-journal"),
        }
        argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL]
        with worker_log.open("ab") as log:
            process = subprocess.Popen(
                [*argv, "--name", f"pg-{unique_name}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        worker = ManagedProcess("worker", process, api_url, worker_log)
        try:
            refresh = next(
                d
                for d in api.post("deployments/filter", json={}).json()
                if d["name"] == "every-minute"
            )
            created = api.post(
                f"deployments/{refresh['id']}/create_flow_run",
                json={"parameters": {"credentials": [unique_name], "force": True}},
            )
            assert created.status_code == 201, created.text
            run = wait_for_final_state(api, created.json()["id"], worker)
        finally:
            worker.stop(timeout=30)

    assert run["state_type"] == "COMPLETED", f"{run['state_name']}:\n{worker.log_tail(60)}"
    token = vault_root.secrets.kv.v2.read_secret_version(
        path=f"switchboard/credentials/{unique_name}/token"
    )["data"]["data"]
    assert token["access_token"].startswith("sbx-")
    health = vault_root.secrets.kv.v2.read_secret_version(
        path=f"switchboard/credentials/{unique_name}/health"
    )["data"]["data"]
    assert health["state"] == "healthy"

    findings = [m.group()[:8] for m in SECRET_PATTERN.finditer(postgres.dump())]
    assert not findings, f"sandbox secrets in Prefect's PostgreSQL database: {findings}"
