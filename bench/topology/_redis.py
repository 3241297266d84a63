"""Redis (Debian's ``redis-server``) on loopback, appending every write to disk so a restart
keeps Prefect's streams: the recovery under test is Prefect's, not a lucky empty cache.

It requires a password (any local user could otherwise inject Prefect events), kept in a 0600
config file rather than on the command line, which ``ps`` shows to every user."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

from sandbox.servers import ManagedProcess, spawn

__all__ = ["start_redis"]


def start_redis(workdir: Path, *, port: int, password: str) -> ManagedProcess:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: apt-get install redis-server (.ci/run does)")
    data = workdir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    config = data / "redis.conf"
    config.touch(mode=0o600)
    config.write_text(
        f'bind 127.0.0.1\nport {port}\ndir {data}\nappendonly yes\nsave ""\n'
        f"requirepass {password}\n"
    )
    log_path = workdir / "redis.log"
    process = spawn([binary, str(config)], log_path)
    server = ManagedProcess("redis", process, f"redis://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")  # answered, if only with NOAUTH: it is up
                if sock.recv(16).startswith((b"+PONG", b"-NOAUTH")):
                    return server
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"Redis did not start:\n{server.log_tail()}")
        time.sleep(0.1)
