"""Refresh metrics: outcomes, lock waits and retries of a process that keeps a ``Refresher``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from switchboard._models import RefreshOutcome

__all__ = ["RefreshMetrics"]


class RefreshMetrics:
    """A ``Refresher`` observer (``Refresher(..., observer=RefreshMetrics(registry))``).

    Counts live only as long as the process: give it to a long-lived one, or have a
    ``TextfileExport`` add them to a node_exporter textfile before a short-lived one ends. The
    fleet's persistent view (expiry, state, failures) is read from Vault by
    ``CredentialCollector``.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.outcomes = Counter(
            "switchboard_refresh_outcomes",
            "Refresh attempts by outcome (status busy: a claim was found held, a lock wait) "
            "and error class (empty unless failed).",
            ["status", "error_class"],
            registry=self.registry,
        )
        self.retries = Counter(
            "switchboard_refresh_retries",
            "Token endpoint requests repeated within a refresh after a transient error.",
            registry=self.registry,
        )

    def __call__(self, outcome: RefreshOutcome) -> None:
        self.outcomes.labels(status=outcome.status, error_class=outcome.error_class or "").inc()
        if outcome.attempts > 1:
            self.retries.inc(outcome.attempts - 1)
