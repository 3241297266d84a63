"""HAProxy (Debian's ``haproxy``) in front of each replicated service, with active health checks.

A backend server leaves the rotation after one failed check (checks every 500 ms) and a request
refused by a dead server is sent to another (``retry-on conn-failure`` with ``redispatch``), so a
killed replica costs the callers a retry, not an error.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sandbox.servers import ManagedProcess, free_port, spawn, wait_for_http

__all__ = ["Backend", "start_haproxy"]


@dataclass(frozen=True)
class Backend:
    """A balanced service: its name, the health path its servers answer 200 on, and servers."""

    name: str
    health_path: str
    servers: tuple[str, ...]  # host:port each


def _config(frontends: dict[str, int], backends: list[Backend], stats_port: int) -> str:
    lines = [
        "global",
        "  maxconn 4096",
        "defaults",
        "  mode http",
        "  timeout connect 2s",
        "  timeout client 120s",
        "  timeout server 120s",
        "  timeout http-keep-alive 10s",
        "  option redispatch",
        "  retries 3",
        "  retry-on conn-failure empty-response",
        "frontend stats",
        f"  bind 127.0.0.1:{stats_port}",
        "  http-request return status 200 content-type text/plain string ok if { path /healthz }",
        "  stats enable",
        "  stats uri /stats",
    ]
    for backend in backends:
        lines += [
            f"frontend {backend.name}",
            f"  bind 127.0.0.1:{frontends[backend.name]}",
            f"  default_backend {backend.name}_servers",
            f"backend {backend.name}_servers",
            "  balance roundrobin",
            f"  option httpchk GET {backend.health_path}",
            "  http-check expect status 200",
            "  default-server inter 500ms fall 1 rise 2",
        ]
        lines += [
            f"  server {backend.name}{i} {address} check"
            for i, address in enumerate(backend.servers, start=1)
        ]
    return "\n".join(lines) + "\n"


def start_haproxy(workdir: Path, backends: list[Backend]) -> ManagedProcess:
    """HAProxy balancing ``backends``; ``extra`` maps each backend's name to its URL."""
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        raise RuntimeError("HAProxy not found: apt-get install haproxy (.ci/run does)")
    frontends = {backend.name: free_port() for backend in backends}
    stats_port = free_port()
    config = workdir / "haproxy.cfg"
    config.write_text(_config(frontends, backends, stats_port))
    log_path = workdir / "haproxy.log"
    process = spawn([binary, "-db", "-f", str(config)], log_path)  # -db: stay in the foreground
    urls = {name: f"http://127.0.0.1:{port}" for name, port in frontends.items()}
    balancer = ManagedProcess("haproxy", process, f"http://127.0.0.1:{stats_port}", log_path, urls)
    try:
        wait_for_http(f"{balancer.url}/healthz", process=process)
    except BaseException:
        balancer.stop()
        raise
    return balancer
