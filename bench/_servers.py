"""The bench's own servers: OpenBao dev with a file audit device, the sandbox, a Prefect server.

OpenBao refuses to enable audit devices through its API, so the device is declared in a config
file passed next to ``-dev``. The audit log is the honest counter of Vault operations.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sandbox.servers import (
    ManagedProcess,
    free_port,
    start_openbao,
    start_prefect_server,
    start_sandbox,
)

__all__ = ["BenchServers", "bench_servers", "start_audited_openbao", "start_postgres"]


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


def _postgres_bin_dir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL (initdb, postgres) not found: apt-get install postgresql")
    return Path(initdb).resolve().parent


def start_postgres(workdir: Path) -> tuple[ManagedProcess, str]:
    """A private PostgreSQL cluster with a database ``prefect``; its SQLAlchemy URL.

    PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user.
    Durability settings are PostgreSQL's defaults (fsync on).
    """
    bin_dir = _postgres_bin_dir()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = workdir / "postgres"
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir(parents=True)
    if as_postgres:
        workdir.chmod(0o711)  # let the postgres user reach its own directory
        for path in (root, sockets):
            shutil.chown(path, user="postgres")
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "switchboard", "--auth=trust"]
    subprocess.run([*as_postgres, *initdb, "--encoding=UTF8"], check=True, capture_output=True)
    port = free_port()
    argv = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets)]
    log_path = workdir / "postgres.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*as_postgres, *argv, "-c", "listen_addresses=127.0.0.1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = ManagedProcess("postgres", process, f"127.0.0.1:{port}", log_path)
    address = ["-h", "127.0.0.1", "-p", str(port), "-U", "switchboard"]
    deadline = time.monotonic() + 60
    while subprocess.run([str(bin_dir / "pg_isready"), "-q", *address]).returncode:
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"PostgreSQL did not start:\n{server.log_tail()}")
        time.sleep(0.2)
    subprocess.run([str(bin_dir / "createdb"), *address, "prefect"], check=True)
    return server, f"postgresql+asyncpg://switchboard@127.0.0.1:{port}/prefect"


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
            postgres, database_url = start_postgres(workdir)
            started.append(postgres)
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
