"""Faults injected into the running topology. Each returns the figures it was run for and the
checks that must hold (``failed`` lists the broken ones); processes are killed with SIGKILL, as
a host dies, and started again the way an operator's supervisor would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
from pydantic import SecretStr

from bench._fleet import fleet_names, seed_fleet
from bench._loadgen import Sent, offer_closed_loop, offer_open_loop
from bench._measure import cpu_seconds, process_tree
from bench._scenario import expected_message, make_events
from bench.topology._cluster import Topology
from bench.topology._redis import start_redis
from sandbox.servers import ManagedProcess, serve_postgres
from scripts.deploy import prefect_api
from switchboard import TokenSettings, VaultSettings
from switchboard.refresh import Refresher
from switchboard.vault import CredentialStore

__all__ = [
    "api_server_kill",
    "cpu_by_process",
    "fleet_refresh_with_leader_kill",
    "ingress_kill_under_load",
    "redis_and_postgres_restart",
    "route_like_liveperson",
    "worker_kill_mid_run",
]

BASE = "switchboard"  # the deployments' Vault base path
REFRESH_DEPLOYMENT = "every-minute"
LIVEPERSON_RETRIES = 6  # LivePerson retries a webhook that failed; so does the generator
SLOW_SECONDS = 4.0  # the token endpoint's latency while a worker is lost


def _log(message: str) -> None:
    print(f"faults: {message}", flush=True)


def kill(process: ManagedProcess) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.process.pid, signal.SIGKILL)
    process.process.wait(timeout=30)


def cpu_by_process(topology: Topology) -> dict[str, float]:
    return {name: cpu_seconds(p.process.pid) for name, p in topology.processes().items()}


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds used in between; a process restarted meanwhile counts from its new start."""
    return {
        name: round(used - before[name] if used >= before.get(name, 0.0) else used, 2)
        for name, used in after.items()
    }


def _counters(topology: Topology) -> dict[str, Any]:
    answer = httpx2.get(f"{topology.sandbox.url}/_control/counters", timeout=30)
    return dict(answer.raise_for_status().json())


def _tokens_issued(counters: dict[str, Any]) -> int:
    return int(counters["token"]["client_credentials"]) + int(counters["token"]["refresh_token"])


def _store(topology: Topology) -> CredentialStore:
    settings = VaultSettings(addr=topology.vault_url, token=SecretStr(topology.openbao.root_token))
    return CredentialStore.from_settings(settings)


def health_states(topology: Topology, names: Iterable[str]) -> Counter[str]:
    """Each credential's health state as Vault has it (``none``: no health record yet)."""
    names = list(names)
    try:
        store = _store(topology)
    except Exception as exc:  # no active node behind the balancer right now
        return Counter({f"unreadable ({type(exc).__name__})": len(names)})

    def state(name: str) -> str:
        try:
            health = store.read_health(name)
        except Exception as exc:  # Vault between leaders: counted, not fatal
            return f"unreadable ({type(exc).__name__})"
        return health.state if health is not None else "none"

    with ThreadPoolExecutor(8) as pool:
        return Counter(pool.map(state, names))


def _run_deployment(topology: Topology, name: str, parameters: dict[str, Any]) -> str:
    with prefect_api(topology.api_url) as api:
        deployments = api.post("deployments/filter", json={}).raise_for_status().json()
        deployment = next(d for d in deployments if d["name"] == name)
        created = api.post(
            f"deployments/{deployment['id']}/create_flow_run", json={"parameters": parameters}
        )
        return str(created.raise_for_status().json()["id"])


def _flow_run(topology: Topology, flow_run_id: str) -> dict[str, Any]:
    with prefect_api(topology.api_url) as api:
        return dict(api.get(f"flow_runs/{flow_run_id}").raise_for_status().json())


def _broken(*checks: tuple[str, bool]) -> list[str]:
    """The checks that did not hold, by name."""
    return [check for check, broke in checks if broke]


