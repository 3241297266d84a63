"""Routing metrics: what the ingress and the LivePerson clients count (no credential names)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["RoutingMetrics"]

BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
ANSWER_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class RoutingMetrics:
    """Counters and histograms of one process's routing, in its own registry.

    Implements ``switchboard.liveperson.UpstreamObserver``; the ingress app calls the others.
    Labels are bounded sets: decision kinds, CSDS service names, HTTP statuses, error classes.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter(
            "switchboard_routing_decisions",
            "Routing decisions made, by kind.",
            ["kind"],
            registry=r,
        )
        self.batch_size = Histogram(
            "switchboard_routing_batch_size",
            "Events per routed batch.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.batch_failures = Counter(
            "switchboard_routing_batch_failures",
            "Batches that failed (answered 503), by error class.",
            ["error_class"],
            registry=r,
        )
        self.answer_seconds = Histogram(
            "switchboard_ingress_answer_seconds",
            "From a POST /events arriving to its answer, by HTTP status.",
            ["status"],
            buckets=ANSWER_SECONDS_BUCKETS,
            registry=r,
        )
        self.upstream_requests = Counter(
            "switchboard_upstream_requests",
            "LivePerson requests (each attempt), by service and HTTP status (or timeout/network).",
            ["service", "status"],
            registry=r,
        )
        self.upstream_failures = Counter(
            "switchboard_upstream_failures",
            "LivePerson calls that failed for good (after retries), by service and error class.",
            ["service", "error_class"],
            registry=r,
        )
        self._queued = Gauge(
            "switchboard_ingress_queued_events", "Events waiting for a batch.", registry=r
        )
        self._in_flight = Gauge(
            "switchboard_ingress_batches_in_flight", "Batches being routed now.", registry=r
        )

    def watch_queue(self, queued: Callable[[], float], in_flight: Callable[[], float]) -> None:
        """Read the batcher's queue and in-flight count at each scrape."""
        self._queued.set_function(queued)
        self._in_flight.set_function(in_flight)

    def batch_routed(self, size: int, kinds: Iterable[str]) -> None:
        self.batch_size.observe(size)
        for kind in kinds:
            self.decisions.labels(kind=kind).inc()

    def batch_failed(self, size: int, error_class: str) -> None:
        self.batch_size.observe(size)
        self.batch_failures.labels(error_class=error_class).inc()

    def answered(self, status: int, seconds: float) -> None:
        self.answer_seconds.labels(status=str(status)).observe(seconds)

    def upstream_answered(self, service: str, status: str) -> None:
        self.upstream_requests.labels(service=service, status=status).inc()

    def upstream_failed(self, service: str, error_class: str) -> None:
        self.upstream_failures.labels(service=service, error_class=error_class).inc()
