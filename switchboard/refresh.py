"""Refresh one credential safely (the algorithm in ``docs/architecture.md``).

1. Replay a journaled pair left by a crashed run on this host.
2. Read the client definition, token (+ version), seed and health; stop if not due.
3. Take the single-flight lock; re-read the token inside it: another run's token is adopted.
4. Call the token endpoint; transient errors retried with jittered backoff, Retry-After honoured.
5. Journal the pair (0600, fsync), write it with check-and-set (retried while Vault is away),
   then clear the journal. 6. Record health. The lock is released on the way out.

Permanent errors are not retried; a refresh token is never dropped on a transient error; an
``invalid_grant`` is only believed after re-reading Vault (another worker may have won).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from switchboard._exceptions import (
    CASConflict,
    ClientRejected,
    ConfigurationError,
    CredentialRevoked,
    LockBusy,
    SwitchboardError,
    TransientTokenError,
    VaultError,
    VaultUnavailable,
)
from switchboard._models import (
    ClientDefinition,
    CredentialHealth,
    HealthState,
    RefreshOutcome,
    StoredToken,
    utcnow,
)
from switchboard._settings import TokenSettings
from switchboard.journal import Journal
from switchboard.oauth2 import TokenEndpoint, TokenResponse
from switchboard.vault import CredentialLock, CredentialStore, VersionedToken

__all__ = [
    "MAX_INLINE_WAIT_SECONDS",
    "PLAN_REUSE_SECONDS",
    "Plan",
    "Refresher",
    "Snapshot",
    "backoff_seconds",
    "due_reason",
    "refresh_after",
]

logger = logging.getLogger("switchboard.refresh")

MAX_INLINE_WAIT_SECONDS = 30.0
"""A Retry-After longer than this ends the attempt; the next run waits it out instead."""

_BACKOFF_BASE_SECONDS = 0.5
_BACKOFF_CAP_SECONDS = 10.0
_RUN_BACKOFF = {  # between runs, after consecutive failures: (first wait, cap) in seconds
    "transient": (30.0, 900.0),
    "misconfigured": (300.0, 86_400.0),
}
PLAN_REUSE_SECONDS = 30.0
"""How old a plan's snapshot may be and still replace ``refresh``'s own reads (3-4 Vault requests).

Long enough to cover a fleet run's refreshes after its plan; the token is re-read inside the lock
either way, so an older snapshot can only make a run try a credential another run just refreshed
(then adopted) or use a client definition or seed one run late.
"""

_VAULT_RETRY_CAP_SECONDS = 5.0
_LOCK_POLL_SECONDS = 0.25


def backoff_seconds(attempt: int, *, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff for ``attempt`` (1-based), never less than Retry-After."""
    ceiling = min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    wait = random.uniform(ceiling / 2, ceiling)
    return max(wait, retry_after or 0.0)


def refresh_after(
    obtained_at: datetime,
    expires_at: datetime,
    *,
    fraction: float,
    jitter: float,
) -> datetime:
    """When a token becomes due: ``fraction`` of its lifetime plus a random share of ``jitter``."""
    lifetime = (expires_at - obtained_at).total_seconds()
    share = min(fraction + random.uniform(0, jitter), 0.95)
    return obtained_at + timedelta(seconds=lifetime * share)


@dataclass(frozen=True)
class Snapshot:
    """Everything about a credential one due check needs, read from Vault."""

    definition: ClientDefinition
    client_version: int
    current: VersionedToken
    seed: tuple[SecretStr, int] | None
    health: CredentialHealth | None
    read_at: float = field(default_factory=time.monotonic, compare=False)

    @property
    def age(self) -> float:
        """Seconds since it was read."""
        return time.monotonic() - self.read_at

    @property
    def seed_is_new(self) -> bool:
        if self.seed is None:
            return False
        token, health = self.current.token, self.health
        used = token.seed_version if token is not None and token.seed_version else 0
        if health is not None and health.state == "revoked" and health.seed_version:
            used = max(used, health.seed_version)  # that seed was tried and is dead
        return self.seed[1] > used

    def __repr__(self) -> str:
        return f"Snapshot(version={self.current.version}, seed_is_new={self.seed_is_new})"


