"""Per-credential gauges read from Vault at scrape time: expiry, health and failures.

Every worker's refreshes end up in Vault, so reading Vault gives the fleet's view whichever
process refreshed. Only the ``health`` records are read (and ``credentials/`` listed): they hold
the expiries, state and failure counts and no secret, so the scraping process can run with the
``switchboard-metrics`` identity, which cannot read a client secret, seed, access or refresh
token, though it listens on the network. Reads are kept ``cache_seconds`` so several scrapers
cost one round of reads. Credential names become labels only when the operator enables it (a
name can say which provider or customer a credential is for); the aggregates carry no names.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from switchboard._exceptions import SwitchboardError
from switchboard._models import utcnow
from switchboard.vault import CredentialStore

__all__ = ["CredentialCollector", "CredentialReading"]

logger = logging.getLogger("switchboard.metrics")

READ_CONCURRENCY = 8
NEVER_REFRESHED = "never_refreshed"
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class CredentialReading:
    """What one credential's health record says: times, state and counts, never a secret."""

    name: str
    state: str
    error_class: str = ""
    consecutive_failures: int = 0
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    last_success_at: datetime | None = None


def read_credential(store: CredentialStore, name: str) -> CredentialReading:
    """The health record of ``name``, and nothing else: never ``.../token`` or ``.../refresh``,
    which hold live secrets. The refresh writes the token's and the refresh token's expiry into
    health with every token it stores, and a stale claim as state ``in_doubt``; a credential
    with no health record yet is ``never_refreshed``. A record that cannot be read (a damaged
    one, a state this version does not know, a policy without the path) makes it
    ``unreadable`` rather than failing the scrape."""
    try:
        health = store.read_health(name)
    except SwitchboardError as exc:
        logger.warning("metrics: %s: %s: %s", name, type(exc).__name__, exc)
        return CredentialReading(name=name, state=UNREADABLE, error_class=type(exc).__name__)
    if health is None:
        return CredentialReading(name=name, state=NEVER_REFRESHED)
    return CredentialReading(
        name=name,
        state=health.state,
        error_class=health.error_class or "",
        consecutive_failures=health.consecutive_failures,
        access_expires_at=health.expires_at,
        refresh_expires_at=health.refresh_expires_at,
        last_success_at=health.last_success_at,
    )


class CredentialCollector(Collector):
    """A Prometheus collector over a store's credentials (see the module docstring)."""

    def __init__(
        self,
        store: CredentialStore,
        *,
        credential_names: bool = False,
        cache_seconds: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._names = credential_names
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._readings: list[CredentialReading] = []

    def readings(self) -> list[CredentialReading]:
        """Every credential's reading, from Vault when the kept ones are older than the cache."""
        with self._lock:  # one scrape reads; the ones arriving meanwhile wait and reuse it
            if time.monotonic() - self._read_at >= self._cache_seconds:
                names = self._store.list_credentials()
                with ThreadPoolExecutor(READ_CONCURRENCY) as pool:
                    self._readings = list(
                        pool.map(lambda name: read_credential(self._store, name), names)
                    )
                self._read_at = time.monotonic()
            return self._readings

    def collect(self) -> Iterator[Metric]:
        readings = self.readings()
        now = self._clock()
        yield from _aggregates(readings, now)
        if self._names:
            yield from _per_credential(readings, now)


def _seconds_until(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else (moment - now).total_seconds()


def _aggregates(readings: list[CredentialReading], now: datetime) -> Iterable[Metric]:
    by_state = GaugeMetricFamily(
        "switchboard_credentials",
        "Credentials by health state and last error class (no names).",
        labels=["state", "error_class"],
    )
    for (state, error_class), count in sorted(
        Counter((r.state, r.error_class) for r in readings).items()
    ):
        by_state.add_metric([state, error_class], count)
    yield by_state
    for name, attribute, what in (
        ("access", "access_expires_at", "access token"),
        ("refresh", "refresh_expires_at", "refresh token (where the provider tells it)"),
    ):
        left = [
            s for r in readings if (s := _seconds_until(getattr(r, attribute), now)) is not None
        ]
        if left:
            yield GaugeMetricFamily(
                f"switchboard_credentials_min_{name}_token_expiry_seconds",
                f"Seconds until the first {what} of the fleet expires (negative: expired).",
                value=min(left),
            )


def _per_credential(readings: list[CredentialReading], now: datetime) -> Iterable[Metric]:
    access = GaugeMetricFamily(
        "switchboard_credential_access_token_expiry_seconds",
        "Seconds until the stored access token expires (negative: expired).",
        labels=["credential"],
    )
    refresh = GaugeMetricFamily(
        "switchboard_credential_refresh_token_expiry_seconds",
        "Seconds until the refresh token expires, where the provider tells it.",
        labels=["credential"],
    )
    state = GaugeMetricFamily(
        "switchboard_credential_state",
        "1 for the credential's current health state.",
        labels=["credential", "state"],
    )
    failures = GaugeMetricFamily(
        "switchboard_credential_consecutive_failures",
        "Refreshes failed in a row (retried between runs with backoff), by last error class.",
        labels=["credential", "error_class"],
    )
    success = GaugeMetricFamily(
        "switchboard_credential_last_success_timestamp_seconds",
        "When the last refresh succeeded (Unix seconds).",
        labels=["credential"],
    )
    for r in readings:
        if (left := _seconds_until(r.access_expires_at, now)) is not None:
            access.add_metric([r.name], left)
        if (left := _seconds_until(r.refresh_expires_at, now)) is not None:
            refresh.add_metric([r.name], left)
        state.add_metric([r.name, r.state], 1)
        failures.add_metric([r.name, r.error_class], r.consecutive_failures)
        if r.last_success_at is not None:
            success.add_metric([r.name], r.last_success_at.timestamp())
    yield from (access, refresh, state, failures, success)
