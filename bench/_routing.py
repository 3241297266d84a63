"""Routing benchmark: signed POSTs → routing server → sandbox messages, three servers compared.

Per size, each repetition offers fresh events to the raw floor (``bench._raw_routing``), the
plain ingress (Switchboard without Prefect) and Switchboard's ingress, in that order, all as
their own processes driven by the same load generator. Latency is measured separately at an
open-loop offered load. Upstream calls come from the sandbox counters, Vault operations from
the audit log, CPU and peak memory from /proc.
"""

from __future__ import annotations

import contextlib
import math
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import httpx2
import uvloop

from bench._fleet import acquire_bearer
from bench._ingress import (
    INGRESS_COMMAND,
    PLAIN_INGRESS_COMMAND,
    RAW_INGRESS_COMMAND,
    WEBHOOK_SECRET,
    start_ingress,
)
from bench._loadgen import Sent, offer_closed_loop, offer_open_loop
from bench._measure import PeakMemory, VaultAudit, cpu_seconds, median, summarize
from bench._scenario import expected_message, make_events, set_scenario
from bench._servers import BenchServers
from sandbox.servers import ManagedProcess

__all__ = [
    "ORCH_ACCOUNT",
    "VARIANTS",
    "RoutingConfig",
    "effective_settings",
    "ingresses",
    "offer",
    "prepare_routing",
    "run_routing",
]

BEARER = "bench-lp"
ORCH_ACCOUNT = "bench-orchestrated"
VARIANTS = ("raw", "plain", "orchestrated")
ACCOUNTS = {"raw": "bench-raw", "plain": "bench-plain", "orchestrated": ORCH_ACCOUNT}
COMMANDS = {
    "raw": RAW_INGRESS_COMMAND,
    "plain": PLAIN_INGRESS_COMMAND,
    "orchestrated": INGRESS_COMMAND,
}
ROLES = {
    "raw": "raw routing server (no Switchboard)",
    "plain": "plain ingress (no Prefect)",
    "orchestrated": "ingress (switchboard ingest, flow runs in process)",
}
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
    for account in ACCOUNTS.values():
        set_scenario(servers.sandbox.url, account)


def seed_bearer(servers: BenchServers) -> None:
    """A sandbox client whose token is in Vault, as the token half leaves it."""
    acquire_bearer(
        sandbox_url=servers.sandbox.url,
        vault_url=servers.openbao.url,
        vault_token=servers.root_token,
        name=BEARER,
        journal_dir=servers.workdir / "journal",
    )


def _counters(servers: BenchServers) -> dict[str, int]:
    body = httpx2.get(f"{servers.sandbox.url}/_control/counters", timeout=30).json()
    return {name: int(body[name]) for name in COUNTERS}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before}


