"""The bench's own servers: OpenBao dev with a file audit device, the sandbox, a Prefect server.

OpenBao refuses to enable audit devices through its API, so the device is declared in a config
file passed next to ``-dev``. The audit log is the honest counter of Vault operations.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sandbox.servers import (
    ManagedProcess,
    free_port,
    start_openbao,
    start_postgres,
    start_prefect_server,
    start_sandbox,
)

__all__ = ["BenchServers", "bench_servers", "start_audited_openbao"]


def start_audited_openbao(*, port: int, root_token: str, workdir: Path) -> ManagedProcess:
    """OpenBao dev server on ``port`` whose every request is logged to ``workdir/audit.log``."""
    audit_log = workdir / "audit.log"
    config = workdir / "audit.hcl"
    config.write_text(
        f'audit "file" "bench" {{\n  options {{\n    file_path = "{audit_log}"\n  }}\n}}\n'
    )
    server = start_openbao(
        port=port, root_token=root_token, log_path=workdir / "openbao.log", dev_config=config
    )
    server.extra["audit_log"] = str(audit_log)
    return server


@dataclass
class BenchServers:
    """Addresses of the running servers and the environment child processes need."""

    workdir: Path
    openbao: ManagedProcess
    sandbox: ManagedProcess
    prefect: ManagedProcess
    root_token: str
    database: str = "sqlite"

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
def bench_servers(workdir: Path, *, database: str = "sqlite") -> Iterator[BenchServers]:
    """Start OpenBao, the sandbox and a Prefect server; stop them after.

    The Prefect server stores its data in SQLite under ``workdir`` (the embedded default), or
    with ``database="postgres"`` in a private PostgreSQL cluster (the scale-out shape).
    """
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
        database_url = None
        if database == "postgres":
            workdir.chmod(0o711)  # let the postgres user reach its cluster's directory
            postgres = start_postgres(workdir / "postgres", log_path=workdir / "postgres.log")
            started.append(postgres)
            database_url = postgres.extra["url"]  # durable settings, as in production
        prefect = start_prefect_server(
            port=free_port(),
            home=workdir / "prefect-home",
            log_path=workdir / "prefect.log",
            database_url=database_url,
        )
        started.append(prefect)
        yield BenchServers(workdir, openbao, sandbox, prefect, root_token, database)
    finally:
        for server in reversed(started):
            server.stop()
