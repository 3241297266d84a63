"""The markdown summary of one bench run (pasted into BENCHMARKS.md)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["render", "targets"]


def _f(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _list(values: list[float], digits: int = 2) -> str:
    return ", ".join(_f(v, digits) for v in values)


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, threshold, measured, met) for every target the run measured."""
    found: list[tuple[str, str, str, bool]] = []
    routing = results.get("routing")
    if routing:
        for size, part in routing["sizes"].items():
            eps = part["medians"]["orchestrated"]["events_per_second"]
            found.append(
                (f"routing {size} events, end to end", "≥ 200 events/s", f"{eps:.0f}", eps >= 200)
            )
            ratio = part["ratio_orchestrated_raw"]
            found.append(
                (f"routing {size} events, orchestrated/raw time", "≤ 2", f"{ratio:.2f}", ratio <= 2)
            )
            complete = all(
                r["messages"]["wrong"] == 0
                and r["messages"]["extra"] == 0
                and r["messages"]["recorded"] == r["messages"]["expected"]
                and r["statuses"].get("200") == r["events"]
                for r in part["runs"]["orchestrated"]
            )
            found.append(
                (
                    f"routing {size} events, every decision recorded",
                    "all",
                    "all" if complete else "NOT all",
                    complete,
                )
            )
        p95 = routing["latency"]["medians"].get("event_to_message_p95", math.nan)
        found.append(
            (
                f"event-to-message p95 at {routing['latency']['rate']:g} events/s",
                "≤ 1 s",
                f"{p95:.3f} s",
                p95 <= 1,
            )
        )
        reads = max(
            part["medians"]["orchestrated"]["vault_reads_per_event"]
            for part in routing["sizes"].values()
        )
        found.append(
            ("Vault reads per routing event (worst size)", "≤ 0.01", f"{reads:.4f}", reads <= 0.01)
        )
    tokens = results.get("tokens")
    if tokens:
        seconds = tokens["medians"]["flow"]["seconds"]
        found.append(
            (
                f"{tokens['credentials']} due credentials refreshed",
                "≤ 20 s",
                f"{seconds:.1f} s",
                seconds <= 20,
            )
        )
        ratio = tokens["ratio_flow_raw"]
        found.append(("token fleet flow/raw time", "≤ 1.5", f"{ratio:.2f}", ratio <= 1.5))
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
        f"{' '.join(machine.get('loadavg_end', []))}. Total {results.get('total_seconds', 0):.0f} s.",
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


def _routing(routing: dict[str, Any]) -> list[str]:
    config = routing["config"]
    warm = routing.get("warm_up", {})
    out = [
        "",
        "### Routing: ingress → flow runs → sandbox messages (50 skills)",
        "",
        f"Throughput runs keep {config['concurrency']} single-event POSTs outstanding (closed loop); "
        "time is first POST sent → last answer or last message recorded, whichever is later. "
        "`raw` = plain asyncio + httpx2 making the same upstream calls in-process (no HTTP ingress); "
        "`plain` = the same ingress app and routing core with the flow replaced by a direct call "
        "(Switchboard without Prefect); `orchestrated` = `switchboard ingest` (one "
        "`route_conversations` flow run per batch).",
        "",
        "| events | variant | median s | median events/s | ratio to raw | events/s per run |",
        "|---|---|---|---|---|---|",
    ]
    for size, part in routing["sizes"].items():
        raw_seconds = part["medians"]["raw"]["seconds"]
        for variant in ("raw", "plain", "orchestrated"):
            runs = part["runs"].get(variant)
            if not runs:
                continue
            med = part["medians"][variant]
            out.append(
                f"| {size} | {variant} | {_f(med['seconds'])} | {_f(med['events_per_second'], 0)} | "
                f"{_f(med['seconds'] / raw_seconds)} | {_list([r['events_per_second'] for r in runs], 0)} |"
            )
    if warm:
        out += [
            "",
            "Warm-up (not in the numbers above): "
            + "; ".join(
                f"{k}: first 20 events {_f(v['first_batch_seconds'])} s, next 20 {_f(v['second_batch_seconds'])} s"
                for k, v in warm.items()
            )
            + ".",
        ]
    latency = routing["latency"]
    out += [
        "",
        f"#### Event-to-message latency at {latency['rate']:g} events/s offered (open loop)",
        "",
        "From the POST leaving the generator to the sandbox recording the message "
        "(`received_at`), for every conversation that gets a message.",
        "",
        "| run | events | messages | p50 s | p95 s | p99 s | max s | ack p95 s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, run in enumerate(latency["runs"], 1):
        lat = run["event_to_message_seconds"]
        out.append(
            f"| {i} | {run['events']} | {lat['count']} | {_f(lat['p50'], 3)} | {_f(lat['p95'], 3)} | "
            f"{_f(lat['p99'], 3)} | {_f(lat['max'], 3)} | {_f(run['ack_seconds']['p95'], 3)} |"
        )
    med = latency["medians"]
    out.append(
        f"| median | | | {_f(med.get('event_to_message_p50'), 3)} | {_f(med.get('event_to_message_p95'), 3)} "
        f"| {_f(med.get('event_to_message_p99'), 3)} | | |"
    )
    out += [
        "",
        "#### Upstream calls per routing event (amortized, medians)",
        "",
        "| events | variant | Vault reads | CSDS | agent-view | queue health | messages |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, part in routing["sizes"].items():
        for variant, med in part["medians"].items():
            out.append(
                f"| {size} | {variant} | {_f(med['vault_reads_per_event'], 4)} | {_f(med['csds_per_event'], 4)} | "
                f"{_f(med['agent_view_per_event'], 4)} | {_f(med['queue_health_per_event'], 4)} | "
                f"{_f(med['messages_per_event'], 3)} |"
            )
    lmed = latency["medians"]
    out.append(
        f"| {latency['runs'][0]['events']} @ {latency['rate']:g}/s | orchestrated | {_f(lmed['vault_reads_per_event'], 4)} | "
        f"{_f(lmed['csds_per_event'], 4)} | {_f(lmed['agent_view_per_event'], 4)} | "
        f"{_f(lmed['queue_health_per_event'], 4)} | {_f(lmed['messages_per_event'], 3)} |"
    )
    return out


def _tokens(tokens: dict[str, Any]) -> list[str]:
    out = [
        "",
        f"### Token fleet: {tokens['credentials']} client-credentials credentials, all due, one run",
        "",
        f"Concurrency {tokens['concurrency']} in every variant. `raw` = asyncio + httpx2 making the "
        "same Vault and IdP calls; `core` = Switchboard's `Refresher` on a thread pool, no Prefect "
        "(own process); `flow` = one `refresh_due_tokens` run (own process). Seconds = the run "
        "itself; process wall time adds interpreter start, imports and Prefect's log/event flush.",
        "",
        "| variant | median s | ratio to raw | s per run | process wall s (median) | Vault ops / credential | Vault reads / credential | tokens in Vault |",
        "|---|---|---|---|---|---|---|---|",
    ]
    raw = tokens["medians"]["raw"]["seconds"]
    for variant, runs in tokens["runs"].items():
        med = tokens["medians"][variant]
        out.append(
            f"| {variant} | {_f(med['seconds'])} | {_f(med['seconds'] / raw)} | "
            f"{_list([r['seconds'] for r in runs])} | {_f(med.get('process_wall_seconds'))} | "
            f"{_f(med['vault_ops_per_credential'])} | {_f(med['vault_reads_per_credential'])} | "
            f"{', '.join(str(r['refreshed_in_vault']) for r in runs)} / {tokens['credentials']} |"
        )
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
