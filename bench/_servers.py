"""The bench's own servers: OpenBao dev with a file audit device, the sandbox, a Prefect server.

OpenBao refuses to enable audit devices through its API, so the device is declared in a config
file passed next to ``-dev``. The audit log is the honest counter of Vault operations.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sandbox.servers import (
    ManagedProcess,
    bao_binary,
    free_port,
    start_prefect_server,
    start_sandbox,
    wait_for_http,
)

__all__ = ["BenchServers", "bench_servers", "start_audited_openbao"]


def start_audited_openbao(*, port: int, root_token: str, workdir: Path) -> ManagedProcess:
    """OpenBao dev server on ``port`` whose every request is logged to ``workdir/audit.log``."""
    audit_log = workdir / "audit.log"
    config = workdir / "audit.hcl"
    config.write_text(
        f'audit "file" "bench" {{\n  options {{\n    file_path = "{audit_log}"\n  }}\n}}\n'
    )
    log_path = workdir / "openbao.log"
    argv = [
        bao_binary(),
        "server",
        "-dev",
        f"-dev-root-token-id={root_token}",
        f"-dev-listen-address=127.0.0.1:{port}",
        f"-config={config}",
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    server = ManagedProcess("openbao", process, url, log_path, {"audit_log": str(audit_log)})
    try:
        wait_for_http(f"{url}/v1/sys/health", process=process)
    except BaseException:
        server.stop()
        raise
    return server


@dataclass
class BenchServers:
    """Addresses of the running servers and the environment child processes need."""

    workdir: Path
    openbao: ManagedProcess
    sandbox: ManagedProcess
    prefect: ManagedProcess
    root_token: str

    @property
    def audit_log(self) -> Path:
        return Path(self.openbao.extra["audit_log"])

    def child_env(self, **extra: str) -> dict[str, str]:
        """Environment for a Switchboard process (ingress, flow run) using these servers."""
        return {
            **os.environ,
            "VAULT_ADDR": self.openbao.url,
            "VAULT_TOKEN": self.root_token,
            "PREFECT_API_URL": self.prefect.extra["api_url"],
            "PREFECT_HOME": str(self.workdir / "prefect-client-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "SWITCHBOARD_TOKEN_JOURNAL_DIR": str(self.workdir / "journal"),
            **extra,
        }

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {server.name} ({server.log_path}) ---\n{server.log_tail()}"
            for server in (self.openbao, self.sandbox, self.prefect)
        )


@contextlib.contextmanager
def bench_servers(workdir: Path) -> Iterator[BenchServers]:
    """Start OpenBao, the sandbox and a Prefect server (SQLite under ``workdir``); stop them after."""
    workdir.mkdir(parents=True, exist_ok=True)
    root_token = "bench-root-" + uuid.uuid4().hex
    started: list[ManagedProcess] = []
    try:
        print(
            "bench: starting OpenBao (dev, audited), sandbox, Prefect server ...", file=sys.stderr
        )
        openbao = start_audited_openbao(port=free_port(), root_token=root_token, workdir=workdir)
        started.append(openbao)
        sandbox = start_sandbox(port=free_port(), log_path=workdir / "sandbox.log")
        started.append(sandbox)
        prefect = start_prefect_server(
            port=free_port(), home=workdir / "prefect-home", log_path=workdir / "prefect.log"
        )
        started.append(prefect)
        yield BenchServers(workdir, openbao, sandbox, prefect, root_token)
    finally:
        for server in reversed(started):
            server.stop()
