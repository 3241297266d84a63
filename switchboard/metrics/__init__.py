"""Prometheus metrics (no Prefect): a registry per process, never the global one.

``RoutingMetrics`` counts the ingress's batches, decisions, answers and LivePerson calls (it is
the clients' ``UpstreamObserver``); ``RefreshMetrics`` observes a ``Refresher``;
``CredentialCollector`` reads each credential's health record (expiries, state, failures; no
secret) from Vault at scrape time, so ``switchboard metrics`` runs with the narrow
``switchboard-metrics`` identity. ``metrics_route`` serves a registry as ``GET /metrics``;
``check_exposure`` refuses to serve it without a token, loopback included. ``TextfileExport``
adds a short-lived process's refresh counts to a node_exporter textfile (``merge_textfile``), as
the refresh flows do when ``SWITCHBOARD_METRICS_TEXTFILE`` is set.
"""

from __future__ import annotations

from switchboard.metrics._cli import METRICS_HELP, metrics_command
from switchboard.metrics._credentials import CredentialCollector, CredentialReading
from switchboard.metrics._http import metrics_route
from switchboard.metrics._refresh import RefreshMetrics
from switchboard.metrics._routing import RoutingMetrics
from switchboard.metrics._settings import MetricsSettings, check_exposure, is_loopback
from switchboard.metrics._textfile import TextfileExport, merge_textfile

__all__ = [
    "METRICS_HELP",
    "CredentialCollector",
    "CredentialReading",
    "MetricsSettings",
    "RefreshMetrics",
    "RoutingMetrics",
    "TextfileExport",
    "check_exposure",
    "is_loopback",
    "merge_textfile",
    "metrics_command",
    "metrics_route",
]
