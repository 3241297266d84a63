"""OpenBao as a three-node Raft cluster on loopback: started, initialised and unsealed here.

The unseal key and root token exist only in this process's memory and in a 0600 file under the
cluster's directory (what an operator would keep in a safe); ``bao`` never sees them on its
command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

from sandbox.servers import ManagedProcess, bao_binary, free_port, spawn

__all__ = ["RaftCluster", "RaftNode", "start_raft_cluster"]

ELECTION_TIMEOUT_SECONDS = 60.0


@dataclass
class RaftNode:
    node_id: str
    port: int
    cluster_port: int
    config: Path
    log_path: Path
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> int | None:
        """``sys/health``'s status: 200 active, 429 standby, 503 sealed, 501 new; None: down."""
        try:
            return httpx2.get(f"{self.url}/v1/sys/health", timeout=2.0).status_code
        except httpx2.HTTPError:
            return None


@dataclass
class RaftCluster:
    nodes: list[RaftNode]
    secrets_file: Path
    _unseal_key: str = field(repr=False, default="")
    _root_token: str = field(repr=False, default="")

    @property
    def root_token(self) -> str:
        return self._root_token

    def active(self) -> RaftNode | None:
        return next((node for node in self.nodes if node.health() == 200), None)

    def wait_for_active(self, *, timeout: float = ELECTION_TIMEOUT_SECONDS) -> RaftNode:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            node = self.active()
            if node is not None:
                return node
            time.sleep(0.2)
        raise TimeoutError(f"no OpenBao node became active within {timeout:.0f} s")

    def kill(self, node: RaftNode) -> None:
        """SIGKILL, as a host that dies: no step-down, no flush."""
        if node.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.process.process.pid, signal.SIGKILL)
            node.process.process.wait(timeout=10)

    def start(self, node: RaftNode) -> None:
        """Start ``node`` (again) and unseal it; it rejoins the cluster as a follower."""
        process = spawn([bao_binary(), "server", f"-config={node.config}"], node.log_path)
        node.process = ManagedProcess(node.node_id, process, node.url, node.log_path)
        _wait(lambda: node.health() is not None, f"{node.node_id} to listen", process=node)
        if self._unseal_key:
            self._unseal(node)

    def _unseal(self, node: RaftNode) -> None:
        # A joining node answers "not initialized" until its retry_join has reached the leader.
        def unsealed() -> bool:
            try:
                httpx2.put(f"{node.url}/v1/sys/unseal", json={"key": self._unseal_key}, timeout=5.0)
            except httpx2.HTTPError:
                return False
            return node.health() in (200, 429)

        _wait(unsealed, f"{node.node_id} to unseal", process=node)

    def initialise(self) -> None:
        first = self.nodes[0]
        answer = httpx2.put(
            f"{first.url}/v1/sys/init",
            json={"secret_shares": 1, "secret_threshold": 1},
            timeout=30.0,
        )
        answer.raise_for_status()
        body = answer.json()
        self._unseal_key = body["keys_base64"][0]
        self._root_token = body["root_token"]
        self.secrets_file.touch(mode=0o600)
        self.secrets_file.write_text(json.dumps({"unseal_key": self._unseal_key, **body}))
        self._unseal(first)
        leader = self.wait_for_active()
        # Autopilot promotes a joined node to voter once it has been healthy this long.
        httpx2.post(
            f"{leader.url}/v1/sys/storage/raft/autopilot/configuration",
            headers={"X-Vault-Token": self._root_token},
            json={"server_stabilization_time": "2s", "cleanup_dead_servers": False},
            timeout=10.0,
        ).raise_for_status()
        for node in self.nodes[1:]:
            self._unseal(node)
        _wait(self._all_voters, "every node to vote", process=first)

    def _all_voters(self) -> bool:
        leader = self.active()
        if leader is None:
            return False
        answer = httpx2.get(
            f"{leader.url}/v1/sys/storage/raft/configuration",
            headers={"X-Vault-Token": self._root_token},
            timeout=5.0,
        )
        servers = answer.json()["data"]["config"]["servers"] if answer.is_success else []
        return len(servers) == len(self.nodes) and all(s["voter"] for s in servers)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                node.process.stop()


def _wait(
    check: Callable[[], bool], what: str, *, process: RaftNode, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        running = process.process
        if running is not None and running.process.poll() is not None:
            raise RuntimeError(f"waiting for {what}: OpenBao exited\n{running.log_tail()}")
        time.sleep(0.2)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def _config(node: RaftNode, data: Path, peers: list[RaftNode]) -> str:
    joins = "".join(
        f'  retry_join {{ leader_api_addr = "{peer.url}" }}\n' for peer in peers if peer is not node
    )
    # performance_multiplier 1: Raft's tight timings (quick elections), right for loopback.
    return (
        f'storage "raft" {{\n  path = "{data}"\n  node_id = "{node.node_id}"\n'
        f"  performance_multiplier = 1\n{joins}}}\n"
        f'listener "tcp" {{\n  address = "127.0.0.1:{node.port}"\n'
        f'  cluster_address = "127.0.0.1:{node.cluster_port}"\n  tls_disable = true\n}}\n'
        f'api_addr = "{node.url}"\ncluster_addr = "https://127.0.0.1:{node.cluster_port}"\n'
        "disable_mlock = true\n"
    )


def start_raft_cluster(root: Path, *, size: int = 3) -> RaftCluster:
    """``size`` OpenBao nodes under ``root``, initialised, unsealed and joined."""
    root.mkdir(parents=True, exist_ok=True)
    nodes = [
        RaftNode(f"bao{i}", free_port(), free_port(), root / f"bao{i}.hcl", root / f"bao{i}.log")
        for i in range(1, size + 1)
    ]
    for node in nodes:
        data = root / node.node_id
        data.mkdir(exist_ok=True)
        node.config.write_text(_config(node, data, nodes))
    cluster = RaftCluster(nodes, root / "init.json")
    try:
        for node in nodes:
            cluster.start(node)
        cluster.initialise()
    except BaseException:
        cluster.stop()
        raise
    return cluster