def _wait(check: Any, what: str, *, timeout: float, every: float = 1.0) -> float:
    """Seconds until ``check()`` is true; ``TimeoutError`` naming ``what`` otherwise."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(every)
    return time.monotonic() - started


def _wait_all_healthy(topology: Topology, names: list[str], *, timeout: float) -> Counter[str]:
    last: Counter[str] = Counter()

    def healthy() -> bool:
        nonlocal last
        states = health_states(topology, names)
        if states != last:
            _log(f"health: {dict(states)}")
        last = states
        return last["healthy"] == len(names)

    with contextlib.suppress(TimeoutError):
        _wait(healthy, "every credential healthy", timeout=timeout, every=3.0)
    return last


def _pairs_lost(topology: Topology, names: list[str]) -> int:
    """Refresh each refresh-token credential once more: one whose stored refresh token is not
    the live one fails (the sandbox revokes a family on reuse), so this counts lost pairs."""
    store = _store(topology)
    refresher = Refresher(store, TokenSettings(journal_dir=topology.workdir / "check-journal"))

    def lost(name: str) -> bool:
        return refresher.refresh(name, force=True).status != "refreshed"

    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(lost, names))


def fleet_refresh_with_leader_kill(
    topology: Topology, *, credentials: int, kill_at_share: float = 0.3, timeout: float = 900
) -> dict[str, Any]:
    """A fleet of ``credentials`` (half with rotating refresh tokens) comes due at once; the
    OpenBao leader is killed when ``kill_at_share`` of them have been issued a token."""
    names = fleet_names("fleet", credentials)
    rotating = names[: round(credentials * 0.5)]
    _log(f"leader kill: seeding {credentials} credentials")
    asyncio.run(
        seed_fleet(
            sandbox_url=topology.sandbox.url,
            vault_url=topology.vault_url,
            vault_token=topology.openbao.root_token,
            base=BASE,
            names=names,
            refresh_token_share=0.5,
        )
    )
    before, cpu_before = _counters(topology), cpu_by_process(topology)
    started = time.monotonic()
    _run_deployment(topology, REFRESH_DEPLOYMENT, {})
    _wait(
        lambda: (
            _tokens_issued(_counters(topology)) - _tokens_issued(before)
            >= credentials * kill_at_share
        ),
        "the fleet refresh to get going",
        timeout=timeout,
        every=0.2,
    )
    leader = topology.openbao.wait_for_active()
    _log(f"leader kill: killing {leader.node_id}")
    killed_at = time.monotonic()
    topology.openbao.kill(leader)
    successor = topology.openbao.wait_for_active()
    elected_at = time.monotonic()
    topology.openbao.start(leader)  # the supervisor restarts it; it rejoins as a follower
    states = _wait_all_healthy(topology, names, timeout=timeout)
    healthy_at = time.monotonic()
    after, cpu_after = _counters(topology), cpu_by_process(topology)
    reuse = int(after["reuse_detected"]) - int(before["reuse_detected"])
    lost = _pairs_lost(topology, rotating)
    figures = {
        "credentials": credentials,
        "refresh_token_credentials": len(rotating),
        "killed": leader.node_id,
        "new_leader": successor.node_id,
        "election_seconds": round(elected_at - killed_at, 2),
        "all_healthy_seconds_after_election": round(healthy_at - elected_at, 1),
        "fleet_seconds": round(healthy_at - started, 1),
        "states": dict(states),
        "refresh_tokens_spent_twice": reuse,
        "pairs_lost": lost,
        "cpu_seconds": cpu_delta(cpu_before, cpu_after),
    }
    figures["failed"] = _broken(
        ("a refresh token was spent twice", reuse != 0),
        ("a pair was lost", lost != 0),
        ("not every credential healthy", states["healthy"] != credentials),
    )
    return figures


async def route_like_liveperson(
    url: str, events: list[dict[str, Any]], *, rate: float
) -> tuple[list[Sent], list[Sent]]:
    """Offer ``events`` at ``rate``; resend the unanswered ones later, as LivePerson does.
    Returns the first attempts and the final answer per event."""
    first = await offer_open_loop(url, events, rate=rate)
    final = {sent.conversation_id: sent for sent in first}
    for attempt in range(LIVEPERSON_RETRIES):
        again = [event for event in events if final[str(event["general"]["convId"])].status != 200]
        if not again:
            break
        await asyncio.sleep(min(2.0 * 2**attempt, 15.0))
        for sent in await offer_closed_loop(url, again, concurrency=8):
            final[sent.conversation_id] = sent
    return first, list(final.values())


def _delivery(
    topology: Topology, events: list[dict[str, Any]], final: list[Sent]
) -> dict[str, int]:
    """Acknowledged events whose customer message is missing, and messages sent twice."""
    answer = httpx2.get(
        f"{topology.sandbox.url}/_control/messages",
        params={"account_id": topology.shape.account_id},
        timeout=60,
    )
    sent_per_conversation = Counter(m["conversation_id"] for m in answer.json())
    skill_of = {str(e["general"]["convId"]): str(e["routing"]["newSkillId"]) for e in events}
    acknowledged = [s.conversation_id for s in final if s.status == 200]
    missing = sum(
        1
        for conversation in acknowledged
        if expected_message(skill_of[conversation]) is not None
        and sent_per_conversation[conversation] == 0
    )
    twice = sum(1 for c in skill_of if sent_per_conversation[c] > 1)
    return {
        "events": len(events),
        "acknowledged": len(acknowledged),
        "acknowledged_without_message": missing,
        "duplicate_messages": twice,
    }


def _error_window(first: list[Sent]) -> float:
    failed = [s.sent_at for s in first if s.status != 200]
    return round(max(failed) - min(failed), 2) if failed else 0.0


def _routing_under(
    topology: Topology, prefix: str, *, rate: float, seconds: float, fault: Any
) -> dict[str, Any]:
    """Route ``rate * seconds`` events while ``fault()`` runs at half time."""
    events = make_events(prefix, round(rate * seconds))
    url = f"{topology.ingress_url}/events"

    async def run() -> tuple[list[Sent], list[Sent]]:
        load = asyncio.create_task(route_like_liveperson(url, events, rate=rate))
        await asyncio.sleep(seconds / 2)
        await asyncio.to_thread(fault)
        return await load

    cpu_before = cpu_by_process(topology)
    first, final = asyncio.run(run())
    figures: dict[str, Any] = {
        "rate": rate,
        **_delivery(topology, events, final),
        "first_attempt_failures": sum(1 for s in first if s.status != 200),
        "error_window_seconds": _error_window(first),
        "cpu_seconds": cpu_delta(cpu_before, cpu_by_process(topology)),
    }
    figures["failed"] = _broken(
        ("an event was never acknowledged", figures["acknowledged"] != len(events)),
        ("an acknowledged event lost", figures["acknowledged_without_message"] != 0),
        ("a customer messaged twice", figures["duplicate_messages"] != 0),
    )
    return figures


def ingress_kill_under_load(
    topology: Topology, *, rate: float = 100, seconds: float = 30
) -> dict[str, Any]:
    victim = topology.ingresses[0]
    figures = _routing_under(
        topology, "ingress-kill", rate=rate, seconds=seconds, fault=lambda: kill(victim)
    )
    topology.start_ingress(1, int(victim.extra["port"]))
    return {"killed": victim.name, **figures}


def api_server_kill(topology: Topology, *, rate: float = 20, seconds: float = 20) -> dict[str, Any]:
    """One API server dies: routing, an API-created run and the schedule go on via the other."""
    victim = topology.api_servers[0]
    killed_at = time.time()
    figures = _routing_under(
        topology, "api-kill", rate=rate, seconds=seconds, fault=lambda: kill(victim)
    )
    run_id = _refresh_run_to_its_end(topology, "a run created after the kill")
    scheduled = _wait(
        lambda: _scheduled_run_completed_since(topology, killed_at),
        "a scheduled run after the kill",
        timeout=180,
        every=3,
    )
    port = int(victim.url.rsplit(":", 1)[1])
    topology.start_api_server(1, port)
    return {
        "killed": victim.name,
        "api_created_run": _flow_run(topology, run_id)["state_type"],
        "scheduled_run_completed_within_seconds": round(scheduled, 1),
        **figures,
    }


def _refresh_run_to_its_end(topology: Topology, what: str) -> str:
    """Start an ``every-minute`` run through the API and wait for its end (``CANCELLED``: it met
    a scheduled run, which the deployment lets go first)."""
    run_id = _run_deployment(topology, REFRESH_DEPLOYMENT, {})
    _wait(
        lambda: _flow_run(topology, run_id)["state_type"] in ("COMPLETED", "CANCELLED"),
        what,
        timeout=300,
    )
    return run_id


def _scheduled_run_completed_since(topology: Topology, moment: float) -> bool:
    with prefect_api(topology.api_url) as api:
        runs = api.post(
            "flow_runs/filter",
            json={
                "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
                "sort": "START_TIME_DESC",
                "limit": 20,
            },
        )
    return any(
        run["auto_scheduled"] and run["start_time"] and _epoch(run["start_time"]) > moment
        for run in runs.raise_for_status().json()
    )


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def worker_kill_mid_run(topology: Topology, *, credentials: int) -> dict[str, Any]:
    """The worker running a fleet's first refresh dies with its flow run (a host lost): the run
    is marked crashed by the heartbeat automation and the next scheduled run finishes."""
    names = fleet_names("orphans", credentials)
    asyncio.run(
        seed_fleet(
            sandbox_url=topology.sandbox.url,
            vault_url=topology.vault_url,
            vault_token=topology.openbao.root_token,
            base=BASE,
            names=names,
        )
    )
    for name in names:  # slow answers keep the run busy long enough to lose it mid-way
        httpx2.post(
            f"{topology.sandbox.url}/_control/faults",
            json={"endpoint": "token", "client_id": name, "count": 1, "latency": SLOW_SECONDS},
            timeout=30,
        ).raise_for_status()
    run_id = _run_deployment(topology, REFRESH_DEPLOYMENT, {"credentials": names})
    _wait(
        lambda: _flow_run(topology, run_id)["state_type"] == "RUNNING",
        "the run to start",
        timeout=300,
        every=0.2,
    )
    before = _tokens_issued(_counters(topology))
    time.sleep(SLOW_SECONDS / 2)
    run = _flow_run(topology, run_id)
    pid = int(str(run["infrastructure_pid"]).rsplit(":", 1)[-1])
    victim = next(w for w in topology.workers if pid in process_tree(w.process.pid))
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    kill(victim)
    killed_at = time.monotonic()
    issued = _tokens_issued(_counters(topology)) - before
    crashed = _wait(
        lambda: _flow_run(topology, run_id)["state_type"] == "CRASHED",
        "the dead run to be marked crashed",
        timeout=600,
        every=2,
    )
    index = topology.workers.index(victim) + 1
    topology.start_worker(index)
    states = _wait_all_healthy(topology, names, timeout=300)
    figures: dict[str, Any] = {
        "credentials": credentials,
        "killed": victim.name,
        "tokens_issued_before_the_kill": issued,
        "crashed_after_seconds": round(crashed, 1),
        "all_healthy_after_seconds": round(time.monotonic() - killed_at, 1),
        "states": dict(states),
    }
    figures["failed"] = _broken(
        ("the run was not mid-way when killed", issued >= credentials),
        ("not every credential healthy", states["healthy"] != credentials),
    )
    return figures


def redis_and_postgres_restart(
    topology: Topology, *, rate: float = 20, seconds: float = 30
) -> dict[str, Any]:
    """Redis, then PostgreSQL, stop and start again under load; nobody steps in."""

    def restart_redis() -> None:
        port = int(topology.redis.url.rsplit(":", 1)[1])
        topology.redis.stop()
        password = topology.redis_password.get_secret_value()
        topology.redis = start_redis(topology.workdir, port=port, password=password)

    def restart_postgres() -> None:
        old = topology.postgres
        root = topology.workdir / "postgres"
        with contextlib.suppress(ProcessLookupError):  # fast shutdown: sessions end at once
            os.killpg(old.process.pid, signal.SIGINT)
        old.process.wait(timeout=60)
        _wait(
            lambda: not (root / "data" / "postmaster.pid").exists(),
            "PostgreSQL to shut down",
            timeout=60,
            every=0.1,
        )
        topology.postgres = serve_postgres(
            root, port=int(old.extra["port"]), log_path=old.log_path, durable=topology.shape.durable
        )

    redis = _routing_under(
        topology, "redis-restart", rate=rate, seconds=seconds, fault=restart_redis
    )
    postgres = _routing_under(
        topology, "postgres-restart", rate=rate, seconds=seconds, fault=restart_postgres
    )
    run_id = _refresh_run_to_its_end(topology, "a refresh run after the restarts")
    return {
        "redis": redis,
        "postgres": postgres,
        "run_after": _flow_run(topology, run_id)["state_type"],
        "failed": [f"redis: {c}" for c in redis["failed"]]
        + [f"postgres: {c}" for c in postgres["failed"]],
    }