def due_reason(
    snapshot: Snapshot,
    settings: TokenSettings,
    *,
    now: datetime,
    force: bool = False,
    idle_after: float | None = None,
) -> str | None:
    """Why the credential should be refreshed now, or ``None`` when it should be left alone.

    ``idle_after`` (seconds) replaces the keep-alive age of refresh tokens for this decision.
    """
    if force:
        return "forced"
    if snapshot.seed_is_new and snapshot.definition.grant == "refresh_token":
        return "new seed"
    health = snapshot.health
    revoked = health is not None and health.state == "revoked"
    if revoked and snapshot.definition.grant == "refresh_token":
        return None  # spending a dead refresh token again helps nobody: wait for a new seed
    fixed = health is not None and health.client_version != snapshot.client_version
    if health is not None and health.state == "misconfigured" and fixed:
        return "client definition changed"
    if health is not None and health.next_attempt_at is not None and now < health.next_attempt_at:
        return None  # backing off after failures
    token = snapshot.current.token
    if token is None:
        return "no token yet"
    if now >= token.refresh_after:
        return "due"
    keep_alive = idle_after
    if keep_alive is None:
        keep_alive = snapshot.definition.keep_alive_seconds or settings.keep_alive_seconds
    idle = (now - token.obtained_at).total_seconds()
    if token.refresh_token is not None and idle >= keep_alive:
        return "keep-alive"
    return None


@dataclass(frozen=True)
class Plan:
    """Which credentials a run refreshes, and what the others look like."""

    due: list[str]
    skipped: list[RefreshOutcome]


def _known(snapshot: Snapshot | None) -> tuple[StoredToken | None, CredentialHealth | None]:
    """The token and health a snapshot holds, for reporting."""
    if snapshot is None:
        return None, None
    return snapshot.current.token, snapshot.health


class _Adopted(Exception):
    """Another run refreshed the credential while we were deciding to; ``current`` is its token."""

    def __init__(self, current: VersionedToken) -> None:
        super().__init__()
        self.current = current


