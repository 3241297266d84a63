"""Refresh credentials safely: the protocol of ``docs/architecture.md``, step by step.

1. Replay a pair this host journaled but could not store.
2. Read the credential (``Snapshot``); judge another worker's claim, then whether it is due.
3. Client credentials: ask, then write the token with check-and-set (a lost race is adopted).
4. Refresh tokens: claim the refresh token in Vault (check-and-set), mark a seed consumed,
   ask the provider, journal its raw answer, store the pair over the claim, then the token.
5. Record health. Permanent errors are not retried; transient ones are, with jittered backoff.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from switchboard._exceptions import (
    ConfigurationError,
    LockBusy,
    SwitchboardError,
)
from switchboard._models import (
    RefreshOutcome,
    RefreshRecord,
    RefreshStatus,
    StoredToken,
    utcnow,
)
from switchboard._settings import TokenSettings
from switchboard._urls import origin
from switchboard.journal import Journal
from switchboard.oauth2 import TokenEndpoint
from switchboard.refresh._health import HealthWriter
from switchboard.refresh._pair import PairWriter
from switchboard.refresh._policy import next_step
from switchboard.refresh._report import (
    in_doubt,
    outcome,
)
from switchboard.refresh._snapshot import Snapshot, read_snapshot
from switchboard.refresh._spend import Adopted, Spender
from switchboard.vault import CredentialStore

__all__ = ["PLAN_REUSE_SECONDS", "Plan", "Refresher", "journal_for"]

logger = logging.getLogger("switchboard.refresh")

PLAN_REUSE_SECONDS = 600.0
"""How old a plan's snapshot may be and still replace ``refresh``'s own reads.

