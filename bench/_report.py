"""The markdown summary of one bench run (pasted into BENCHMARKS.md)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["render", "targets"]

_CPU_ROLES = ("bench (load generator / raw)", "ingress", "prefect server", "sandbox", "openbao")


def _f(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
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


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _header(*names: str) -> list[str]:
    return [_row(*names), "|" + "---|" * len(names)]


_ROUTING_INTRO = (
    "Throughput runs keep {concurrency} single-event POSTs outstanding (closed loop); time is "
    "first POST sent → last answer or last message recorded, whichever is later. `raw` = plain "
    "asyncio + httpx2 making the same upstream calls in-process (no HTTP ingress); `plain` = the "
    "same ingress app and routing core with the flow replaced by a direct call (Switchboard "
    "without Prefect); `orchestrated` = `switchboard ingest` (one `route_conversations` flow run "
    "per batch)."
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
        *_header("events", "variant", "median s", "events/s", "ratio to raw", "events/s per run"),
    ]
    for size, part in routing["sizes"].items():
        raw_seconds = part["medians"]["raw"]["seconds"]
        for variant in ("raw", "plain", "orchestrated"):
            runs = part["runs"].get(variant)
            if not runs:
                continue
            med = part["medians"][variant]
            per_run = _list([r["events_per_second"] for r in runs], 0)
            ratio = _f(med["seconds"] / raw_seconds)
            out.append(
                _row(
                    size,
                    variant,
                    _f(med["seconds"]),
                    _f(med["events_per_second"], 0),
                    ratio,
                    per_run,
                )
            )
    warm = routing.get("warm_up", {})
    if warm:
        parts = [
            f"{kind}: first 20 events {_f(v['first_batch_seconds'])} s, "
            f"next 20 {_f(v['second_batch_seconds'])} s"
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
        *_header(
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
    for i, run in enumerate(latency["runs"], 1):
        lat = run["event_to_message_seconds"]
        quantiles = [_f(lat[q], 3) for q in ("p50", "p95", "p99", "max")]
        ok = run["statuses"].get("200", 0)
        out.append(
            _row(i, run["events"], ok, lat["count"], *quantiles, _f(run["ack_seconds"]["p95"], 3))
        )
    med = latency["medians"]
    quantiles = [_f(med.get(f"event_to_message_{q}"), 3) for q in ("p50", "p95", "p99")]
    out.append(_row("median", "", "", "", *quantiles, "", ""))
    return out


def _upstream(routing: dict[str, Any]) -> list[str]:
    out = [
        "",
        "#### Upstream calls per routing event (amortized, medians)",
        "",
        *_header(
            "events", "variant", "Vault reads", "CSDS", "agent-view", "queue health", "messages"
        ),
    ]

    def row(size: str, variant: str, med: dict[str, float]) -> str:
        return _row(
            size,
            variant,
            _f(med["vault_reads_per_event"], 4),
            _f(med["csds_per_event"], 4),
            _f(med["agent_view_per_event"], 4),
            _f(med["queue_health_per_event"], 4),
            _f(med["messages_per_event"], 3),
        )

    for size, part in routing["sizes"].items():
        out += [row(size, variant, med) for variant, med in part["medians"].items()]
    latency = routing["latency"]
    size = f"{latency['runs'][0]['events']} @ {latency['rate']:g}/s"
    out.append(row(size, "orchestrated", latency["medians"]))
    return out


def _cpu(routing: dict[str, Any]) -> list[str]:
    out = [
        "",
        "#### CPU seconds per 1,000 events, by process (medians; 2 cores give 2 CPU-s per second)",
        "",
        *_header("events", "variant", *_CPU_ROLES, "total"),
    ]
    for size, part in routing["sizes"].items():
        for variant, med in part["medians"].items():
            cells = [med.get(f"cpu:{role}") for role in _CPU_ROLES]
            total = sum(c for c in cells if c is not None)
            out.append(_row(size, variant, *(_f(c) for c in cells), _f(total)))
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
        *_header(
            "variant",
            "median s",
            "ratio to raw",
            "s per run",
            "process wall s",
            "Vault ops / credential",
            "Vault reads / credential",
            "tokens in Vault",
        ),
    ]
    raw = tokens["medians"]["raw"]["seconds"]
    for variant, runs in tokens["runs"].items():
        med = tokens["medians"][variant]
        stored = ", ".join(str(r["refreshed_in_vault"]) for r in runs)
        out.append(
            _row(
                variant,
                _f(med["seconds"]),
                _f(med["seconds"] / raw),
                _list([r["seconds"] for r in runs]),
                _f(med.get("process_wall_seconds")),
                _f(med["vault_ops_per_credential"]),
                _f(med["vault_reads_per_credential"]),
                f"{stored} / {tokens['credentials']}",
            )
        )
    roles = [key.removeprefix("cpu:") for key in tokens["medians"]["raw"] if key.startswith("cpu:")]
    if roles:
        out += ["", "CPU seconds used during the run, by process (medians):", ""]
        out += _header("variant", *roles)
        for variant, med in tokens["medians"].items():
            out.append(_row(variant, *(_f(med.get(f"cpu:{role}")) for role in roles)))
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
            f"k = {part['concurrency']}: {part['runs']} runs in {_f(part['seconds'])} s "
            f"({_f(part['flow_runs_per_second'])} flow runs/s); run time p50 {_f(run['p50'])}, "
            f"p95 {_f(run['p95'])}, max {_f(run['max'])}.",
            "",
            *_header("call", "per run", "p50", "p95", "max", "total"),
        ]
        for call, c in part["api_calls"].items():
            cells = (_f(c["p50"], 3), _f(c["p95"], 3), _f(c["max"], 3), _f(c["total"]))
            out.append(_row(f"`{call}`", _f(c["per_run"], 1), *cells))
    return out
