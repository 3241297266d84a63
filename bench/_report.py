"""The markdown summary of one bench run (pasted into BENCHMARKS.md)."""

from __future__ import annotations

import math
from typing import Any

from bench._markdown import fmt, header, joined, row
from bench._report_curves import render_curves
from bench._scenario import all_recorded

__all__ = ["render", "targets", "token_floor"]

_CPU_ROLES = ("bench (load generator)", "routing server", "prefect server", "sandbox", "openbao")


def token_floor(tokens: dict[str, Any]) -> str:
    """The faster of the raw baseline and Switchboard's core without Prefect, in this run."""
    return min(("raw", "core"), key=lambda v: tokens["medians"].get(v, {}).get("seconds", math.inf))


def _routing_targets(routing: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    found = []
    for size, part in routing["sizes"].items():
        ratio = part["ratio_orchestrated_floor"]
        found.append(
            (
                f"routing {size} events, orchestrated/floor time (floor: {part['floor']})",
                "≤ 1.3",
                f"{ratio:.2f}",
                ratio <= 1.3,
            )
        )
        complete = all(all_recorded(r) for r in part["runs"]["orchestrated"])
        found.append(
            (
                f"routing {size} events, every decision recorded",
                "all",
                "all" if complete else "NOT all",
                complete,
            )
        )
    latency = routing["latency"]
    rate = f"{latency['rate']:g} events/s"
    runs = latency["runs"].get("orchestrated", [])
    complete = all(all_recorded(r) for r in runs)
    found.append(
        (
            f"open loop {rate}, every decision recorded",
            "all",
            "all" if complete else "NOT all",
            complete,
        )
    )
    orchestrated = latency["medians"].get("orchestrated", {})
    p99 = orchestrated.get("event_to_message_p99", math.nan)
    found.append((f"event-to-message p99 at {rate}", "< 1 s", f"{p99:.3f} s", p99 < 1))
    plain = latency["medians"].get("plain")
    for q in ("p95", "p99") if plain else ():
        ratio = orchestrated[f"event_to_message_{q}"] / plain[f"event_to_message_{q}"]
        found.append(
            (
                f"event-to-message {q} at {rate}, orchestrated/plain",
                "≤ 1.5",
                f"{ratio:.2f}",
                ratio <= 1.5,
            )
        )
    reads = max(
        part["medians"]["orchestrated"]["vault_reads_per_event"]
        for part in routing["sizes"].values()
    )
    found.append(
        ("Vault reads per routing event (worst size)", "≤ 0.01", f"{reads:.4f}", reads <= 0.01)
    )
    return found


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, threshold, measured, met) for every target of issue 13 the run measured."""
    found: list[tuple[str, str, str, bool]] = []
    if results.get("routing"):
        found += _routing_targets(results["routing"])
    tokens = results.get("tokens")
    if tokens:
        floor = token_floor(tokens)
        ratio = tokens["medians"]["flow"]["seconds"] / tokens["medians"][floor]["seconds"]
        found.append(
            (
                f"token fleet {tokens['credentials']}, flow/floor (floor: {floor})",
                "≤ 1.2",
                f"{ratio:.2f}",
                ratio <= 1.2,
            )
        )
    fleet = results.get("fleet_curve")
    if fleet and fleet.get("per_credential_10k_over_1k") is not None:
        ratio = fleet["per_credential_10k_over_1k"]
        found.append(
            (
                "token fleet, seconds per credential at 10,000 / at 1,000",
                "≤ 1.1",
                f"{ratio:.2f}",
                ratio <= 1.1,
            )
        )
    return found


def render(results: dict[str, Any]) -> str:
    machine = results["machine"]
    out = [
        f"## Run of {results['started_at']} (`{results['command']}`)",
        "",
        f"Machine: {machine['nproc']} CPUs ({machine['cpu']}), memory {machine['memory']}, "
        f"kernel {machine['kernel']}; Python {machine['python']}, Prefect {machine['prefect']}, "
        f"{machine['openbao'].split(' (')[0]}; commit {machine['git_commit']}. "
        f"Load average at start {' '.join(machine['loadavg_start'])}, at end "
        f"{' '.join(machine.get('loadavg_end', []))}. "
        f"Total {results.get('total_seconds', 0):.0f} s. "
        f"Prefect server database: {results.get('prefect_database', 'sqlite')}.",
        "",
        "### Targets",
        "",
        "| target | threshold | measured (median) | met |",
        "|---|---|---|---|",
    ]
    out += [
        f"| {t} | {th} | {m} | {'yes' if ok else '**no**'} |" for t, th, m, ok in targets(results)
    ]
    routing = results.get("routing")
    if routing:
        out += _routing(routing)
    tokens = results.get("tokens")
    if tokens:
        out += _tokens(tokens)
    out += render_curves(results)
    if results.get("prefect_api"):
        out += _prefect_api(results["prefect_api"])
    if results.get("peak_memory_mib"):
        out += [
            "",
            "### Peak resident memory (MiB, process and its children)",
            "",
            "| process | peak MiB |",
            "|---|---|",
        ]
        out += [f"| {role} | {mib:.0f} |" for role, mib in results["peak_memory_mib"].items()]
    return "\n".join(out) + "\n"


_ROUTING_INTRO = (
    "Throughput runs keep {concurrency} single-event POSTs outstanding (closed loop); time is "
    "first POST sent → last answer or last message recorded, whichever is later. Every variant "
    "is a server process taking the same signed POSTs: `raw` = a hand-written asyncio server "
    "making the same upstream calls with a minimal HTTP/1.1 client (`bench._raw_routing`); "
    "`plain` = Switchboard's ingress app and routing core with the flow replaced by a direct "
    "call (Switchboard without Prefect); `orchestrated` = `switchboard ingest` (one "
    "`route_conversations` flow run per batch). Ratios are to the floor: the faster of raw and "
    "plain in this run."
)


def _routing(routing: dict[str, Any]) -> list[str]:
    settings = routing.get("ingress_settings", {})
    out = [
        "",
        "### Routing: ingress → flow runs → sandbox messages (50 skills)",
        "",
        "Ingress settings: " + ", ".join(f"`{k}={v}`" for k, v in settings.items()) + ".",
        "",
        _ROUTING_INTRO.format(concurrency=routing["config"]["concurrency"]),
        "",
        *header("events", "variant", "median s", "events/s", "ratio to floor", "events/s per run"),
    ]
    for size, part in routing["sizes"].items():
        floor_seconds = part["medians"][part["floor"]]["seconds"]
        for variant in ("raw", "plain", "orchestrated"):
            runs = part["runs"].get(variant)
            if not runs:
                continue
            med = part["medians"][variant]
            name = f"{variant} (floor)" if variant == part["floor"] else variant
            out.append(
                row(
                    size,
                    name,
                    fmt(med["seconds"]),
                    fmt(med["events_per_second"], 0),
                    fmt(med["seconds"] / floor_seconds),
                    joined([r["events_per_second"] for r in runs], 0),
                )
            )
    warm = routing.get("warm_up", {})
    if warm:
        parts = [
            f"{kind}: first 20 events {fmt(v['first_batch_seconds'])} s, "
            f"next 20 {fmt(v['second_batch_seconds'])} s"
            for kind, v in warm.items()
        ]
        out += ["", "Warm-up (not in the numbers above): " + "; ".join(parts) + "."]
    out += _latency(routing["latency"])
    out += _upstream(routing)
    out += _cpu(routing)
    return out


def _latency(latency: dict[str, Any]) -> list[str]:
    out = [
        "",
        f"#### Event-to-message latency at {latency['rate']:g} events/s offered (open loop)",
        "",
        "From the POST leaving the generator to the sandbox recording the message "
        "(`received_at`), for every conversation that gets a message.",
        "",
        *header(
            "variant",
            "run",
            "events",
            "answered 200",
            "messages",
            "p50 s",
            "p95 s",
            "p99 s",
            "max s",
            "ack p95 s",
        ),
    ]
    for variant, runs in latency["runs"].items():
        for i, run in enumerate(runs, 1):
            lat = run["event_to_message_seconds"]
            quantiles = [fmt(lat[q], 3) for q in ("p50", "p95", "p99", "max")]
            ok = run["statuses"].get("200", 0)
            ack = fmt(run["ack_seconds"]["p95"], 3)
            out.append(row(variant, i, run["events"], ok, lat["count"], *quantiles, ack))
        med = latency["medians"][variant]
        quantiles = [fmt(med.get(f"event_to_message_{q}"), 3) for q in ("p50", "p95", "p99")]
        out.append(row(variant, "median", "", "", "", *quantiles, "", ""))
    return out


def _upstream(routing: dict[str, Any]) -> list[str]:
    out = [
        "",
        "#### Upstream calls per routing event (amortized, medians)",
        "",
        *header(
            "events", "variant", "Vault reads", "CSDS", "agent-view", "queue health", "messages"
        ),
    ]

    def upstream_row(size: str, variant: str, med: dict[str, float]) -> str:
        return row(
            size,
            variant,
            fmt(med["vault_reads_per_event"], 4),
            fmt(med["csds_per_event"], 4),
            fmt(med["agent_view_per_event"], 4),
            fmt(med["queue_health_per_event"], 4),
            fmt(med["messages_per_event"], 3),
        )

    for size, part in routing["sizes"].items():
        out += [upstream_row(size, variant, med) for variant, med in part["medians"].items()]
    latency = routing["latency"]
    for variant, runs in latency["runs"].items():
        size = f"{runs[0]['events']} @ {latency['rate']:g}/s"
        out.append(upstream_row(size, variant, latency["medians"][variant]))
    return out


def _cpu(routing: dict[str, Any]) -> list[str]:
    out = [
        "",
        "#### CPU seconds per 1,000 events, by process (medians; 2 cores give 2 CPU-s per second)",
        "",
        *header("events", "variant", *_CPU_ROLES, "total"),
    ]
    for size, part in routing["sizes"].items():
        for variant, med in part["medians"].items():
            cells = [med.get(f"cpu:{role}") for role in _CPU_ROLES]
            total = sum(c for c in cells if c is not None)
            out.append(row(size, variant, *(fmt(c) for c in cells), fmt(total)))
    return out


def _tokens(tokens: dict[str, Any]) -> list[str]:
    out = [
        "",
        f"### Token fleet: {tokens['credentials']} client-credentials credentials, all due, "
        "one run",
        "",
        f"Concurrency {tokens['concurrency']} in every variant. `raw` = asyncio + httpx2 making "
        "the "
        "same Vault and IdP calls; `core` = Switchboard's `Refresher` on a thread pool, no Prefect "
        "(own process); `flow` = one `refresh_due_tokens` run (own process). Seconds = the run "
        "itself; process wall time adds interpreter start, imports and Prefect's log/event flush. "
        "Measured once the Prefect server was idle (waited "
        f"{tokens.get('waited_for_idle_prefect_seconds', 0):.0f} s for it to store earlier runs).",
        "",
        *header(
            "variant",
            "median s",
            "ratio to floor",
            "spread (max/min)",
            "s per run",
            "process wall s",
            "Vault ops / credential",
            "Vault reads / credential",
            "tokens in Vault",
        ),
    ]
    floor_variant = token_floor(tokens)
    floor = tokens["medians"][floor_variant]["seconds"]
    for variant, runs in tokens["runs"].items():
        med = tokens["medians"][variant]
        seconds = [r["seconds"] for r in runs]
        stored = ", ".join(str(r["refreshed_in_vault"]) for r in runs)
        out.append(
            row(
                f"{variant} (floor)" if variant == floor_variant else variant,
                fmt(med["seconds"]),
                fmt(med["seconds"] / floor),
                fmt(max(seconds) / min(seconds)),
                joined(seconds),
                fmt(med.get("process_wall_seconds")),
                fmt(med["vault_ops_per_credential"]),
                fmt(med["vault_reads_per_credential"]),
                f"{stored} / {tokens['credentials']}",
            )
        )
    roles = [key.removeprefix("cpu:") for key in tokens["medians"]["raw"] if key.startswith("cpu:")]
    if roles:
        out += ["", "CPU seconds used during the run, by process (medians):", ""]
        out += header("variant", *roles)
        for variant, med in tokens["medians"].items():
            out.append(row(variant, *(fmt(med.get(f"cpu:{role}")) for role in roles)))
    flow_runs = tokens["runs"].get("flow", [])
    if flow_runs:
        kinds = flow_runs[0]["vault"]["by_kind"]
        out += [
            "",
            "Vault requests of one flow run, by kind: "
            + ", ".join(f"`{k}` {v}" for k, v in kinds.items())
            + ".",
        ]
    return out


def _prefect_api(parts: list[dict[str, Any]]) -> list[str]:
    out = [
        "",
        "### Prefect API time of a `route_conversations` run (diagnostic)",
        "",
        "The flow called in one process on batches of 10 events, k runs at a time; every Prefect "
        "API request timed by method and path (seconds).",
    ]
    for part in parts:
        run = part["run_seconds"]
        out += [
            "",
            f"k = {part['concurrency']}: {part['runs']} runs in {fmt(part['seconds'])} s "
            f"({fmt(part['flow_runs_per_second'])} flow runs/s); run time p50 {fmt(run['p50'])}, "
            f"p95 {fmt(run['p95'])}, max {fmt(run['max'])}.",
            "",
            *header("call", "per run", "p50", "p95", "max", "total"),
        ]
        for call, c in part["api_calls"].items():
            cells = (fmt(c["p50"], 3), fmt(c["p95"], 3), fmt(c["max"], 3), fmt(c["total"]))
            out.append(row(f"`{call}`", fmt(c["per_run"], 1), *cells))
    return out
