"""A one-node OpenBao on disk (Raft) that tests can stop and start again: a real outage."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import hvac

from sandbox.servers import ManagedProcess, free_port, start_openbao, wait_for_http


class DiskVault:
    """OpenBao on Raft under ``directory``: initialised, unsealed, KV v2 mounted at ``secret``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.server: ManagedProcess | None = None
        self.starts = 0
        self._start()
        result = hvac.Client(url=self.url).sys.initialize(secret_shares=1, secret_threshold=1)
        self.root_token: str = result["root_token"]
        self.keys: list[str] = result["keys"]
        self._unseal()
        admin = hvac.Client(url=self.url, token=self.root_token)
        admin.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self) -> None:
        self.starts += 1
        self.server = start_openbao(
            port=self.port,
            root_token="",
            storage_dir=self.directory,
            log_path=self.directory.parent / f"bao-{self.starts}.log",
        )

    def _unseal(self) -> None:
        hvac.Client(url=self.url).sys.submit_unseal_keys(self.keys)
        wait_for_http(f"{self.url}/v1/sys/health", timeout=30)  # 200: unsealed, raft leader

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def restart(self) -> None:
        self._start()
        self._unseal()

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """Vault is down inside the block, and up (unsealed) again after it."""
        self.stop()
        try:
            yield
        finally:
            self.restart()
