"""Routing benchmark: ingress → flow runs → sandbox messages, against the raw baseline.

Per size, each repetition runs the raw baseline, the plain ingress (Switchboard without Prefect)
and Switchboard's ingress on the same events, in that order. Latency is measured separately
at an open-loop offered load. Upstream calls come from the sandbox counters, Vault operations
from the audit log, peak memory from /proc.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx2
from pydantic import SecretStr

from bench._ingress import INGRESS_COMMAND, PLAIN_INGRESS_COMMAND, WEBHOOK_SECRET, start_ingress
from bench._loadgen import Sent, offer_closed_loop, offer_open_loop
from bench._measure import PeakMemory, VaultAudit, cpu_seconds, median, summarize
from bench._raw_routing import route_raw
from bench._scenario import expected_message, make_events, set_scenario
from bench._servers import BenchServers
from sandbox.servers import ManagedProcess

__all__ = ["ORCH_ACCOUNT", "RoutingConfig", "prepare_routing", "run_routing"]

BEARER = "bench-lp"
ORCH_ACCOUNT = "bench-orchestrated"
PLAIN_ACCOUNT = "bench-plain"
COUNTERS = ("csds", "agent_view", "queue_health", "messages", "messages_deduplicated")


class RoutingConfig:
    def __init__(
        self,
        *,
        sizes: Sequence[int],
        latency_events: int,
        rate: float,
        concurrency: int,
        repeats: int,
        plain: bool = True,
        ingress_settings: dict[str, str] | None = None,
    ) -> None:
        self.sizes = list(sizes)
        self.latency_events = latency_events
        self.rate = rate
        self.concurrency = concurrency
        self.repeats = repeats
        self.plain = plain
        self.ingress_settings = ingress_settings or {}


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def prepare_routing(servers: BenchServers) -> None:
    """The LivePerson bearer in Vault and the orchestrated account's scenario."""
    seed_bearer(servers)
    set_scenario(servers.sandbox.url, ORCH_ACCOUNT)


def seed_bearer(servers: BenchServers) -> None:
    """A sandbox client whose token is in Vault, as the token half leaves it."""
    from switchboard import ClientDefinition, TokenSettings, VaultSettings
    from switchboard.refresh import Refresher
    from switchboard.vault import CredentialStore

    client = (
        httpx2.post(
            f"{servers.sandbox.url}/_control/clients",
            json={
                "client_id": BEARER,
                "grant_types": ["client_credentials"],
                "access_token_lifetime": 86_400,
            },
        )
        .raise_for_status()
        .json()
    )
    store = CredentialStore.from_settings(
        VaultSettings(addr=servers.openbao.url, token=SecretStr(servers.root_token))
    )
    store.put_client(
        BEARER,
        ClientDefinition(
            token_url=f"{servers.sandbox.url}/oauth/token",
            client_id=client["client_id"],
            client_secrets=(SecretStr(client["client_secret"]),),
        ),
    )
    outcome = Refresher(store, TokenSettings(journal_dir=servers.workdir / "journal")).refresh(
        BEARER, force=True
    )
    if outcome.status != "refreshed":
        raise RuntimeError(f"could not acquire the bench bearer: {outcome.status}")


def _counters(servers: BenchServers) -> dict[str, int]:
    body = httpx2.get(f"{servers.sandbox.url}/_control/counters", timeout=30).json()
    return {name: int(body[name]) for name in COUNTERS}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before}


