"""Outcomes and health records: what a refresh reports, built from what it saw (no I/O).

Every health record carries the alerts raised since the credential was last healthy
(``next_alerts``), so the record that is written decides whether this attempt alerts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from switchboard._exceptions import RefreshInDoubt, SwitchboardError
from switchboard._models import (
    CredentialHealth,
    RefreshOutcome,
    RefreshRecord,
    RefreshStatus,
    StoredToken,
    format_time,
)
from switchboard.refresh._policy import failure_state, run_backoff_seconds
from switchboard.refresh._radar import AlertNotice, RadarReading, next_alerts
from switchboard.refresh._snapshot import Snapshot

__all__ = ["failed_health", "healthy", "in_doubt", "outcome", "outcome_of_failure"]


def outcome(
    name: str,
    status: RefreshStatus,
    token: StoredToken | None,
    health: CredentialHealth | None,
    *,
    replayed: bool = False,
) -> RefreshOutcome:
    """An outcome that reports the token and health as they stand."""
    return RefreshOutcome(
        name=name,
        status=status,
        state=health.state if health else ("healthy" if token else None),
        expires_at=token.expires_at if token else None,
        error_class=health.error_class if health and health.state != "healthy" else None,
        refresh_deadline_at=health.refresh_deadline_at if health else None,
        replayed_journal=replayed,
    )


def healthy(
    token: StoredToken,
    *,
    client_version: int | None,
    previous: CredentialHealth | None,
    refresh: RefreshRecord | None,
    radar: RadarReading,
    now: datetime,
    window_seconds: float,
) -> tuple[CredentialHealth, AlertNotice | None]:
    """The health record after a refresh stored ``token`` (and ``refresh``, rotating grants),
    and the notice it gives: ``refresh_expiring`` when the radar saw danger."""
    held = previous.alerts if previous else ()
    alerts, notice = next_alerts(held, radar.cause, now=now, window_seconds=window_seconds)
    health = CredentialHealth(
        state="refresh_expiring" if radar.cause else "healthy",
        message=_radar_message(radar),
        client_version=client_version,
        consecutive_failures=0,
        last_attempt_at=token.obtained_at,
        last_success_at=token.obtained_at,
        expires_at=token.expires_at,
        refresh_expires_at=refresh.refresh_expires_at if refresh else None,
        refresh_used_at=refresh.obtained_at if refresh else None,
        refresh_deadline_at=radar.deadline,
        alerts=alerts,
    )
    return health, notice


def _radar_message(radar: RadarReading) -> str | None:
    if radar.deadline is None:
        return None
    when = format_time(radar.deadline)
    if radar.cause == "refresh_token_idle":
        return (
            f"the refresh token goes idle at {when} (`refresh_idle_limit_seconds`) before "
            "Switchboard next uses it: set `keep_alive_seconds` below the idle limit"
        )
    return (
        f"the refresh token expires at {when} and no refresh renews it before then: "
        "authorize again and write a new seed (or set `keep_alive_seconds` below its lifetime)"
    )


def failed_health(
    snapshot: Snapshot | None,
    exc: SwitchboardError,
    *,
    now: datetime,
    window_seconds: float,
    previous: CredentialHealth | None = None,
) -> tuple[CredentialHealth, AlertNotice | None]:
    """The health record after ``exc``: state, counters, when to try again, and whether it
    alerts (the first failure of its cause in ``window_seconds``).

    ``previous`` is the health before it, when there is no ``snapshot`` to take it from.
    """
    previous = snapshot.health if snapshot else previous
    token = snapshot.token.token if snapshot else None
    state = failure_state(exc, token, now)
    failures = (previous.consecutive_failures if previous else 0) + 1
    retry_after: float | None = getattr(exc, "retry_after", None)
    seed = snapshot.seed if snapshot else None
    record = snapshot.refresh.record if snapshot else None
    cause = type(exc).__name__
    held = previous.alerts if previous else ()
    alerts, notice = next_alerts(held, cause, now=now, window_seconds=window_seconds)
    health = CredentialHealth(
        state=state,
        error_class=cause,
        message=str(exc),
        consecutive_failures=failures,
        last_attempt_at=now,
        last_success_at=previous.last_success_at if previous else None,
        expires_at=token.expires_at if token else _kept(previous, snapshot, "expires_at"),
        next_attempt_at=now + timedelta(seconds=run_backoff_seconds(state, failures, retry_after)),
        seed_version=seed.version if seed else None,
        client_version=snapshot.client_version if snapshot else None,
        refresh_expires_at=(
            record.refresh_expires_at if record else _kept(previous, snapshot, "refresh_expires_at")
        ),
        refresh_used_at=record.obtained_at
        if record
        else _kept(previous, snapshot, "refresh_used_at"),
        alerts=alerts,
    )
    return health, notice


def outcome_of_failure(
    name: str, health: CredentialHealth, notice: AlertNotice | None, *, replayed: bool = False
) -> RefreshOutcome:
    """A failed outcome; ``alert`` names its cause when this failure is the one to tell."""
    return RefreshOutcome(
        name=name,
        status="failed",
        state=health.state,
        expires_at=health.expires_at,
        error_class=health.error_class,
        message=health.message,
        alert=health.error_class if notice == "alert" else None,
        replayed_journal=replayed,
    )


def in_doubt(name: str, snapshot: Snapshot) -> RefreshInDoubt:
    """The error for a stale ``spending`` claim: where to find the answer, or the runbook."""
    intent = snapshot.intent
    assert intent is not None
    host = intent.owner.split(":", 1)[0]
    return RefreshInDoubt(
        f"{name}: a refresh by {intent.owner} (claimed {intent.at.isoformat()}) never reported "
        f"back and may have spent the refresh token; nobody spends it again: run `switchboard "
        f"refresh {name}` on {host} (it replays its journal), or see the README's runbook for "
        "`in_doubt`"
    )


def _kept(
    previous: CredentialHealth | None, snapshot: Snapshot | None, field: str
) -> datetime | None:
    """What the last report knew, when this failure could not read the credential at all: the
    stored token still runs out when it did, and expiry alerts must keep seeing it."""
    if snapshot is not None or previous is None:
        return None
    value = getattr(previous, field)
    return value if isinstance(value, datetime) else None