def _cpu(servers: BenchServers, server: ManagedProcess) -> dict[str, float]:
    """CPU seconds used so far, per process (the bench process is the load generator)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "bench (load generator)": usage.ru_utime + usage.ru_stime,
        "routing server": cpu_seconds(server.process.pid),
        "prefect server": cpu_seconds(servers.prefect.process.pid),
        "sandbox": cpu_seconds(servers.sandbox.process.pid),
        "openbao": cpu_seconds(servers.openbao.process.pid),
    }


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
    rate: float | None = None,
    concurrency: int = 1000,
) -> dict[str, Any]:
    """``events`` to ``ingress``: closed loop at ``concurrency``, or open loop at ``rate``."""
    audit = VaultAudit(servers.audit_log)
    audit.mark()
    before = _counters(servers)
    cpu_before = _cpu(servers, ingress)
    url = ingress.extra["events_url"]
    if rate is None:
        sent = uvloop.run(offer_closed_loop(url, events, concurrency=concurrency))
    else:
        sent = uvloop.run(offer_open_loop(url, events, rate=rate))
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


def _warm_up(
    servers: BenchServers, ingress: ManagedProcess, account_id: str, tag: str
) -> dict[str, Any]:
    """The first batch pays for imports, flow registration and connections: measured apart."""
    events = make_events(f"{tag}-warm", 20)
    started = time.perf_counter()
    sent = uvloop.run(offer_closed_loop(ingress.extra["events_url"], events, concurrency=20))
    seconds = time.perf_counter() - started
    statuses = Counter(s.status for s in sent)
    if statuses.get(200) != len(events):
        raise RuntimeError(
            f"{ingress.name} warm-up failed: {dict(statuses)} {[s.error for s in sent][:3]}\n"
            f"{ingress.log_tail()}"
        )
    second = make_events(f"{tag}-warm2", 20)
    started2 = time.perf_counter()
    uvloop.run(offer_closed_loop(ingress.extra["events_url"], second, concurrency=20))
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


@contextlib.contextmanager
def ingresses(
    servers: BenchServers,
    memory: PeakMemory,
    *,
    variants: Sequence[str],
    settings: dict[str, str],
    name: str = "",
) -> Iterator[tuple[dict[str, ManagedProcess], dict[str, Any]]]:
    """The ``variants``' servers with ``settings`` (``SWITCHBOARD_INGRESS_*``), warmed up, in
    ``VARIANTS`` order; and their warm-up times."""
    env = {f"SWITCHBOARD_INGRESS_{k.upper()}": v for k, v in settings.items()}
    started: dict[str, ManagedProcess] = {}
    try:
        for variant in (v for v in VARIANTS if v in variants):
            started[variant] = start_ingress(
                servers,
                name=f"{variant}{name}",
                command=COMMANDS[variant],
                account_id=ACCOUNTS[variant],
                bearer_credential=BEARER,
                extra_env=env,
            )
            memory.watch(ROLES[variant], started[variant].process.pid)
        warm = {
            variant: _warm_up(servers, process, ACCOUNTS[variant], f"{variant[0]}{name}")
            for variant, process in started.items()
        }
        yield started, warm
    finally:
        for process in started.values():
            process.stop(timeout=40)


def effective_settings(overrides: dict[str, str]) -> dict[str, Any]:
    """The ingress's batching settings after ``overrides``, as every variant reads them."""
    from switchboard.ingress import IngressSettings

    effective = IngressSettings.model_validate(
        {
            **IngressSettings.model_construct().model_dump(),
            "webhook_secret": WEBHOOK_SECRET,
            **overrides,
        }
    )
    return effective.model_dump(
        include={"batch_window_ms", "max_batch_size", "max_in_flight", "max_queued_events"}
    )


def offer(
    servers: BenchServers,
    processes: dict[str, ManagedProcess],
    *,
    tag: str,
    events: int,
    rate: float | None = None,
    concurrency: int = 1000,
) -> dict[str, dict[str, Any]]:
    """``events`` fresh events to each of ``processes`` in turn: open loop at ``rate``, else
    closed loop at ``concurrency``."""
    found = {}
    for variant, process in processes.items():
        how = f"at {rate:g}/s" if rate else f"{concurrency} outstanding"
        _log(f"{tag}: {events} events {how}, {variant}")
        prefix = f"{variant[0]}{tag}"
        found[variant] = _ingress_run(
            servers,
            process,
            ACCOUNTS[variant],
            prefix,
            make_events(prefix, events),
            rate=rate,
            concurrency=concurrency,
        )
    return found


def run_routing(servers: BenchServers, config: RoutingConfig, memory: PeakMemory) -> dict[str, Any]:
    """Throughput at each size (raw, plain, orchestrated) and open-loop latency at one rate."""
    results: dict[str, Any] = {
        "sizes": {},
        "config": vars(config),
        "ingress_settings": effective_settings(config.ingress_settings),
    }
    variants = [v for v in VARIANTS if config.plain or v != "plain"]
    with ingresses(servers, memory, variants=variants, settings=config.ingress_settings) as (
        processes,
        warm,
    ):
        results["warm_up"] = warm
        for size in config.sizes:
            runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in processes}
            for rep in range(config.repeats):
                found = offer(
                    servers,
                    processes,
                    tag=f"s{size}r{rep}",
                    events=size,
                    concurrency=config.concurrency,
                )
                for variant, run in found.items():
                    runs[variant].append(run)
            medians = {kind: _medians(r) for kind, r in runs.items()}
            floor = min(("raw", "plain"), key=lambda k: medians.get(k, {}).get("seconds", math.inf))
            results["sizes"][str(size)] = {
                "runs": runs,
                "medians": medians,
                "floor": floor,
                "ratio_orchestrated_floor": medians["orchestrated"]["seconds"]
                / medians[floor]["seconds"],
            }
        latency: dict[str, list[dict[str, Any]]] = {}
        measured = {v: p for v, p in processes.items() if v != "raw"}
        for rep in range(config.repeats):
            found = offer(
                servers, measured, tag=f"lat{rep}", events=config.latency_events, rate=config.rate
            )
            for variant, run in found.items():
                latency.setdefault(variant, []).append(run)
        results["latency"] = {
            "rate": config.rate,
            "runs": latency,
            "medians": {variant: _medians(runs) for variant, runs in latency.items()},
        }
    return results
