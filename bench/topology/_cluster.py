"""The production shape on one machine (README "Running at scale"), from the project's files.

PostgreSQL and Redis behind two Prefect API servers (``--no-services``) and one
``prefect server services start``; two process workers; two ``switchboard ingest``; OpenBao as a
three-node Raft cluster. HAProxy balances the API servers, the ingresses and OpenBao (its active
node only). Workers and ingresses reach everything through the balancer, with their AppRole
identities, never a root token.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hvac
from pydantic import SecretStr

from bench._fleet import acquire_bearer
from bench._ingress import WEBHOOK_SECRET
from bench._scenario import set_scenario
from bench.topology._balancer import Backend, start_haproxy
from bench.topology._openbao_raft import RaftCluster, start_raft_cluster
from bench.topology._redis import start_redis
from sandbox.servers import (
    ManagedProcess,
    free_port,
    ready,
    spawn,
    start_postgres,
    start_prefect_server,
    start_sandbox,
)
from scripts.deploy import POOL, ROOT, deploy_all
from switchboard import admin

__all__ = ["Topology", "TopologyShape", "start_topology"]

LP_BEARER = "liveperson"


@dataclass(frozen=True)
class TopologyShape:
    api_servers: int = 2
    workers: int = 2
    ingresses: int = 2
    openbao_nodes: int = 3
    durable: bool = True  # PostgreSQL fsync; tests turn it off for speed
    account_id: str = "cluster-account"


@dataclass
class Topology:
    """The running processes and the addresses their clients use (all through HAProxy)."""

    workdir: Path
    shape: TopologyShape
    postgres: ManagedProcess
    redis: ManagedProcess
    openbao: RaftCluster
    sandbox: ManagedProcess
    balancer: ManagedProcess
    api_servers: list[ManagedProcess] = field(default_factory=list)
    services: ManagedProcess | None = None
    workers: list[ManagedProcess] = field(default_factory=list)
    ingresses: list[ManagedProcess] = field(default_factory=list)
    webhook_secret: SecretStr = WEBHOOK_SECRET  # the load generator signs with it
    redis_password: SecretStr = field(default=SecretStr(""), repr=False)
    _flows_env: dict[str, str] = field(default_factory=dict, repr=False)
    _routing_env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def api_url(self) -> str:
        return self.balancer.extra["prefect"] + "/api"

    @property
    def vault_url(self) -> str:
        return self.balancer.extra["openbao"]

    @property
    def ingress_url(self) -> str:
        return self.balancer.extra["ingress"]

    def vault_root(self) -> hvac.Client:
        """An administrator's client (root token) through the balancer."""
        return hvac.Client(url=self.vault_url, token=self.openbao.root_token, timeout=30)

    def prefect_env(self) -> dict[str, str]:
        """What every Prefect server process shares: the database and Redis."""
        redis_port = self.redis.url.rsplit(":", 1)[1]
        return {
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": self.postgres.extra["url"],
            "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
            "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
            "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
            "PREFECT_REDIS_MESSAGING_HOST": "127.0.0.1",
            "PREFECT_REDIS_MESSAGING_PORT": redis_port,
            "PREFECT_REDIS_MESSAGING_PASSWORD": self.redis_password.get_secret_value(),
            "PREFECT_SERVER_DOCKET_URL": (
                f"redis://:{self.redis_password.get_secret_value()}@127.0.0.1:{redis_port}/1"
            ),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_API_URL": self.api_url,
        }

    def client_env(self, name: str) -> dict[str, str]:
        """A Switchboard process's environment: the balancer's addresses, no Vault token."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("VAULT_")}
        return {
            **env,
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(self.workdir / f"{name}-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "VAULT_ADDR": self.vault_url,
            "SWITCHBOARD_TOKEN_JOURNAL_DIR": str(self.workdir / f"{name}-journal"),
            "SWITCHBOARD_LP_ACCOUNT_ID": self.shape.account_id,
            "SWITCHBOARD_LP_CSDS_HOST": self.sandbox.url.removeprefix("http://"),
            "SWITCHBOARD_LP_SCHEME": "http",
            "SWITCHBOARD_LP_BEARER_CREDENTIAL": LP_BEARER,
        }

    def start_worker(self, index: int) -> ManagedProcess:
        name = f"worker{index}"
        argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL]
        env = {
            **self.client_env(name),
            **self._flows_env,
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            # flow runs beat every 30 s; automations.yaml crashes a run silent for 120 s
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
        }
        process = spawn([*argv, "--name", name], self.workdir / f"{name}.log", base_env=env)
        worker = ManagedProcess(name, process, self.api_url, self.workdir / f"{name}.log")
        self._replace(self.workers, index, worker)
        return worker

    def start_ingress(self, index: int, port: int) -> ManagedProcess:
        name = f"ingress{index}"
        env = {
            **self.client_env(name),
            **self._routing_env,
            "SWITCHBOARD_INGRESS_HOST": "127.0.0.1",
            "SWITCHBOARD_INGRESS_PORT": str(port),
            "SWITCHBOARD_INGRESS_WEBHOOK_SECRET": self.webhook_secret.get_secret_value(),
        }
        argv = [sys.executable, "-m", "serve", "ingest"]
        process = spawn(argv, self.workdir / f"{name}.log", base_env=env, cwd=ROOT)
        url = f"http://127.0.0.1:{port}"
        ingress = ready(
            ManagedProcess(name, process, url, self.workdir / f"{name}.log", {"port": str(port)}),
            f"{url}/healthz",
            timeout=120,
        )
        self._replace(self.ingresses, index, ingress)
        return ingress

    def start_api_server(self, index: int, port: int) -> ManagedProcess:
        env = self.prefect_env()
        if index > 1:  # the first one migrates the schema; the others must not race it
            env["PREFECT_SERVER_DATABASE_MIGRATE_ON_START"] = "false"
        server = start_prefect_server(
            port=port,
            home=self.workdir / f"api{index}-home",
            log_path=self.workdir / f"api{index}.log",
            services=False,
            extra_env=env,
        )
        server.name = f"api{index}"
        self._replace(self.api_servers, index, server)
        return server

    def start_services(self) -> ManagedProcess:
        env = {**os.environ, **self.prefect_env(), "PREFECT_HOME": str(self.workdir / "svc-home")}
        argv = [sys.executable, "-m", "prefect", "server", "services", "start"]
        log_path = self.workdir / "services.log"
        self.services = ManagedProcess(
            "services", spawn(argv, log_path, base_env=env), self.api_url, log_path
        )
        return self.services

    @staticmethod
    def _replace(replicas: list[ManagedProcess], index: int, process: ManagedProcess) -> None:
        if len(replicas) >= index:
            replicas[index - 1] = process
        else:
            replicas.append(process)

    def processes(self) -> dict[str, ManagedProcess]:
        """Every process by name, for CPU accounting and log tails."""
        found = {p.name: p for p in (self.postgres, self.redis, self.sandbox, self.balancer)}
        for node in self.openbao.nodes:
            if node.process is not None:
                found[node.node_id] = node.process
        for replica in [*self.api_servers, *self.workers, *self.ingresses]:
            found[replica.name] = replica
        if self.services is not None:
            found["services"] = self.services
        return found

    def log_tails(self, lines: int = 15) -> str:
        return "\n".join(
            f"--- {name} ({process.log_path}) ---\n{process.log_tail(lines)}"
            for name, process in self.processes().items()
        )

    def stop(self) -> None:
        for replica in [*self.ingresses, *self.workers]:
            replica.stop(timeout=30)
        if self.services is not None:
            self.services.stop(timeout=30)
        for server in self.api_servers:
            server.stop(timeout=30)
        self.balancer.stop()
        self.sandbox.stop()
        self.openbao.stop()
        self.redis.stop()
        self.postgres.stop(timeout=30)


def _prepare_vault(topology: Topology) -> None:
    """KV v2, the policies and AppRoles, the LivePerson bearer: what an operator does once."""
    root = topology.vault_root()
    if "secret/" not in root.sys.list_mounted_secrets_engines()["data"]:
        root.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    admin.set_up(root)
    flows = admin.issue_identity(root)
    routing = admin.issue_identity(root, role=admin.ROUTING_ROLE)
    topology._flows_env.update(flows.as_env())
    topology._routing_env.update(routing.as_env())


def _seed_bearer(topology: Topology) -> None:
    """The LivePerson bearer credential, acquired once, and the account's routing scenario."""
    acquire_bearer(
        sandbox_url=topology.sandbox.url,
        vault_url=topology.vault_url,
        vault_token=topology.openbao.root_token,
        name=LP_BEARER,
        journal_dir=topology.workdir / "admin-journal",
    )
    set_scenario(topology.sandbox.url, topology.shape.account_id)