def _cpu(servers: BenchServers, ingress: ManagedProcess | None) -> dict[str, float]:
    """CPU seconds used so far, per process (the bench process is the load generator)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    found = {
        "bench (load generator / raw)": usage.ru_utime + usage.ru_stime,
        "prefect server": cpu_seconds(servers.prefect.process.pid),
        "sandbox": cpu_seconds(servers.sandbox.process.pid),
        "openbao": cpu_seconds(servers.openbao.process.pid),
    }
    if ingress is not None:
        found["ingress"] = cpu_seconds(ingress.process.pid)
    return found


def _cpu_delta(before: dict[str, float], after: dict[str, float], events: int) -> dict[str, float]:
    """CPU seconds per 1,000 events, per process."""
    return {k: round((after[k] - before[k]) * 1000 / events, 3) for k in before}


def _messages(servers: BenchServers, account_id: str, prefix: str) -> dict[str, dict[str, Any]]:
    found = httpx2.get(
        f"{servers.sandbox.url}/_control/messages", params={"account_id": account_id}, timeout=120
    ).json()
    return {m["conversation_id"]: m for m in found if m["conversation_id"].startswith(prefix + "-")}


def _expected(events: Sequence[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for event in events:
        text = expected_message(str(event["routing"]["newSkillId"]))
        if text is not None:
            out[str(event["general"]["convId"])] = text
    return out


def _check_messages(
    events: Sequence[dict[str, Any]], messages: dict[str, dict[str, Any]]
) -> dict[str, int]:
    """Every conversation that should get a message got exactly the right one, no other did."""
    expected = _expected(events)
    wrong = sum(
        1 for conv, text in expected.items() if messages.get(conv, {}).get("message") != text
    )
    extra = sum(1 for conv in messages if conv not in expected)
    return {"expected": len(expected), "recorded": len(messages), "wrong": wrong, "extra": extra}


def _ingress_run(
    servers: BenchServers,
    ingress: ManagedProcess,
    account_id: str,
    prefix: str,
    events: list[dict[str, Any]],
    *,
    rate: float | None,
    concurrency: int,
) -> dict[str, Any]:
    audit = VaultAudit(servers.audit_log)
    audit.mark()
    before = _counters(servers)
    cpu_before = _cpu(servers, ingress)
    url = ingress.extra["events_url"]
    if rate is None:
        sent = asyncio.run(offer_closed_loop(url, events, concurrency=concurrency))
    else:
        sent = asyncio.run(offer_open_loop(url, events, rate=rate))
    cpu = _cpu_delta(cpu_before, _cpu(servers, ingress), len(events))
    after = _counters(servers)
    messages = _messages(servers, account_id, prefix)
    result = _ingress_result(sent, messages, events, _delta(before, after), audit.count())
    result["cpu_seconds_per_1000_events"] = cpu
    return result


def _ingress_result(
    sent: list[Sent],
    messages: dict[str, dict[str, Any]],
    events: Sequence[dict[str, Any]],
    upstream: dict[str, int],
    vault: dict[str, Any],
) -> dict[str, Any]:
    first = min(s.sent_at for s in sent)
    last_ack = max(s.acked_at for s in sent)
    last_message = max((m["received_at"] for m in messages.values()), default=last_ack)
    seconds = max(last_ack, last_message) - first
    by_conv = {s.conversation_id: s for s in sent}
    to_message = [
        m["received_at"] - by_conv[conv].sent_at for conv, m in messages.items() if conv in by_conv
    ]
    acks = [s.acked_at - s.sent_at for s in sent if s.status == 200]
    statuses = Counter(str(s.status) for s in sent)
    errors = [s.error for s in sent if s.error][:5]
    n = len(events)
    return {
        "events": n,
        "seconds": seconds,
        "events_per_second": n / seconds,
        "statuses": dict(statuses),
        "decisions": dict(Counter(s.decision for s in sent if s.decision)),
        "errors_sample": errors,
        "messages": _check_messages(events, messages),
        "event_to_message_seconds": summarize(to_message),
        "ack_seconds": summarize(acks),
        "upstream": upstream,
        "upstream_per_event": {k: v / n for k, v in upstream.items()},
        "vault": vault,
        "vault_reads_per_event": vault["reads"] / n,
    }


def _raw_run(
    servers: BenchServers, account_id: str, prefix: str, events: list[dict[str, Any]]
) -> dict[str, Any]:
    set_scenario(servers.sandbox.url, account_id)
    audit = VaultAudit(servers.audit_log)
    audit.mark()
    before = _counters(servers)
    cpu_before = _cpu(servers, None)
    result = asyncio.run(
        route_raw(
            vault_url=servers.openbao.url,
            vault_token=servers.root_token,
            token_path=f"switchboard/credentials/{BEARER}/token",
            csds_host=servers.sandbox.url.removeprefix("http://"),
            account_id=account_id,
            events=events,
        )
    )
    cpu = _cpu_delta(cpu_before, _cpu(servers, None), len(events))
    upstream = _delta(before, _counters(servers))
    vault = audit.count()
    messages = _messages(servers, account_id, prefix)
    n = len(events)
    return {
        "events": n,
        "seconds": result["seconds"],
        "events_per_second": n / result["seconds"],
        "batches": result["batches"],
        "messages": _check_messages(events, messages),
        "upstream": upstream,
        "upstream_per_event": {k: v / n for k, v in upstream.items()},
        "vault": vault,
        "vault_reads_per_event": vault["reads"] / n,
        "cpu_seconds_per_1000_events": cpu,
    }


def _warm_up(
    servers: BenchServers, ingress: ManagedProcess, account_id: str, tag: str
) -> dict[str, Any]:
    """The first batch pays for imports, flow registration and connections: measured apart."""
    events = make_events(f"{tag}-warm", 20)
    started = time.perf_counter()
    sent = asyncio.run(offer_closed_loop(ingress.extra["events_url"], events, concurrency=20))
    seconds = time.perf_counter() - started
    statuses = Counter(s.status for s in sent)
    if statuses.get(200) != len(events):
        raise RuntimeError(
            f"{ingress.name} warm-up failed: {dict(statuses)} {[s.error for s in sent][:3]}\n"
            f"{ingress.log_tail()}"
        )
    second = make_events(f"{tag}-warm2", 20)
    started2 = time.perf_counter()
    asyncio.run(offer_closed_loop(ingress.extra["events_url"], second, concurrency=20))
    return {"first_batch_seconds": seconds, "second_batch_seconds": time.perf_counter() - started2}


def _medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    if not runs:
        return {}
    out = {
        "seconds": median(r["seconds"] for r in runs),
        "events_per_second": median(r["events_per_second"] for r in runs),
        "vault_reads_per_event": median(r["vault_reads_per_event"] for r in runs),
    }
    for key in runs[0]["upstream_per_event"]:
        out[f"{key}_per_event"] = median(r["upstream_per_event"][key] for r in runs)
    for key in runs[0].get("cpu_seconds_per_1000_events", {}):
        out[f"cpu:{key}"] = median(r["cpu_seconds_per_1000_events"][key] for r in runs)
    if "event_to_message_seconds" in runs[0]:
        for q in ("p50", "p95", "p99"):
            out[f"event_to_message_{q}"] = median(r["event_to_message_seconds"][q] for r in runs)
    return out


def run_routing(servers: BenchServers, config: RoutingConfig, memory: PeakMemory) -> dict[str, Any]:
    """Every routing measurement; the ingress processes run for the whole benchmark."""
    set_scenario(servers.sandbox.url, PLAIN_ACCOUNT)
    from switchboard.ingress import IngressSettings

    ingress_env = {
        f"SWITCHBOARD_INGRESS_{k.upper()}": v for k, v in config.ingress_settings.items()
    }
    effective = IngressSettings.model_validate(
        {
            **IngressSettings.model_construct().model_dump(),
            "webhook_secret": WEBHOOK_SECRET,
            **config.ingress_settings,
        }
    )
    results: dict[str, Any] = {
        "sizes": {},
        "config": vars(config),
        "ingress_settings": effective.model_dump(
            include={"batch_window_ms", "max_batch_size", "max_in_flight", "max_queued_events"}
        ),
    }
    orchestrated = start_ingress(
        servers,
        name="ingress",
        command=INGRESS_COMMAND,
        account_id=ORCH_ACCOUNT,
        bearer_credential=BEARER,
        extra_env=ingress_env,
    )
    plain = (
        start_ingress(
            servers,
            name="plain-ingress",
            command=PLAIN_INGRESS_COMMAND,
            account_id=PLAIN_ACCOUNT,
            bearer_credential=BEARER,
            extra_env=ingress_env,
        )
        if config.plain
        else None
    )
    try:
        memory.watch("ingress (switchboard ingest, flow runs in process)", orchestrated.process.pid)
        if plain is not None:
            memory.watch("plain ingress (no Prefect)", plain.process.pid)
        results["warm_up"] = {"orchestrated": _warm_up(servers, orchestrated, ORCH_ACCOUNT, "o")}
        if plain is not None:
            results["warm_up"]["plain"] = _warm_up(servers, plain, PLAIN_ACCOUNT, "p")
        for size in config.sizes:
            runs: dict[str, list[dict[str, Any]]] = {"raw": [], "plain": [], "orchestrated": []}
            for rep in range(config.repeats):
                tag = f"s{size}r{rep}"
                events = make_events(f"{tag}", size)
                _log(f"routing {size} events, repetition {rep + 1}/{config.repeats}: raw")
                runs["raw"].append(_raw_run(servers, f"bench-raw-{tag}", tag, events))
                if plain is not None:
                    _log(f"routing {size} events, repetition {rep + 1}: plain ingress")
                    runs["plain"].append(
                        _ingress_run(
                            servers,
                            plain,
                            PLAIN_ACCOUNT,
                            f"p{tag}",
                            make_events(f"p{tag}", size),
                            rate=None,
                            concurrency=config.concurrency,
                        )
                    )
                _log(f"routing {size} events, repetition {rep + 1}: switchboard ingest")
                runs["orchestrated"].append(
                    _ingress_run(
                        servers,
                        orchestrated,
                        ORCH_ACCOUNT,
                        f"o{tag}",
                        make_events(f"o{tag}", size),
                        rate=None,
                        concurrency=config.concurrency,
                    )
                )
            medians = {kind: _medians(r) for kind, r in runs.items() if r}
            ratio = medians["orchestrated"]["seconds"] / medians["raw"]["seconds"]
            results["sizes"][str(size)] = {
                "runs": runs,
                "medians": medians,
                "ratio_orchestrated_raw": ratio,
            }
        latency_runs = []
        for rep in range(config.repeats):
            tag = f"lat{rep}"
            _log(f"latency: {config.latency_events} events at {config.rate:g}/s, run {rep + 1}")
            latency_runs.append(
                _ingress_run(
                    servers,
                    orchestrated,
                    ORCH_ACCOUNT,
                    f"o{tag}",
                    make_events(f"o{tag}", config.latency_events),
                    rate=config.rate,
                    concurrency=config.concurrency,
                )
            )
        results["latency"] = {
            "rate": config.rate,
            "runs": latency_runs,
            "medians": _medians(latency_runs),
        }
    finally:
        orchestrated.stop(timeout=40)
        if plain is not None:
            plain.stop(timeout=40)
    return results
