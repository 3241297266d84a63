"""Prometheus metrics (no Prefect): a registry per process, never the global one.

``RoutingMetrics`` counts the ingress's batches, decisions, answers and LivePerson calls (it is
the clients' ``UpstreamObserver``); ``RefreshMetrics`` observes a ``Refresher``;
``CredentialCollector`` reads each credential's expiry and health from Vault at scrape time.
``metrics_route`` serves a registry as ``GET /metrics``; ``switchboard metrics`` is the command.
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
