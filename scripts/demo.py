"""``make demo``: Switchboard end to end on this machine, from a fresh clone.

Starts OpenBao (dev), the sandbox (OAuth 2 server + LivePerson simulator) and a Prefect server
on SQLite under ``.state/prefect``; sets up the flows' and the ingress's AppRoles; seeds Vault as
an operator would; deploys ``prefect.yaml``; starts a worker under the flows' identity and the
ingress under the routing identity (the LivePerson bearer's token, nothing else); then acquires
and refreshes tokens, routes a batch of events through the ingress and one through the event
trigger, and prints what happened. It keeps serving (schedules, UI, ingress) until Ctrl-C;
``DEMO_ONCE=1`` stops after the scenario.

Ports: ``DEMO_PREFECT_PORT`` (4200), ``DEMO_VAULT_PORT`` (8200, and OpenBao's cluster listener
takes the next one), ``DEMO_SANDBOX_PORT`` (8300), ``DEMO_INGRESS_PORT`` (8400); state:
``DEMO_STATE_DIR`` (``.state``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx2
import hvac
from pydantic import SecretStr

from sandbox.servers import (
    ManagedProcess,
    PortInUse,
    port_in_use,
    spawn,
    start_openbao,
    start_prefect_server,
    start_sandbox,
    wait_for_http,
)
from scripts.deploy import POOL, ROOT, DeployError, deploy_all, prefect_api, prefect_cli
from scripts.hygiene import scan_api, scan_paths
from switchboard import VaultSettings, admin
from switchboard.ingress import signed_headers
from switchboard.vault import VaultSession

__all__ = ["DemoConfig", "main"]

ACCOUNT_ID = "demo-brand"
BLOCK = "demo"  # the name of the demo's LivePersonAccount document
ROUTING_BLOCK = "demo-routing"  # the VaultConnection with the ingress's routing identity
BEARER = "liveperson"  # the LivePerson bearer credential: all the routing identity may read
RUN_TIMEOUT_SECONDS = 180.0
PORTS = {  # what, environment variable, default
    "prefect": ("Prefect server", "DEMO_PREFECT_PORT", 4200),
    "vault": ("OpenBao", "DEMO_VAULT_PORT", 8200),
    "sandbox": ("sandbox", "DEMO_SANDBOX_PORT", 8300),
    "ingress": ("ingress", "DEMO_INGRESS_PORT", 8400),
}
# Skills of the simulated brand: no agent online, a long queue, a short queue, no queue data.
SCENARIO: dict[str, dict[str, Any]] = {
    "101": {"agents": [{"agentId": "a1", "currentStatus": "AWAY"}], "wait_p90_ms": 60_000},
    "102": {"agents": [{"agentId": "a2", "currentStatus": "ONLINE"}], "wait_p90_ms": 540_000},
    "103": {"agents": [{"agentId": "a3", "currentStatus": "ONLINE"}], "wait_p90_ms": 30_000},
    "104": {"agents": [{"agentId": "a4", "currentStatus": "ONLINE"}], "wait_p90_ms": -1},
}
SKILL_RULES = {"102": {"threshold_minutes": 3}}  # skill 102's busy message from 3 min on
SKILLS_OF_BATCH = ["101", "102", "103", "104", "102", "101"]  # the ingress batch, in order


class DemoError(RuntimeError):
    """A demo step failed; the message says which and where its log is."""


@dataclass(frozen=True)
class DemoConfig:
    """Ports and places, from ``DEMO_*`` variables."""

    state_dir: Path
    ports: dict[str, int]
    once: bool

    @classmethod
    def from_env(cls) -> DemoConfig:
        ports = {}
        for key, (what, variable, default) in PORTS.items():
            raw = os.environ.get(variable, str(default))
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise DemoError(f"{variable}={raw!r}: the {what} port must be 1-65535")
            ports[key] = int(raw)
        state_dir = Path(os.environ.get("DEMO_STATE_DIR", ROOT / ".state")).resolve()
        return cls(state_dir=state_dir, ports=ports, once=os.environ.get("DEMO_ONCE") == "1")

    def url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.ports[key]}"


@dataclass
class Demo:
    """The running demo: its children and what the flows need in their environment."""

    config: DemoConfig
    children: list[ManagedProcess] = field(default_factory=list)
    flows_env: dict[str, str] = field(default_factory=dict)
    root_token: str = field(default_factory=lambda: "root-" + secrets.token_hex(16))
    webhook_secret: SecretStr = field(
        default_factory=lambda: SecretStr("sbx-webhook-" + secrets.token_urlsafe(24))
    )
    identity: admin.AppRoleIdentity | None = None  # the flows' (worker)
    routing_identity: admin.AppRoleIdentity | None = None  # the ingress's

    @property
    def logs(self) -> Path:
        return self.config.state_dir / "logs"

    @property
    def prefect_home(self) -> Path:
        return self.config.state_dir / "prefect"

    @property
    def api_url(self) -> str:
        return self.config.url("prefect") + "/api"

    def say(self, message: str) -> None:
        print(f"[demo] {message}", flush=True)

    # -- servers -------------------------------------------------------------------------

    def check_ports(self) -> None:
        """Every port free before anything starts (OpenBao also takes its port + 1)."""
        wanted = [
            (what, variable, self.config.ports[key]) for key, (what, variable, _) in PORTS.items()
        ]
        vault = self.config.ports["vault"]
        wanted.append(
            ("OpenBao's cluster listener", "DEMO_VAULT_PORT (it uses port + 1)", vault + 1)
        )
        seen: set[int] = set()
        for what, variable, port in wanted:
            if port in seen or port_in_use(port):
                raise PortInUse(f"{what}: port {port} on 127.0.0.1 is in use; set {variable}")
            seen.add(port)

    def start_servers(self) -> None:
        ports = self.config.ports
        self.say(f"starting OpenBao (dev, in memory) on {self.config.url('vault')}")
        self.children.append(
            start_openbao(
                port=ports["vault"],
                root_token=self.root_token,
                log_path=self.logs / "openbao.log",
                port_variable="DEMO_VAULT_PORT",
            )
        )
        self.say(f"starting the sandbox on {self.config.url('sandbox')}")
        self.children.append(
            start_sandbox(
                port=ports["sandbox"],
                log_path=self.logs / "sandbox.log",
                port_variable="DEMO_SANDBOX_PORT",
            )
        )
        self.say(f"starting the Prefect server (SQLite in {self.prefect_home})")
        self.children.append(
            start_prefect_server(
                port=ports["prefect"],
                home=self.prefect_home,
                log_path=self.logs / "prefect-server.log",
                port_variable="DEMO_PREFECT_PORT",
            )
        )

    def spawn(
        self,
        name: str,
        argv: list[str],
        ready_url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> ManagedProcess:
        """A child with ``env``, by default the flows' (AppRole identity, no Vault root token)."""
        log_path = self.logs / f"{name}.log"
        process = spawn(argv, log_path, base_env=self.flows_env if env is None else env, cwd=ROOT)
        child = ManagedProcess(name, process, ready_url or "", log_path)
        self.children.append(child)
        if ready_url:
            wait_for_http(ready_url, process=process)
        return child

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()

    # -- Vault -----------------------------------------------------------------------------

    def root(self) -> hvac.Client:
        return hvac.Client(url=self.config.url("vault"), token=self.root_token)

    def admin(self) -> hvac.Client:
        """The operator's client for ``switchboard.admin``: the flows' Vault session, root token."""
        settings = VaultSettings(addr=self.config.url("vault"), token=SecretStr(self.root_token))
        session = VaultSession(settings)
        session.login()
        return session.client()

    def set_up_vault(self) -> None:
        """Policies and both AppRoles; each identity goes to a 0600 env file and its children."""
        client = self.admin()
        roles = admin.set_up(client, routing=admin.RoutingAccess(bearer_credential=BEARER))
        identity = self.identity = admin.issue_identity(client, role_id=roles.flows)
        self.routing_identity = admin.issue_identity(
            client, role=admin.ROUTING_ROLE, role_id=roles.routing
        )
        state = self.config.state_dir
        identity.write_env_file(state / "approle.env")
        self.routing_identity.write_env_file(state / "routing.env")
        self.say(
            f"AppRoles {admin.FLOWS_ROLE} (worker) and {admin.ROUTING_ROLE} (ingress: reads "
            f"{BEARER}'s token only) ready; identities in {state}/approle.env and routing.env"
        )
        env = {k: v for k, v in os.environ.items() if k != "VAULT_TOKEN"}
        env.update(
            identity.as_env(),
            VAULT_ADDR=self.config.url("vault"),
            SWITCHBOARD_TOKEN_JOURNAL_DIR=str(self.config.state_dir / "journal"),
            SWITCHBOARD_LP_ACCOUNT_ID=ACCOUNT_ID,
            SWITCHBOARD_LP_CSDS_HOST=f"127.0.0.1:{self.config.ports['sandbox']}",
            SWITCHBOARD_LP_SCHEME="http",
            SWITCHBOARD_LP_BEARER_CREDENTIAL=BEARER,
            SWITCHBOARD_LP_SKILL_RULES=json.dumps(SKILL_RULES),
            SWITCHBOARD_INGRESS_PORT=str(self.config.ports["ingress"]),
            SWITCHBOARD_INGRESS_WEBHOOK_SECRET=self.webhook_secret.get_secret_value(),
            PREFECT_WORKER_QUERY_SECONDS="2",
        )
        self.flows_env = env

    def seed(self) -> list[str]:
        """What an operator does: register clients at the IdP, then ``bao kv put`` them."""
        sandbox = self.config.url("sandbox")
        kv = self.root().secrets.kv.v2
        token_url = f"{sandbox}/oauth/token"
        crm = _post(
            f"{sandbox}/_control/clients",
            {"grant_types": ["client_credentials"], "access_token_lifetime": 300},
        )
        kv.create_or_update_secret(
            path="switchboard/credentials/crm-api/client",
            secret={
                "token_url": token_url,
                "client_id": crm["client_id"],
                "client_secret": crm["client_secret"],
                "grant": "client_credentials",
            },
        )
        lp = _post(
            f"{sandbox}/_control/clients",
            {"grant_types": ["refresh_token"], "access_token_lifetime": 600},
        )
        kv.create_or_update_secret(
            path="switchboard/credentials/liveperson/client",
            secret={
                "token_url": token_url,
                "client_id": lp["client_id"],
                "client_secret": lp["client_secret"],
                "grant": "refresh_token",
                "auth_method": "client_secret_post",
            },
        )
        seed = {"refresh_token": lp["refresh_token"]}
        kv.create_or_update_secret(path="switchboard/credentials/liveperson/seed", secret=seed)
        keys = _post(f"{sandbox}/_control/oauth1-keys", {})
        kv.create_or_update_secret(path="switchboard/oauth1/liveperson-v1", secret=keys)
        _post(f"{sandbox}/_control/scenario", {"account_id": ACCOUNT_ID, "skills": SCENARIO})
        names = ["crm-api", "liveperson"]
        self.say(f"Vault seeded: credentials {', '.join(names)} and OAuth 1 keys liveperson-v1")
        return names

    # -- Prefect ---------------------------------------------------------------------------

    def deploy(self) -> None:
        prefect_cli(self.api_url, "block", "register", "-m", "blocks")
        self.save_blocks()
        deploy_all(self.api_url)
        self.say(f"blocks registered and saved as {BLOCK!r}; deployments in work pool {POOL}")

    def save_blocks(self) -> None:
        """Block documents for the ingress; the worker's flows fall back to the environment."""
        from blocks import LivePersonAccount, VaultConnection
        from switchboard.liveperson import SkillRule

        assert self.routing_identity is not None
        VaultConnection(
            addr=self.config.url("vault"),
            role_id=self.routing_identity.role_id,
            secret_id=self.routing_identity.secret_id,
            approle_mount=self.routing_identity.mount,
        ).save(ROUTING_BLOCK, overwrite=True)
        LivePersonAccount(
            account_id=ACCOUNT_ID,
            csds_host=f"127.0.0.1:{self.config.ports['sandbox']}",
            scheme="http",
            bearer_credential=BEARER,
            skill_rules={skill: SkillRule(**rule) for skill, rule in SKILL_RULES.items()},
        ).save(BLOCK, overwrite=True)

    def start_worker(self) -> None:
        self.spawn("worker", [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL])
        self.say("worker started (process work pool)")

    def ingress_env(self) -> dict[str, str]:
        """The flows' environment with the routing identity in place of the flows' one."""
        assert self.routing_identity is not None
        return {**self.flows_env, **self.routing_identity.as_env()}

    def start_ingress(self) -> None:
        url = self.config.url("ingress")
        port = str(self.config.ports["ingress"])
        argv = [sys.executable, "-m", "serve", "ingest", "--port", port]
        argv += ["--account-block", BLOCK, "--vault-block", ROUTING_BLOCK]
        self.spawn("ingress", argv, ready_url=f"{url}/healthz", env=self.ingress_env())
        self.say(
            f"ingress (switchboard ingest, blocks {BLOCK!r} and {ROUTING_BLOCK!r}, identity "
            f"{admin.ROUTING_ROLE}) listening on {url}/events"
        )

    def api(self) -> httpx2.Client:
        return prefect_api(self.api_url)

    def clear_stale_runs(self) -> None:
        """Runs an earlier demo left behind (its Vault is gone), so the worker starts clean."""
        now = datetime.now(UTC).isoformat()
        unfinished = {"any_": ["PENDING", "RUNNING", "CANCELLING", "PAUSED"]}
        filters: list[dict[str, Any]] = [
            {"flow_runs": {"state": {"type": unfinished}}},
            {
                "flow_runs": {
                    "state": {"type": {"any_": ["SCHEDULED"]}},
                    "expected_start_time": {"before_": now},
                }
            },
        ]
        removed = 0
        with self.api() as api:
            for flow_runs in filters:
                while runs := api.post("flow_runs/filter", json={**flow_runs, "limit": 200}).json():
                    for run in runs:
                        api.delete(f"flow_runs/{run['id']}").raise_for_status()
                    removed += len(runs)
        if removed:
            self.say(f"removed {removed} unfinished flow runs an earlier demo left behind")

    def run_deployment(self, name: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """Create a run through the REST API and wait for its final state."""
        with self.api() as api:
            flow_name, deployment_name = name.split("/")
            deployment = api.get(f"deployments/name/{flow_name}/{deployment_name}").json()
            created = api.post(
                f"deployments/{deployment['id']}/create_flow_run", json={"parameters": parameters}
            )
            created.raise_for_status()
            return self.wait_for_run(api, created.json()["id"], name)

    def wait_for_run(self, api: httpx2.Client, run_id: str, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            run: dict[str, Any] = api.get(f"flow_runs/{run_id}").json()
            if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                if run["state_type"] != "COMPLETED":
                    page = f"{self.config.url('prefect')}/runs/flow-run/{run_id}"
                    raise DemoError(
                        f"{what}: flow run {run['name']} ended {run['state_name']}; "
                        f"see {page} and {self.logs / 'worker.log'}"
                    )
                return run
            time.sleep(0.5)
        raise DemoError(f"{what}: flow run {run_id} did not finish in {RUN_TIMEOUT_SECONDS:.0f} s")

    # -- the scenario ---------------------------------------------------------------------

    def tokens_scenario(self, names: list[str]) -> None:
        for name in names:
            run = self.run_deployment("acquire-token/on-demand", {"credential": name})
            self.say(f"acquired {name} (flow run {run['name']})")
        run = self.run_deployment("refresh-due-tokens/every-minute", {"force": True})
        self.say(f"refreshed every credential (flow run {run['name']})")

    def route_through_ingress(self) -> list[dict[str, Any]]:
        """A batch of routed conversations, one request, one flow run in the ingress."""
        events = [_routing_event(f"demo-{i}", skill) for i, skill in enumerate(SKILLS_OF_BATCH)]
        body = json.dumps(events).encode()
        response = httpx2.post(
            f"{self.config.url('ingress')}/events",
            content=body,
            headers={
                "Content-Type": "application/json",
                **signed_headers(self.webhook_secret, body),
            },
            timeout=RUN_TIMEOUT_SECONDS,
        )
        if response.status_code != 200:
            raise DemoError(
                f"ingress answered {response.status_code}: {response.text[:300]}; "
                f"see {self.logs / 'ingress.log'}"
            )
        decisions: list[dict[str, Any]] = response.json()["decisions"]
        self.say(f"routed {len(events)} conversations through the ingress in one flow run")
        return decisions

    def route_through_event(self) -> dict[str, Any]:
        """One conversation posted as a Prefect event; the deployment trigger routes it."""
        routed = _routing_event(f"demo-event-{uuid.uuid4().hex[:6]}", "101")
        conversation = routed["general"]["convId"]
        with self.api() as api:
            deployment = api.get("deployments/name/route-conversations/routing").json()
            run_id = self._trigger(api, deployment["id"], routed)
            run = self.wait_for_run(api, run_id, "route-conversations/routing (event)")
            artifacts = api.post(
                "artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}}
            ).json()
        self.say(f"routed {conversation} through the event trigger (flow run {run['name']})")
        rows = [row for a in artifacts if a["type"] == "table" for row in _table_rows(a["data"])]
        row = next((r for r in rows if r.get("conversation") == conversation), None)
        if row is None:
            raise DemoError(f"flow run {run['name']} left no decision for {conversation}")
        messages = _get(f"{self.config.url('sandbox')}/_control/messages")
        sent = [m["message"] for m in messages if m["conversation_id"] == conversation]
        return {
            "conversation_id": conversation,
            "skill_id": row["skill"],
            "kind": row["decision"],
            "message": sent[0] if sent else None,
        }

    def _trigger(self, api: httpx2.Client, deployment_id: str, routed: dict[str, Any]) -> str:
        """Post the event until its run appears (posted again every 15 s: the triggers
        service loads a new deployment's automation on its own schedule); the run's id."""
        conversation = routed["general"]["convId"]
        body = {"deployments": {"id": {"any_": [deployment_id]}}, "limit": 50}
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        post_at = time.monotonic()
        while time.monotonic() < deadline:
            if time.monotonic() >= post_at:
                event = {
                    "id": str(uuid.uuid4()),
                    "occurred": datetime.now(UTC).isoformat(),
                    "event": "liveperson.conversation.routed",
                    "resource": {"prefect.resource.id": f"liveperson.account.{ACCOUNT_ID}"},
                    "payload": {"events": [routed]},
                }
                api.post("events", json=[event]).raise_for_status()
                post_at = time.monotonic() + 15
            for run in api.post("flow_runs/filter", json=body).json():
                events = run["parameters"].get("events") or []
                if any(e.get("general", {}).get("convId") == conversation for e in events):
                    return str(run["id"])
            time.sleep(0.5)
        raise DemoError("the routing event trigger created no flow run; see the server log")

    def token_states(self, names: list[str]) -> list[tuple[str, str, str]]:
        kv = self.root().secrets.kv.v2
        rows = []
        now = datetime.now(UTC)
        for name in names:
            health = kv.read_secret_version(
                path=f"switchboard/credentials/{name}/health", raise_on_deleted_version=True
            )["data"]["data"]
            expires = health.get("expires_at")
            left = "-"
            if expires:
                seconds = (datetime.fromisoformat(expires) - now).total_seconds()
                left = f"{seconds:.0f} s"
            rows.append((name, str(health.get("state")), left))
        return rows

    def secret_scan(self) -> int:
        findings = scan_paths([self.prefect_home, self.logs]) + scan_api(self.api_url)
        for finding in findings:
            self.say(f"LEAK {finding}")
        return len(findings)

    def summary(
        self, tokens: list[tuple[str, str, str]], decisions: list[dict[str, Any]], leaks: int
    ) -> None:
        print()
        print("Switchboard demo: what happened")
        print("  tokens (read from Vault health; no token value is shown anywhere):")
        for name, state, left in tokens:
            print(f"    {name:<14} {state:<10} expires in {left}")
        print("  routing decisions (conversation, skill, decision, message):")
        for d in decisions:
            message = repr(d["message"]) if d.get("message") else "-"
            print(f"    {d['conversation_id']:<18} {d['skill_id']:<5} {d['kind']:<11} {message}")
        print(f"  secret scan of Prefect's database, logs and API: {leaks} finding(s)")
        print(f"  Prefect UI:  {self.config.url('prefect')}")
        print(f"  Vault:       {self.config.url('vault')} (dev root token in this process only)")
        print(f"  logs:        {self.logs}")
        print()


def _routing_event(conversation: str, skill: str) -> dict[str, Any]:
    """LivePerson's "conversation routed" event as Functions delivers it."""
    return {
        "general": {"convId": conversation, "dialogId": conversation, "cbotEventType": "routed"},
        "routing": {"newSkillId": skill, "oldSkillId": "-1"},
    }


def _table_rows(data: Any) -> list[dict[str, Any]]:
    """A table artifact's rows, whether the API returns them as a list or as JSON text."""
    rows = json.loads(data) if isinstance(data, str) else data
    return list(rows) if isinstance(rows, list) else []


def _get(url: str) -> Any:
    response = httpx2.get(url, timeout=30)
    response.raise_for_status()
    return response.json()


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx2.post(url, json=body, timeout=30)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGINT/SIGTERM raise KeyboardInterrupt so every child is stopped on the way out.

    Both are set explicitly: a shell starts background jobs with SIGINT ignored.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main() -> int:
    try:
        config = DemoConfig.from_env()
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    demo = Demo(config)
    try:
        demo.check_ports()
    except PortInUse as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    config.state_dir.mkdir(parents=True, exist_ok=True)
    demo.logs.mkdir(parents=True, exist_ok=True)
    # Every child (CLI, worker, ingress) talks to the demo's server and keeps its state here.
    os.environ.update(
        PREFECT_API_URL=demo.api_url,
        PREFECT_HOME=str(demo.prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    with _stop_on_signals():
        try:
            demo.start_servers()
            demo.set_up_vault()
            names = demo.seed()
            demo.deploy()
            demo.clear_stale_runs()
            demo.start_worker()
            demo.start_ingress()
            demo.tokens_scenario(names)
            decisions = demo.route_through_ingress()
            decisions.append(demo.route_through_event())
            leaks = demo.secret_scan()
            demo.summary(demo.token_states(names), decisions, leaks)
            if leaks:
                return 1
            if config.once:
                return 0
            demo.say("serving the schedules, the UI and the ingress; Ctrl-C stops everything")
            while all(child.process.poll() is None for child in demo.children):
                time.sleep(1)
            stopped = [c.name for c in demo.children if c.process.poll() is not None]
            demo.say(f"{', '.join(stopped)} stopped unexpectedly; see {demo.logs}")
            return 1
        except KeyboardInterrupt:
            demo.say("stopping")
            return 0
        except (DemoError, PortInUse, DeployError) as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 1
        except httpx2.HTTPError as exc:
            print(f"demo: {exc}; see the logs in {demo.logs}", file=sys.stderr)
            return 1
        finally:
            demo.stop()


if __name__ == "__main__":
    raise SystemExit(main())