Every write is fenced by check-and-set, so an older snapshot can only make a run try a
credential another run just refreshed (then adopted) or use a client definition one run late.
A large fleet's run plans every credential before refreshing the first, so a shorter window
would make its early credentials read their snapshot twice, and the cost per credential grow
with the fleet; ten minutes outlasts such a run.
"""

_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Plan:
    """Which credentials a run refreshes, and what the others look like."""

    due: list[str]
    skipped: list[RefreshOutcome]


def journal_for(store: CredentialStore, settings: TokenSettings) -> Journal:
    """``store``'s journal, scoped by Vault (origin of its address), namespace, mount and base
    path: a CLI run and a flow that spell the address differently share it."""
    vault = store.session.settings
    namespace = (vault.namespace or "").strip("/")
    scope = f"{origin(vault.addr)}|{namespace}|{store.kv.mount}|{store.base_path}"
    return Journal(Path(settings.journal_dir).expanduser(), scope=scope)


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
        clock: Callable[[], datetime] = utcnow,
        observer: Callable[[RefreshOutcome], None] | None = None,
    ) -> None:
        self.store = store
        self.observer = observer
        """Told of every ``refresh`` outcome (``switchboard.metrics.RefreshMetrics``)."""
        self.settings = settings
        self.endpoint = endpoint or TokenEndpoint(timeout=settings.http_timeout)
        self.journal = journal or journal_for(store, settings)
        self.sleep = sleep
        self.clock = clock
        self.pairs = PairWriter(store, settings, self.journal, sleep=sleep)
        self.health = HealthWriter(store, settings, clock=clock)
        self.spender = Spender(
            store,
            settings,
            endpoint=self.endpoint,
            journal=self.journal,
            pairs=self.pairs,
            sleep=sleep,
            clock=clock,
        )
        self._planned: dict[str, Snapshot] = {}
        self._guard = threading.Lock()
        self._last_rejected: dict[str, float] = {}

    # -- discovery and planning ------------------------------------------------------------

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
        return read_snapshot(self.store, name)

    def plan(
        self,
        names: Iterable[str],
        *,
        force: bool = False,
        idle_after: float | None = None,
        now: datetime | None = None,
    ) -> Plan:
        """Split ``names`` into those due now and the rest (as ``skipped`` or ``busy`` outcomes).

        One that cannot be read counts as due: its refresh reports why; so does one with a pair
        waiting in the journal, or a stale claim. The due ones' snapshots are kept for
        ``planned``. ``idle_after`` is ``due_reason``'s keep-alive override.
        """
        moment = now or self.clock()

        def left_alone(name: str) -> RefreshOutcome | None:
            try:
                snapshot = self.snapshot(name)
            except SwitchboardError:
                return None
            if not self.journal.has_pending(name):  # else: replay it
                step, _ = next_step(
                    snapshot, self.settings, now=moment, force=force, idle_after=idle_after
                )
                token, health = snapshot.token.token, snapshot.health
                if step in ("busy", "skip"):
                    return outcome(name, "busy" if step == "busy" else "skipped", token, health)
            with self._guard:
                self._planned[name] = snapshot
            return None

        ordered = list(names)
        with ThreadPoolExecutor(self.settings.max_concurrency) as pool:  # reads are I/O bound
            results = list(pool.map(left_alone, ordered))
        return Plan(
            due=[name for name, result in zip(ordered, results, strict=True) if result is None],
            skipped=[result for result in results if result is not None],
        )

    def planned(self, name: str) -> Snapshot | None:
        """The snapshot the last ``plan`` read for ``name``, handed out once (``None`` if none)."""
        with self._guard:
            return self._planned.pop(name, None)

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
        by_name = {result.name: result for result in plan.skipped + refreshed}
        return [by_name[name] for name in ordered]

    # -- one credential --------------------------------------------------------------------

    def refresh(
        self,
        name: str,
        *,
        force: bool = False,
        idle_after: float | None = None,
        snapshot: Snapshot | None = None,
    ) -> RefreshOutcome:
        """``_refresh``, whose outcome the ``observer`` also hears of."""
        result = self._refresh(name, force=force, idle_after=idle_after, snapshot=snapshot)
        if self.observer is not None:
            self.observer(result)
        return result

    def _refresh(
        self,
        name: str,
        *,
        force: bool = False,
        idle_after: float | None = None,
        snapshot: Snapshot | None = None,
    ) -> RefreshOutcome:
        """Refresh ``name`` if due (or ``force``); never raises for the credential's own errors.

        A ``snapshot`` (from ``planned``) younger than ``PLAN_REUSE_SECONDS`` stands in for
        reading the credential again. ``force`` overrides "not due", never a backoff or a
        revocation. ``idle_after`` is ``due_reason``'s keep-alive override, as given to ``plan``.
        """
        replayed, notice, alert = False, None, None
        try:
            replay = self.pairs.replay(name)
            replayed = replay is not None and replay.token is not None
            if replay is not None and replay.token is not None:
                definition, client_version = self.store.read_client_versioned(name)
                replay_health, notice = self.health.success(
                    name,
                    replay.token,
                    definition=definition,
                    client_version=client_version,
                    before=None,
                    after=replay.record,
                    previous=self.store.read_health_versioned(name),
                )
                alert = replay_health.alerts[-1].cause if notice == "alert" else None
            if snapshot is None or replay is not None or snapshot.age > PLAN_REUSE_SECONDS:
                snapshot = self.snapshot(name)
            now = self.clock()
            step, reason = next_step(
                snapshot, self.settings, now=now, force=force, idle_after=idle_after
            )
            if step in ("busy", "skip"):
                token, health = snapshot.token.token, snapshot.health
                status: RefreshStatus = "busy" if step == "busy" else "skipped"
                return outcome(name, status, token, health, replayed=replayed).model_copy(
                    # the replay's notice: its report is the one that landed
                    update={"recovered": notice == "recovered", "alert": alert}
                )
            if step == "in_doubt":
                raise in_doubt(name, snapshot)
            if step == "report" and snapshot.token.token is not None:
                return self._succeeded(name, snapshot, snapshot.token.token, "skipped", 0, replayed)
            logger.info("refreshing %s (%s)", name, reason)
            stored: RefreshRecord | None = None  # no refresh token: no record, no radar
            if snapshot.definition.grant != "refresh_token":  # nothing to spend: no claim
                token, attempts = self.spender.acquire(name, snapshot)
            else:
                (token, stored), attempts = self.spender.rotate(name, snapshot)
        except Adopted as adopted:  # report the other run's token and the health it wrote
            health = None
            with contextlib.suppress(SwitchboardError):
                health = self.store.read_health(name)
            return outcome(name, "adopted", adopted.current.token, health, replayed=replayed)
        except LockBusy as exc:
            logger.info("%s", exc)
            return self._busy_or_adopted(name, snapshot)
        except SwitchboardError as exc:
            return self.health.failure(name, snapshot, exc, replayed=replayed)
        return self._succeeded(
            name, snapshot, token, "refreshed", attempts, replayed, stored=stored
        )

    def _succeeded(
        self,
        name: str,
        snapshot: Snapshot,
        token: StoredToken,
        status: Literal["refreshed", "skipped"],
        attempts: int,
        replayed: bool,
        *,
        stored: RefreshRecord | None = None,
    ) -> RefreshOutcome:
        """Record health for ``token`` (just stored, with ``stored`` the refresh record this run
        wrote, or stored by a run whose report was lost: then the radar reads the record and
        sees it as new, as it cannot tell what came before)."""
        health, notice = self.health.success(
            name,
            token,
            definition=snapshot.definition,
            client_version=snapshot.client_version,
            before=snapshot.refresh.record if status == "refreshed" else None,
            after=stored,
            previous=(snapshot.health, snapshot.health_version),
        )
        return RefreshOutcome(
            name=name,
            status=status,
            state=health.state,
            expires_at=token.expires_at,
            message=health.message,
            attempts=attempts,
            recovered=notice == "recovered",
            alert=health.alerts[-1].cause if notice == "alert" else None,  # the one just added
            refresh_deadline_at=health.refresh_deadline_at,
            replayed_journal=replayed,
        )

    def _busy_or_adopted(self, name: str, snapshot: Snapshot | None) -> RefreshOutcome:
        """After losing a claim: ``adopted`` if the winner already stored its token."""
        with contextlib.suppress(SwitchboardError):
            current = self.store.read_token(name)
            if snapshot is not None and current.version != snapshot.token.version:
                return outcome(name, "adopted", current.token, self.store.read_health(name))
        token = snapshot.token.token if snapshot else None
        return outcome(name, "busy", token, snapshot.health if snapshot else None)

    # -- replacing a rejected token --------------------------------------------------------

    def refresh_rejected(self, name: str, *, wait_seconds: float) -> RefreshOutcome:
        """Replace a token an upstream rejected: a forced refresh, or the one already running.

        At most one forced refresh per credential per ``rejected_refresh_interval_seconds`` in
        this process (many rejected calls make one refresh, not a storm); across processes the
        claim makes concurrent ones wait for the first, whose token they adopt (up to
        ``wait_seconds``). A forced refresh still honours the backoff and a revocation.
        """
        interval = self.settings.rejected_refresh_interval_seconds
        with self._guard:
            last = self._last_rejected.get(name)
            recent = last is not None and time.monotonic() - last < interval
            if not recent:
                self._last_rejected[name] = time.monotonic()
        if recent:
            current = self.store.read_token(name)
            return outcome(name, "skipped", current.token, self.store.read_health(name))
        snapshot = self.snapshot(name)
        before = snapshot.token.version
        result = self.refresh(name, force=True, snapshot=snapshot)
        deadline = time.monotonic() + wait_seconds
        while result.status == "busy" and time.monotonic() < deadline:
            self.sleep(_POLL_SECONDS)
            snapshot = self.snapshot(name)
            if snapshot.token.version != before:
                return outcome(name, "adopted", snapshot.token.token, snapshot.health)
            result = self.refresh(name, force=True, snapshot=snapshot)
        return result
