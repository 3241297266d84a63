"""The routing cost curves: latency against offered rate, throughput and CPU against batch size.

``latency_curve``: open loop at each offered rate (25 to 400 events/s), then faster until the
p99 event-to-message time passes 1 s, for the plain ingress and ``switchboard ingest`` alike;
the crossing rate is interpolated between the two points that bracket it. ``batch_curve``: both
ingresses restarted with each ``max_batch_size`` and driven closed loop, so every batch is full:
what a flow run costs is paid once per batch, and this curve shows how far a bigger batch
amortises it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench._measure import PeakMemory
from bench._routing import effective_settings, ingresses, offer
from bench._scenario import all_recorded
from bench._servers import BenchServers

__all__ = ["BATCH_SIZES", "RATES", "batch_curve", "latency_curve"]

RATES = (25.0, 50.0, 100.0, 200.0, 400.0)
BATCH_SIZES = (25, 50, 100, 250, 500, 1000)
P99_LIMIT = 1.0
_SEARCH_FACTOR = 1.5
_SEARCH_CEILING = 3200.0
"""No rate beyond this: the machine's closed-loop throughput is far lower, so p99 has passed
1 s long before (a ceiling keeps a surprise from offering an unbounded backlog)."""


def _point(rate: float, run: dict[str, Any]) -> dict[str, Any]:
    latency = run["event_to_message_seconds"]
    return {
        "rate": rate,
        "events": run["events"],
        "complete": all_recorded(run),
        "statuses": run["statuses"],
        **{q: latency[q] for q in ("p50", "p95", "p99", "max")},
        "ack_p95": run["ack_seconds"]["p95"],
        "cpu_seconds_per_1000_events": run["cpu_seconds_per_1000_events"],
    }


def _crossing(points: Sequence[dict[str, Any]]) -> float | None:
    """The offered rate where p99 passes ``P99_LIMIT``, linear between the bracketing points;
    ``None`` when no point passed it, 0 when the slowest rate already did."""
    ordered = sorted(points, key=lambda p: p["rate"])
    for below, above in zip([None, *ordered], ordered, strict=False):
        if above["p99"] <= P99_LIMIT:
            continue
        if below is None:
            return 0.0
        share = (P99_LIMIT - below["p99"]) / (above["p99"] - below["p99"])
        return float(below["rate"] + share * (above["rate"] - below["rate"]))
    return None


def latency_curve(
    servers: BenchServers,
    memory: PeakMemory,
    *,
    rates: Sequence[float] = RATES,
    seconds: float,
    search: bool = True,
    variants: Sequence[str],
    settings: dict[str, str],
) -> dict[str, Any]:
    """p50/p95/p99 event-to-message time at each rate (``seconds`` of events each); with
    ``search``, faster rates until p99 passes ``P99_LIMIT`` for every variant."""
    points: dict[str, list[dict[str, Any]]] = {}
    counter = iter(range(1000))

    def measure(rate: float) -> None:
        events = max(20, round(rate * seconds))
        found = offer(servers, processes, tag=f"c{next(counter)}", events=events, rate=rate)
        for variant, run in found.items():
            points.setdefault(variant, []).append(_point(rate, run))

    with ingresses(servers, memory, variants=variants, settings=settings, name="-curve") as (
        processes,
        _,
    ):
        for rate in rates:
            measure(rate)
        rate = max(rates)
        while (
            search and rate < _SEARCH_CEILING and any(_crossing(p) is None for p in points.values())
        ):
            rate *= _SEARCH_FACTOR
            measure(rate)
    return {
        "seconds_per_rate": seconds,
        "p99_limit": P99_LIMIT,
        "ingress_settings": effective_settings(settings),
        "points": points,
        "p99_crossing_rate": {variant: _crossing(found) for variant, found in points.items()},
    }


def batch_curve(
    servers: BenchServers,
    memory: PeakMemory,
    *,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    events: int,
    concurrency: int,
    variants: Sequence[str],
    settings: dict[str, str],
) -> dict[str, Any]:
    """Closed-loop throughput and CPU per 1,000 events at each ``max_batch_size``."""
    points: dict[str, list[dict[str, Any]]] = {}
    for size in batch_sizes:
        with ingresses(
            servers,
            memory,
            variants=variants,
            settings={**settings, "max_batch_size": str(size)},
            name=f"-batch{size}",
        ) as (processes, _):
            found = offer(
                servers, processes, tag=f"b{size}", events=events, concurrency=concurrency
            )
        for variant, run in found.items():
            cpu = run["cpu_seconds_per_1000_events"]
            points.setdefault(variant, []).append(
                {
                    "max_batch_size": size,
                    "events": events,
                    "events_per_second": run["events_per_second"],
                    "cpu_seconds_per_1000_events": cpu,
                    "cpu_total_per_1000_events": math.fsum(cpu.values()),
                    "statuses": run["statuses"],
                    "messages": run["messages"],
                }
            )
    return {"events": events, "concurrency": concurrency, "points": points}
