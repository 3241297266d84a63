"""Outcomes and health records: what a refresh reports, built from what it saw (no I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta

from switchboard._exceptions import SwitchboardError
from switchboard._models import (
    CredentialHealth,
    RefreshOutcome,
    RefreshStatus,
    StoredToken,
)
from switchboard.refresh._policy import failure_state, run_backoff_seconds
from switchboard.refresh._snapshot import Snapshot

__all__ = ["failed_health", "healthy", "outcome", "outcome_of_failure"]


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
        replayed_journal=replayed,
    )


def healthy(token: StoredToken, *, client_version: int | None) -> CredentialHealth:
    return CredentialHealth(
        state="healthy",
        client_version=client_version,
        consecutive_failures=0,
        last_attempt_at=token.obtained_at,
        last_success_at=token.obtained_at,
        expires_at=token.expires_at,
    )


def failed_health(
    snapshot: Snapshot | None,
    exc: SwitchboardError,
    *,
    now: datetime,
    previous: CredentialHealth | None = None,
) -> CredentialHealth:
    """The health record after ``exc``: state, counters and when to try again.

    ``previous`` is the health before it, when there is no ``snapshot`` to take it from.
    """
    previous = snapshot.health if snapshot else previous
    token = snapshot.token.token if snapshot else None
    state = failure_state(exc, token, now)
    failures = (previous.consecutive_failures if previous else 0) + 1
    retry_after: float | None = getattr(exc, "retry_after", None)
    seed = snapshot.seed if snapshot else None
    return CredentialHealth(
        state=state,
        error_class=type(exc).__name__,
        message=str(exc),
        consecutive_failures=failures,
        last_attempt_at=now,
        last_success_at=previous.last_success_at if previous else None,
        expires_at=token.expires_at if token else None,
        next_attempt_at=now + timedelta(seconds=run_backoff_seconds(state, failures, retry_after)),
        seed_version=seed.version if seed else None,
        client_version=snapshot.client_version if snapshot else None,
    )


def outcome_of_failure(
    name: str, health: CredentialHealth, *, replayed: bool = False
) -> RefreshOutcome:
    return RefreshOutcome(
        name=name,
        status="failed",
        state=health.state,
        expires_at=health.expires_at,
        error_class=health.error_class,
        message=health.message,
        replayed_journal=replayed,
    )
