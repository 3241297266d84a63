"""Pure refresh policy: what is due, when a token becomes due, how long to back off, what a
failure means, and what another worker's claim allows. No I/O; table-driven tests cover it."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Literal

from switchboard._exceptions import (
    ClientRejected,
    ConfigurationError,
    CredentialRevoked,
    RefreshInDoubt,
    SwitchboardError,
)
from switchboard._models import HealthState, StoredToken
from switchboard._settings import MAX_INLINE_WAIT_SECONDS, TokenSettings
from switchboard.refresh._snapshot import Snapshot

__all__ = [
    "MAX_INLINE_WAIT_SECONDS",
    "ClaimVerdict",
    "Step",
    "backoff_seconds",
    "claim_verdict",
    "due_reason",
    "failure_state",
    "next_step",
    "refresh_after",
    "run_backoff_seconds",
    "vault_wait_seconds",
]

_BACKOFF_BASE_SECONDS = 0.5
_BACKOFF_CAP_SECONDS = 10.0
_VAULT_WAIT_CAP_SECONDS = 5.0
_RUN_BACKOFF = {  # between runs, after consecutive failures: (first wait, cap) in seconds
    "transient": (30.0, 900.0),
    "misconfigured": (300.0, 86_400.0),
}

ClaimVerdict = Literal["free", "busy", "take_over", "in_doubt"]


def backoff_seconds(
    attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Full-jitter exponential backoff for ``attempt`` (1-based), never less than Retry-After."""
    ceiling = min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2.0 ** min(attempt - 1, 32))
    wait = (rng or random).uniform(ceiling / 2, ceiling)
    return max(wait, retry_after or 0.0)


def vault_wait_seconds(attempt: int) -> float:
    """How long to wait before writing to Vault again after ``attempt`` failed to reach it."""
    return min(_VAULT_WAIT_CAP_SECONDS, backoff_seconds(attempt))


def refresh_after(
    obtained_at: datetime,
    expires_at: datetime,
    *,
    fraction: float,
    jitter: float,
    rng: random.Random | None = None,
) -> datetime:
    """When a token becomes due: ``fraction`` of its lifetime plus a random share of ``jitter``."""
    lifetime = (expires_at - obtained_at).total_seconds()
    share = min(fraction + (rng or random).uniform(0, jitter), 0.95)
    return obtained_at + timedelta(seconds=lifetime * share)


def claim_verdict(snapshot: Snapshot, *, now: datetime, stale_after: float) -> ClaimVerdict:
    """What another worker's claim on the refresh token lets this one do.

    ``busy``: a claim less than ``stale_after`` old (by this host's clock, either way: skew
    only moves the moment a claim counts as stale, never who may spend). ``take_over``: a stale
    claim with no request in flight (check-and-set fences its owner), or a new seed the claim
    does not cover.
    ``in_doubt``: a stale claim whose request may have reached the provider: nobody spends that
    refresh token again without its owner's answer or an operator's decision.
    """
    intent = snapshot.intent
    if intent is None:
        return "free"
    if abs((now - intent.at).total_seconds()) < stale_after:  # a claim from the future is as
        return "busy"  # stale as an old one: an owner's clock far ahead must not park everyone
    if intent.phase == "claimed" or snapshot.seed_is_new:
        return "take_over"
    return "in_doubt"


Step = Literal["skip", "busy", "in_doubt", "refresh", "report"]


def next_step(
    snapshot: Snapshot,
    settings: TokenSettings,
    *,
    now: datetime,
    force: bool = False,
    idle_after: float | None = None,
) -> tuple[Step, str | None]:
    """What a run does with the credential now, and why it refreshes (``due_reason``).

    An ``in_doubt`` claim is reported once per backoff period, not by every run. A stale
    claim that may be taken over is taken over only when the credential is due anyway.
    ``report``: not due, but the health record is behind the stored token (its write was lost
    to a Vault outage after the token's landed), so only the health is written.
    """
    verdict = claim_verdict(snapshot, now=now, stale_after=settings.claim_stale_seconds)
    if verdict == "busy":
        return "busy", None
    if verdict == "in_doubt":
        health = snapshot.health
        reported = health.next_attempt_at if health and health.state == "in_doubt" else None
        if reported is not None and now < reported:
            return "skip", None
        return "in_doubt", None
    reason = due_reason(snapshot, settings, now=now, force=force, idle_after=idle_after)
    if reason is not None:
        return "refresh", reason
    return ("report", None) if health_lags(snapshot) else ("skip", None)


def health_lags(snapshot: Snapshot) -> bool:
    """The token record was written after the last health report, which therefore does not
    describe it (that report's write was lost).

    Judged by Vault's write times, one clock for every worker: a failure reported after the
    token landed (backoff, a revocation) is newer news and stays. Without them (a record read
    some other way), by the report's own times, which carry the workers' clocks.
    """
    token, health = snapshot.token, snapshot.health
    if token.token is None:
        return False
    if health is None:
        return True
    if token.written_at is not None and snapshot.health_written_at is not None:
        return token.written_at > snapshot.health_written_at
    known = [moment for moment in (health.last_attempt_at, health.last_success_at) if moment]
    return not known or max(known) < token.token.obtained_at


def due_reason(
    snapshot: Snapshot,
    settings: TokenSettings,
    *,
    now: datetime,
    force: bool = False,
    idle_after: float | None = None,
) -> str | None:
    """Why the credential should be refreshed now, or ``None`` when it should be left alone.

    ``force`` overrides "not due yet", never a backoff (``next_attempt_at``) or a revocation.
    ``idle_after`` (seconds) replaces the keep-alive age of refresh tokens for this decision.
    """
    rotating = snapshot.definition.grant == "refresh_token"
    if rotating and snapshot.seed_is_new:
        return "new seed"
    health = snapshot.health
    if health is not None and health.state == "revoked" and rotating:
        return None  # spending a dead refresh token again helps nobody: wait for a new seed
    fixed = health is not None and health.client_version != snapshot.client_version
    if health is not None and health.state == "misconfigured" and fixed:
        return "client definition changed"
    if health is not None and health.next_attempt_at is not None and now < health.next_attempt_at:
        return None  # backing off after failures, or the server's Retry-After
    if force:
        return "forced"
    if health is not None and health.state == "in_doubt" and snapshot.intent is None:
        return "claim resolved"
    token = snapshot.token.token
    if token is None:
        return "no token yet"
    if now >= token.refresh_after:
        return "due"
    keep_alive = idle_after
    if keep_alive is None:
        keep_alive = snapshot.definition.keep_alive_seconds or settings.keep_alive_seconds
    idle = (now - token.obtained_at).total_seconds()
    if rotating and idle >= keep_alive:
        return "keep-alive"
    return None


def failure_state(exc: SwitchboardError, token: StoredToken | None, now: datetime) -> HealthState:
    """The health state a failed refresh leaves the credential in."""
    if isinstance(exc, CredentialRevoked):
        return "revoked"
    if isinstance(exc, RefreshInDoubt):
        return "in_doubt"
    if isinstance(exc, ClientRejected | ConfigurationError):
        return "misconfigured"
    if token is not None and token.expires_at > now:
        return "expiring"  # the stored token still works; its successor is late
    return "failing"


def run_backoff_seconds(state: HealthState, failures: int, retry_after: float | None) -> float:
    """How long the next runs leave a credential alone after ``failures`` failures in a row."""
    first, cap = _RUN_BACKOFF["misconfigured" if state == "misconfigured" else "transient"]
    wait = min(cap, first * 2.0 ** min(failures - 1, 32))
    return max(wait, retry_after or 0.0)