def _step(message: str) -> None:
    print(f"cluster: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def start_topology(workdir: Path, shape: TopologyShape | None = None) -> Iterator[Topology]:
    """Start the whole topology under ``workdir``, deploy the project's flows, stop it after."""
    shape = shape or TopologyShape()
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o711)  # PostgreSQL runs as its own user and must reach its directory
    started = time.monotonic()
    stack = contextlib.ExitStack()
    with stack:
        _step("PostgreSQL, Redis, OpenBao (Raft), sandbox")
        postgres = start_postgres(
            workdir / "postgres", log_path=workdir / "postgres.log", durable=shape.durable
        )
        stack.callback(postgres.stop, 30)
        redis_password = SecretStr("sbx-redis-" + secrets.token_urlsafe(24))
        redis = start_redis(workdir, port=free_port(), password=redis_password.get_secret_value())
        stack.callback(redis.stop)
        openbao = start_raft_cluster(workdir / "openbao", size=shape.openbao_nodes)
        stack.callback(openbao.stop)
        sandbox = start_sandbox(port=free_port(), log_path=workdir / "sandbox.log")
        stack.callback(sandbox.stop)
        api_ports = [free_port() for _ in range(shape.api_servers)]
        ingress_ports = [free_port() for _ in range(shape.ingresses)]
        balancer = start_haproxy(
            workdir,
            [
                Backend("prefect", "/api/health", tuple(f"127.0.0.1:{p}" for p in api_ports)),
                Backend("ingress", "/healthz", tuple(f"127.0.0.1:{p}" for p in ingress_ports)),
                Backend(
                    "openbao",
                    "/v1/sys/health",  # 200 on the active node only
                    tuple(f"127.0.0.1:{node.port}" for node in openbao.nodes),
                ),
            ],
        )
        stack.pop_all()  # from here Topology.stop() owns every process
    topology = Topology(
        workdir, shape, postgres, redis, openbao, sandbox, balancer, redis_password=redis_password
    )
    try:
        _step(f"{shape.api_servers} Prefect API servers and the services")
        for index, port in enumerate(api_ports, start=1):
            topology.start_api_server(index, port)
        topology.start_services()
        openbao.wait_for_active()
        _prepare_vault(topology)
        _seed_bearer(topology)
        _step("deploying the flows")
        deploy_all(topology.api_url)
        _step(f"{shape.workers} workers and {shape.ingresses} ingresses")
        for index in range(1, shape.workers + 1):
            topology.start_worker(index)
        for index, port in enumerate(ingress_ports, start=1):
            topology.start_ingress(index, port)
        _step(f"up in {time.monotonic() - started:.0f} s")
        yield topology
    finally:
        topology.stop()