class Refresher:
    """Refreshes credentials of one store; safe to share between threads."""

    def __init__(
        self,
        store: CredentialStore,
        settings: TokenSettings,
        *,
        endpoint: TokenEndpoint | None = None,
        journal: Journal | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.settings = settings
        self.endpoint = endpoint or TokenEndpoint(timeout=settings.http_timeout)
        self.journal = journal or Journal(
            Path(settings.journal_dir),
            scope=f"{store.session.settings.addr}|{store.kv.mount}|{store.base_path}",
        )
        self.sleep = sleep
        self._planned: dict[str, Snapshot] = {}
        self._planned_guard = threading.Lock()

    # -- discovery -------------------------------------------------------------------------

    def discover(self, names: Iterable[str] | None = None) -> list[str]:
        """The given names (checked to exist), or every credential under the base path."""
        known = self.store.list_credentials()
        if names is None:
            return known
        wanted = list(dict.fromkeys(names))
        missing = sorted(set(wanted) - set(known))
        if missing:
            raise ConfigurationError(
                f"no client definition for {', '.join(missing)} under "
                f"{self.store.kv.mount}/{self.store.base_path}/credentials/: add it first"
            )
        return wanted

    def snapshot(self, name: str) -> Snapshot:
        definition, client_version = self.store.read_client_versioned(name)
        seed = self.store.read_seed(name) if definition.grant == "refresh_token" else None
        return Snapshot(
            definition=definition,
            client_version=client_version,
            current=self.store.read_token(name),
            seed=seed,
            health=self.store.read_health(name),
        )

    def plan(
        self,
        names: Iterable[str],
        *,
        force: bool = False,
        idle_after: float | None = None,
        now: datetime | None = None,
    ) -> Plan:
        """Split ``names`` into those due now and the rest (as ``skipped`` outcomes).

        One that cannot be read counts as due: its refresh reports why; so does one with a pair
        waiting in the journal: its refresh replays it. The due ones' snapshots
        are kept for ``planned``, so their refreshes need not read them again. ``idle_after``
        is ``due_reason``'s keep-alive override.
        """
        moment = now or utcnow()

        def skipped(name: str) -> RefreshOutcome | None:
            try:
                snapshot = self.snapshot(name)
            except SwitchboardError:
                return None
            reason = due_reason(
                snapshot, self.settings, now=moment, force=force, idle_after=idle_after
            )
            if reason is None and not self.journal.has_pending(name):  # else: replay it
                return self._outcome(name, "skipped", *_known(snapshot), replayed=False)
            with self._planned_guard:
                self._planned[name] = snapshot
            return None

        ordered = list(names)
        with ThreadPoolExecutor(self.settings.max_concurrency) as pool:  # reads are I/O bound
            results = list(pool.map(skipped, ordered))
        return Plan(
            due=[name for name, result in zip(ordered, results, strict=True) if result is None],
            skipped=[result for result in results if result is not None],
        )

    def refresh_due(
        self, names: Iterable[str], *, force: bool = False, idle_after: float | None = None
    ) -> list[RefreshOutcome]:
        """``plan``, then refresh the due ones ``max_concurrency`` at a time, without Prefect.

        One outcome per name, in the order given; what the flow does, for the CLI.
        """
        ordered = list(names)
        plan = self.plan(ordered, force=force, idle_after=idle_after)

        def refresh(name: str) -> RefreshOutcome:
            return self.refresh(
                name, force=force, idle_after=idle_after, snapshot=self.planned(name)
            )

        with ThreadPoolExecutor(self.settings.max_concurrency) as pool:
            refreshed = list(pool.map(refresh, plan.due))
        by_name = {outcome.name: outcome for outcome in plan.skipped + refreshed}
        return [by_name[name] for name in ordered]

    def planned(self, name: str) -> Snapshot | None:
        """The snapshot the last ``plan`` read for ``name``, handed out once (``None`` if none)."""
        with self._planned_guard:
            return self._planned.pop(name, None)

    # -- one credential --------------------------------------------------------------------

    def refresh(
        self,
        name: str,
        *,
        force: bool = False,
        idle_after: float | None = None,
        snapshot: Snapshot | None = None,
    ) -> RefreshOutcome:
        """Refresh ``name`` if due (or ``force``); never raises for the credential's own errors.

        A ``snapshot`` (from ``planned``) younger than ``PLAN_REUSE_SECONDS`` stands in for
        reading the credential again; the token is re-read inside the lock regardless, so a token
        stored since is adopted, never overwritten. ``idle_after`` is ``due_reason``'s keep-alive
        override, as given to ``plan``.
        """
        replayed = False
        try:
            replayed = self._replay_journal(name)
            if snapshot is None or replayed or snapshot.age > PLAN_REUSE_SECONDS:
                snapshot = self.snapshot(name)
            reason = due_reason(
                snapshot, self.settings, now=utcnow(), force=force, idle_after=idle_after
            )
            if reason is None:
                return self._outcome(name, "skipped", *_known(snapshot), replayed=replayed)
            logger.info("refreshing %s (%s)", name, reason)
            with CredentialLock(self.store, name, lease_seconds=self.settings.lock_lease_seconds):
                inside = self._unless_adopted(name, snapshot.current.version)
                token, attempts = self._refresh_locked(name, snapshot, inside)
        except _Adopted as adopted:  # report the other run's token and the health it wrote
            health = None
            with contextlib.suppress(SwitchboardError):
                health = self.store.read_health(name)
            return self._outcome(name, "adopted", adopted.current.token, health, replayed=replayed)
        except LockBusy as exc:
            logger.info("%s", exc)
            return self._outcome(name, "busy", *_known(snapshot), replayed=replayed)
        except SwitchboardError as exc:
            return self._failed(name, snapshot, exc, replayed=replayed)
        previous = snapshot.health
        health = CredentialHealth(
            state="healthy",
            client_version=snapshot.client_version,
            consecutive_failures=0,
            last_attempt_at=token.obtained_at,
            last_success_at=token.obtained_at,
            expires_at=token.expires_at,
        )
        self._write_health(name, health)
        return RefreshOutcome(
            name=name,
            status="refreshed",
            state="healthy",
            expires_at=token.expires_at,
            attempts=attempts,
            recovered=previous is not None and previous.state != "healthy",
            replayed_journal=replayed,
        )

    def _refresh_locked(
        self, name: str, snapshot: Snapshot, inside: VersionedToken
    ) -> tuple[StoredToken, int]:
        definition = snapshot.definition
        spend, seed_version = self._refresh_token_to_spend(name, snapshot, inside)
        response, attempts = self._call_endpoint(name, definition, spend, inside)
        token = self._stored(response, definition, seed_version)
        try:
            self.journal.record(name, token, base_version=inside.version)
        except OSError as exc:  # the pair exists only in memory now: get it into Vault anyway
            logger.error(
                "%s: could not journal the new pair (%s); writing Vault directly", name, exc
            )
        self._persist(name, token, cas=inside.version)
        self.journal.clear(name)
        logger.info("%s: new token stored, expires %s", name, token.expires_at.isoformat())
        return token, attempts

    def _refresh_token_to_spend(
        self, name: str, snapshot: Snapshot, inside: VersionedToken
    ) -> tuple[SecretStr | None, int | None]:
        if snapshot.definition.grant == "client_credentials":
            return None, None
        stored = inside.token
        if snapshot.seed is not None and snapshot.seed_is_new:
            return snapshot.seed
        if stored is not None and stored.refresh_token is not None:
            return stored.refresh_token, stored.seed_version
        raise ConfigurationError(
            f"{name}: no refresh token to use: write one with "
            f"`switchboard credentials seed {name}` (Vault path {self.store.where(name, 'seed')})"
        )

    def _call_endpoint(
        self,
        name: str,
        definition: ClientDefinition,
        refresh_token: SecretStr | None,
        inside: VersionedToken,
    ) -> tuple[TokenResponse, int]:
        attempts = 0
        while True:
            attempts += 1
            try:
                return self.endpoint.request_token(
                    definition, refresh_token=refresh_token
                ), attempts
            except TransientTokenError as exc:
                wait = backoff_seconds(attempts, retry_after=exc.retry_after)
                if attempts >= self.settings.max_attempts or wait > MAX_INLINE_WAIT_SECONDS:
                    raise
                logger.warning(
                    "%s: attempt %d failed (%s); retrying in %.1f s", name, attempts, exc, wait
                )
                self.sleep(wait)
            except CredentialRevoked:
                # believed only if Vault still holds the pair we spent: else another run won
                self._unless_adopted(name, inside.version)
                raise

    def _unless_adopted(self, name: str, version: int) -> VersionedToken:
        """The stored token; ``_Adopted`` if another run stored a newer one since ``version``."""
        current = self.store.read_token(name)
        if current.version != version:
            raise _Adopted(current)
        return current

    def _stored(
        self, response: TokenResponse, definition: ClientDefinition, seed_version: int | None
    ) -> StoredToken:
        settings = self.settings
        return StoredToken(
            access_token=response.access_token,
            token_type=response.token_type,
            expires_at=response.expires_at,
            obtained_at=response.obtained_at,
            refresh_after=refresh_after(
                response.obtained_at,
                response.expires_at,
                fraction=definition.refresh_at_fraction or settings.refresh_at_fraction,
                jitter=(
                    definition.refresh_jitter_fraction
                    if definition.refresh_jitter_fraction is not None
                    else settings.refresh_jitter_fraction
                ),
            ),
            scope=response.scope,
            refresh_token=response.refresh_token,
            seed_version=seed_version,
        )

    def _persist(self, name: str, token: StoredToken, *, cas: int) -> int:
        """Write with CAS, retrying while Vault is unavailable (the journal holds the pair)."""
        deadline = time.monotonic() + self.settings.vault_retry_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.store.write_token(name, token, cas=cas)
            except VaultUnavailable:
                if time.monotonic() >= deadline:
                    raise
                wait = min(_VAULT_RETRY_CAP_SECONDS, backoff_seconds(attempt))
                logger.warning("%s: Vault unavailable; token kept in the journal, retrying", name)
                self.sleep(wait)
            except CASConflict:
                now_stored = self.store.read_token(name)
                if token.same_access_token(now_stored.token):
                    return now_stored.version  # our earlier write landed; its answer was lost
                raise CASConflict(
                    f"{name}: the token changed while we held the lock (lease lost?); "
                    "the new pair stays in the journal and is replayed by the next run",
                    path=self.store.where(name, "token"),
                ) from None

    def _replay_journal(self, name: str) -> bool:
        """Persist a pair a crashed run left in the journal; ``True`` if one was written."""
        entry = self.journal.pending(name)
        if entry is None:
            return False
        current = self.store.read_token(name)
        stored = current.token
        if entry.token.same_access_token(stored):
            self.journal.clear(name)
            return False
        newer = stored is None or entry.token.obtained_at > stored.obtained_at
        if current.version == entry.base_version or newer:
            self._persist(name, entry.token, cas=current.version)
            self.journal.clear(name)
            logger.warning("%s: replayed a token pair from the write-ahead journal", name)
            return True
        self.journal.clear(name)  # Vault already holds a newer pair
        return False

    def refresh_rejected(self, name: str, *, wait_seconds: float) -> RefreshOutcome:
        """Replace a token an upstream rejected: a forced refresh, or the one already running.

        When another run holds the lock, wait (up to ``wait_seconds``) for its new token
        instead of answering ``busy`` at once: the caller wants a usable token, not a status.
        """
        snapshot = self.snapshot(name)
        before = snapshot.current.version
        outcome = self.refresh(name, force=True, snapshot=snapshot)
        deadline = time.monotonic() + wait_seconds
        while outcome.status == "busy" and time.monotonic() < deadline:
            self.sleep(_LOCK_POLL_SECONDS)
            snapshot = self.snapshot(name)  # one read per poll serves the check and the retry
            if snapshot.current.version != before:
                return self._outcome(name, "adopted", *_known(snapshot), replayed=False)
            outcome = self.refresh(name, force=True, snapshot=snapshot)  # the holder gave up?
        return outcome

    # -- reporting -------------------------------------------------------------------------

    def _outcome(
        self,
        name: str,
        status: str,
        token: StoredToken | None,
        health: CredentialHealth | None,
        *,
        replayed: bool,
    ) -> RefreshOutcome:
        return RefreshOutcome.model_validate(
            {
                "name": name,
                "status": status,
                "state": health.state if health else ("healthy" if token else None),
                "expires_at": token.expires_at if token else None,
                "error_class": health.error_class if health else None,
                "replayed_journal": replayed,
            }
        )

    def _failed(
        self, name: str, snapshot: Snapshot | None, exc: SwitchboardError, *, replayed: bool
    ) -> RefreshOutcome:
        now = utcnow()
        previous = snapshot.health if snapshot else None
        token = snapshot.current.token if snapshot else None
        state = _failure_state(exc, token, now)
        failures = (previous.consecutive_failures if previous else 0) + 1
        health = CredentialHealth(
            state=state,
            error_class=type(exc).__name__,
            message=str(exc),
            consecutive_failures=failures,
            last_attempt_at=now,
            last_success_at=previous.last_success_at if previous else None,
            expires_at=token.expires_at if token else None,
            next_attempt_at=now + timedelta(seconds=_run_backoff(state, failures, exc)),
            seed_version=snapshot.seed[1] if snapshot and snapshot.seed else None,
            client_version=snapshot.client_version if snapshot else None,
        )
        logger.error("%s: refresh failed: %s", name, exc)
        if not isinstance(exc, VaultUnavailable):
            self._write_health(name, health)
        return RefreshOutcome(
            name=name,
            status="failed",
            state=state,
            expires_at=health.expires_at,
            error_class=health.error_class,
            message=health.message,
            replayed_journal=replayed,
        )

    def _write_health(self, name: str, health: CredentialHealth) -> None:
        try:
            self.store.write_health(name, health)
        except VaultError as exc:
            logger.warning("%s: could not record health: %s", name, exc)


def _failure_state(exc: SwitchboardError, token: StoredToken | None, now: datetime) -> HealthState:
    if isinstance(exc, CredentialRevoked):
        return "revoked"
    if isinstance(exc, ClientRejected | ConfigurationError):
        return "misconfigured"
    if token is not None and token.expires_at > now:
        return "expiring"  # the stored token still works; its successor is late
    return "failing"


def _run_backoff(state: HealthState, failures: int, exc: SwitchboardError) -> float:
    first, cap = _RUN_BACKOFF["misconfigured" if state == "misconfigured" else "transient"]
    wait = min(cap, first * 2.0 ** (failures - 1))
    retry_after: float | None = getattr(exc, "retry_after", None)
    return max(wait, retry_after or 0.0)
