"""Prometheus metrics (no Prefect): a registry per process, never the global one.

``RoutingMetrics`` counts the ingress's batches, decisions, answers and LivePerson calls (it is
the clients' ``UpstreamObserver``); ``RefreshMetrics`` observes a ``Refresher``;
``CredentialCollector`` reads each credential's health record (expiries, state, failures; no
secret) from Vault at scrape time, so ``switchboard metrics`` runs with the narrow
``switchboard-metrics`` identity. ``metrics_route`` serves a registry as ``GET /metrics``;
``check_exposure`` refuses to serve it without a token, loopback included.
"""

from __future__ import annotations

from switchboard.metrics._cli import METRICS_HELP, metrics_command
from switchboard.metrics._credentials import CredentialCollector, CredentialReading
from switchboard.metrics._http import metrics_route
from switchboard.metrics._refresh import RefreshMetrics
from switchboard.metrics._routing import RoutingMetrics
from switchboard.metrics._settings import MetricsSettings, check_exposure, is_loopback

__all__ = [
    "METRICS_HELP",
    "CredentialCollector",
    "CredentialReading",
    "MetricsSettings",
    "RefreshMetrics",
    "RoutingMetrics",
    "check_exposure",
    "is_loopback",
    "metrics_command",
    "metrics_route",
]
