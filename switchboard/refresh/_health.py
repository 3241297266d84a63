"""Writing a credential's health record after a refresh, and the alert notices that go with it.

Every write is check-and-set over the version the run read, so a report another run wrote since
wins; a success is rebuilt over it rather than dropped (why alerts are de-duplicated here:
``switchboard.refresh._radar``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from switchboard._exceptions import CASConflict, SwitchboardError, VaultError, VaultUnavailable
from switchboard._models import (
    ClientDefinition,
    CredentialHealth,
    RefreshOutcome,
    RefreshRecord,
    StoredToken,
)
from switchboard._settings import TokenSettings
from switchboard.refresh._radar import AlertNotice, RadarReading, UnrecordedAlerts, radar_for
from switchboard.refresh._report import failed_health, healthy, outcome_of_failure
from switchboard.refresh._snapshot import Snapshot
from switchboard.vault import CredentialStore

__all__ = ["HealthWriter"]

logger = logging.getLogger("switchboard.refresh")


class HealthWriter:
    """Records what a refresh came to in ``.../health``; safe to share between threads."""

    def __init__(
        self, store: CredentialStore, settings: TokenSettings, *, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._unrecorded = UnrecordedAlerts()

    def success(
        self,
        name: str,
        token: StoredToken,
        *,
        definition: ClientDefinition,
        client_version: int | None,
        before: RefreshRecord | None,
        after: RefreshRecord | None = None,
        previous: tuple[CredentialHealth | None, int],
    ) -> tuple[CredentialHealth, AlertNotice | None]:
        """Record health after a refresh stored ``token``, the radar's reading included.

        ``before`` is the refresh record the refresh started from; ``None`` when unknown (a
        journal replay, a report that was lost): then the previous report's reading of the
        record stands in, so a fixed lifetime is not mistaken for a renewed one. ``after`` is
        the refresh record stored with ``token`` (refresh-token grant) when this process wrote
        it; ``None``: the radar reads it from Vault. A success is not dropped for a report
        written meanwhile: it is rebuilt over that one (once), so its alerts are carried or
        cleared, and the notice given, exactly once; it is dropped for a report of this token
        or a newer one.
        """
        if before is None and previous[0] is not None:
            before = _as_read_before(previous[0])
        radar = RadarReading()
        if after is None and definition.grant == "refresh_token":  # the provider's lifetime
            try:
                after = self.store.read_refresh(name).record
            except SwitchboardError as exc:
                logger.warning(
                    "%s: the expiry radar could not read the refresh record: %s", name, exc
                )
        if after is not None:
            radar = radar_for(definition, self.settings, before=before, after=after, token=token)
        for _ in range(2):
            held, version = previous
            health, notice = healthy(
                token,
                client_version=client_version,
                previous=held,
                refresh=after,
                radar=radar,
                now=self.clock(),
                window_seconds=self.settings.alert_window_seconds,
            )
            written = self._write(name, health, cas=version)
            if written != "conflict":
                return health, notice if written == "written" else None
            try:
                previous = self.store.read_health_versioned(name)
            except SwitchboardError:
                break
            stored = previous[0]
            if stored and stored.last_success_at and stored.last_success_at >= token.obtained_at:
                return stored, None  # that report is of this token or a newer one
        return health, None

    def failure(
        self, name: str, snapshot: Snapshot | None, exc: SwitchboardError, *, replayed: bool
    ) -> RefreshOutcome:
        logger.error("%s: refresh failed: %s", name, exc)
        window = self.settings.alert_window_seconds
        previous, version = (snapshot.health, snapshot.health_version) if snapshot else (None, 0)
        if snapshot is None and not isinstance(exc, VaultUnavailable):
            with contextlib.suppress(SwitchboardError):  # unreadable credential: its health
                previous, version = self.store.read_health_versioned(name)
        health, notice = failed_health(
            snapshot, exc, now=self.clock(), window_seconds=window, previous=previous
        )
        written = "failed"
        if not isinstance(exc, VaultUnavailable):
            # over the version this run read: a report another run wrote since is newer
            written = self._write(name, health, cas=version)
        if written == "conflict":
            notice = None  # the report that landed gave its own notice
        elif written == "failed" and notice == "alert":
            notice = self._unrecorded.alert(name, type(exc).__name__, window_seconds=window)
        return outcome_of_failure(name, health, notice, replayed=replayed)

    def _write(
        self, name: str, health: CredentialHealth, *, cas: int | None = None
    ) -> Literal["written", "conflict", "failed"]:
        try:
            self.store.write_health(name, health, cas=cas)
        except CASConflict:
            logger.info("%s: a newer health report is stored; ours is dropped", name)
            return "conflict"
        except VaultError as exc:
            logger.warning("%s: could not record health: %s", name, exc)
            return "failed"
        return "written"


def _as_read_before(health: CredentialHealth) -> RefreshRecord | None:
    """The refresh record as the last report saw it: its lifetime's end and when it was used."""
    if health.refresh_expires_at is None:
        return None
    return RefreshRecord(
        refresh_expires_at=health.refresh_expires_at, obtained_at=health.refresh_used_at
    )
