"""The markdown tables of the cost curves (the pictures show the same numbers)."""

from __future__ import annotations

from typing import Any

from bench._markdown import fmt, header, row

__all__ = ["render_curves"]

_ORDER = ("raw", "plain", "orchestrated")


def _latency(curve: dict[str, Any]) -> list[str]:
    crossing = ", ".join(
        f"{variant} {'not reached' if rate is None else f'≈{rate:.0f} events/s'}"
        for variant, rate in curve["p99_crossing_rate"].items()
    )
    out = [
        "",
        "### Latency against offered rate (open loop)",
        "",
        f"{curve['seconds_per_rate']:g} s of events at each rate, plain ingress then "
        "`switchboard ingest`; event-to-message seconds. Rate where p99 passes "
        f"{curve['p99_limit']:g} s (interpolated): {crossing}.",
        "",
        *header("rate/s", "variant", "events", "all recorded", "p50", "p95", "p99", "max"),
    ]
    rows = [(p["rate"], variant, p) for variant, ps in curve["points"].items() for p in ps]
    for rate, variant, p in sorted(rows, key=lambda r: (r[0], _ORDER.index(r[1]))):
        quantiles = [fmt(p[q], 3) for q in ("p50", "p95", "p99", "max")]
        recorded = "yes" if p["complete"] else "**no**"
        out.append(row(f"{rate:g}", variant, p["events"], recorded, *quantiles))
    return out


def _batch(curve: dict[str, Any]) -> list[str]:
    out = [
        "",
        "### Throughput and CPU against batch size (closed loop)",
        "",
        f"{curve['events']} events, {curve['concurrency']} outstanding, every server "
        "restarted with each `max_batch_size` (so batches are full).",
        "",
        *header(
            "max batch",
            "variant",
            "events/s",
            "CPU-s / 1,000 events",
            "of which the routing server",
        ),
    ]
    rows = [
        (p["max_batch_size"], variant, p) for variant, ps in curve["points"].items() for p in ps
    ]
    for size, variant, p in sorted(rows, key=lambda r: (r[0], _ORDER.index(r[1]))):
        server = p["cpu_seconds_per_1000_events"].get("routing server")
        out.append(
            row(
                size,
                variant,
                f"{p['events_per_second']:.0f}",
                fmt(p["cpu_total_per_1000_events"]),
                fmt(server),
            )
        )
    return out


def _fleet(curve: dict[str, Any]) -> list[str]:
    out = [
        "",
        "### Token fleet against size (client credentials, all due)",
        "",
        f'Medians of {curve["repeats"]} per size; "none due" = the flow once more over the '
        "fresh fleet (the every-minute run's steady cost). CPU-s by process during the run.",
        "",
        *header(
            "credentials",
            "variant",
            "seconds",
            "spread",
            "ms / credential",
            "Vault ops / credential",
            "CPU-s: client",
            "CPU-s: openbao",
            "CPU-s: prefect server",
        ),
    ]

    def fleet_row(count: int, variant: str, p: dict[str, Any]) -> str:
        cpu = p["cpu_seconds"]
        client = cpu["client (raw: bench process)"] + cpu["client (core/flow: own process)"]
        return row(
            count,
            variant,
            fmt(p["seconds"]),
            fmt(p.get("spread")),
            fmt(p["seconds"] * 1000 / count),
            fmt(p["vault_ops_per_credential"]),
            fmt(client),
            fmt(cpu["openbao"]),
            fmt(cpu["prefect server"]),
        )

    steady = {p["credentials"]: p for p in curve["steady"]}
    for raw, flow in zip(curve["points"]["raw"], curve["points"]["flow"], strict=True):
        count = raw["credentials"]
        out += [fleet_row(count, "raw", raw), fleet_row(count, "flow", flow)]
        out.append(fleet_row(count, "flow, none due", steady[count]))
    ratios = ", ".join(f"{size}: {ratio:.2f}" for size, ratio in curve["ratio_flow_raw"].items())
    out += ["", f"Flow/raw by size: {ratios}."]
    if curve.get("per_credential_10k_over_1k") is not None:
        out.append(
            "Seconds per credential at 10,000 over at 1,000 (flow): "
            f"{curve['per_credential_10k_over_1k']:.2f}."
        )
    for grant, found in curve["grants"].items():
        kinds = ", ".join(f"`{k}` {v}" for k, v in found["by_kind"].items())
        out.append(
            f"Vault operations per credential, {grant} grant ({found['credentials']} "
            f"credentials, flow): {found['vault_ops_per_credential']:.2f} ({kinds})."
        )
    cap = curve["capacity"]
    out.append(
        f"Capacity: planning costs {cap['plan_ms_per_credential']:.2f} ms per credential and a "
        f"refresh {cap['refresh_ms_per_credential']:.2f} ms more; with one-hour tokens at most "
        f"{cap['due_share_per_run']:.1%} of the fleet is due in a minute, so one worker's "
        f"every-minute run (less {cap['process_overhead_seconds']:.1f} s of process start and "
        f"exit) keeps **{cap['credentials']:,} credentials** fresh."
    )
    return out


def render_curves(results: dict[str, Any]) -> list[str]:
    """The curve sections of a run's summary, with the pictures linked (same directory)."""
    out: list[str] = []
    if results.get("latency_curve"):
        out += _latency(results["latency_curve"])
    if results.get("batch_curve"):
        out += _batch(results["batch_curve"])
    if results.get("fleet_curve"):
        out += _fleet(results["fleet_curve"])
    if results.get("pictures"):
        out += ["", *(f"![{name}]({name})" for name in results["pictures"])]
    return out
