"""The claim on a refresh token: the intent a worker records in Vault before spending it.

Every change of ``<base>/credentials/<name>/refresh`` is a check-and-set write over the version
last seen, so exactly one worker holds a claim, and a worker whose claim was taken over learns
it at its next write, before it could send the refresh token again. There is no lease: a claim
never lapses because time passed. A ``spending`` claim (a request that may reach the provider)
is only ever resolved by its owner's answer (live, or replayed from its journal) or by an
operator; see ``switchboard.refresh._policy.claim_verdict`` for what others may do.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from switchboard._exceptions import CASConflict, LockBusy, VaultError, VaultUnavailable
from switchboard._models import Intent, IntentPhase, RefreshRecord
from switchboard.refresh._policy import vault_wait_seconds
from switchboard.vault import CredentialStore

__all__ = [
    "CLAIM_RETRY_SECONDS",
    "Claim",
    "owner_id",
    "release_abandoned_claim",
    "write_refresh_fenced",
]

logger = logging.getLogger("switchboard.refresh")

CLAIM_RETRY_SECONDS = 30.0
"""How long a claim's own writes (take, phase, release) are retried while Vault is away."""


def owner_id() -> str:
    """``host:pid:random``: tells operators where a claim's journal is, unique per claim."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def write_refresh_fenced(
    store: CredentialStore,
    name: str,
    record: RefreshRecord,
    *,
    cas: int,
    retry_seconds: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Write ``record`` over version ``cas``, retrying while Vault is away for ``retry_seconds``.

    A conflict whose winner wrote exactly ``record`` was our own write whose answer was lost.
    """
    deadline = time.monotonic() + retry_seconds
    attempt = 0
    conflicted = False
    while True:
        attempt += 1
        try:
            if not conflicted:
                return store.write_refresh(name, record, cas=cas)
            current = store.read_refresh(name)  # is the winner our own earlier write?
            if current.record is not None and current.record.to_vault() == record.to_vault():
                return current.version
            raise CASConflict(
                f"{name}: the refresh record changed", path=store.where(name, "refresh")
            )
        except VaultUnavailable:  # the write, or the read that checks a conflict
            if time.monotonic() >= deadline:
                raise
            sleep(vault_wait_seconds(attempt))
        except CASConflict:
            if conflicted:
                raise
            conflicted = True


class Claim:
    """This worker's claim on ``name``'s refresh token, at refresh record version ``version``.

    Every write is ``write_refresh_fenced``: retried for ``retry_seconds`` while Vault is away,
    and a write whose answer was lost is recognised as ours, so a claim is never stranded by a
    lost answer alone.
    """

    def __init__(
        self,
        store: CredentialStore,
        name: str,
        record: RefreshRecord,
        version: int,
        *,
        clock: Callable[[], datetime],
        retry_seconds: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.store = store
        self.name = name
        self.record = record
        self.version = version
        self.clock = clock
        self.retry_seconds = retry_seconds
        self.sleep = sleep

    @property
    def intent(self) -> Intent:
        assert self.record.intent is not None
        return self.record.intent

    @classmethod
    def take(
        cls,
        store: CredentialStore,
        name: str,
        base: RefreshRecord,
        *,
        over_version: int,
        seed_version: int | None,
        phase: IntentPhase = "spending",
        clock: Callable[[], datetime],
        retry_seconds: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Claim:
        """Claim the refresh token (``spending``: about to send it); ``LockBusy`` if another
        worker was first."""
        intent = Intent(
            owner=owner_id(),
            phase=phase,
            at=clock(),
            over_version=over_version,
            seed_version=seed_version,
        )
        claim = cls(
            store,
            name,
            base.model_copy(update={"intent": intent}),
            over_version,
            clock=clock,
            retry_seconds=retry_seconds,
            sleep=sleep,
        )
        claim._write(claim.record, lost="another worker claimed the refresh token first")
        return claim

    def _write(self, record: RefreshRecord, *, lost: str) -> None:
        try:
            self.version = write_refresh_fenced(
                self.store,
                self.name,
                record,
                cas=self.version,
                retry_seconds=self.retry_seconds,
                sleep=self.sleep,
            )
        except CASConflict:
            raise LockBusy(f"{self.name}: {lost}") from None
        self.record = record

    def set_phase(self, phase: IntentPhase) -> None:
        """``claimed`` while nothing is in flight (others may take a stale claim over), or
        ``spending`` right before a request; ``LockBusy`` if it was taken over meanwhile."""
        intent = self.intent.model_copy(update={"phase": phase, "at": self.clock()})
        self._write(
            self.record.model_copy(update={"intent": intent}),
            lost="the claim on the refresh token was taken over (it had gone stale)",
        )

    def release(self) -> None:
        """Drop the claim, keeping the refresh token as it was: nothing new was obtained.

        A claim still ours is released even when our last write's answer was lost (the record
        moved on to a version we never learnt); one another worker took over is left alone.
        """
        released = self.record.model_copy(update={"intent": None})
        try:
            try:
                self._write(released, lost="taken over")
            except LockBusy:
                current = self.store.read_refresh(self.name)
                intent = current.record.intent if current.record else None
                if intent is None or intent.owner != self.intent.owner:
                    raise
                self.version = current.version
                self._write(released, lost="taken over")
        except (LockBusy, VaultError) as exc:  # a stale claim is taken over or resolved later
            logger.warning("%s: could not release the claim: %s", self.name, exc)


def release_abandoned_claim(store: CredentialStore, name: str) -> bool:
    """An operator's decision: drop the claim on ``name``'s refresh token, so the next run
    spends the stored token again (a strict provider revokes the family if the claim's request
    did reach it). ``False`` when there was no claim."""
    current = store.read_refresh(name)
    record = current.record
    if record is None or record.intent is None:
        return False
    released = record.model_copy(update={"intent": None})
    write_refresh_fenced(store, name, released, cas=current.version)
    logger.warning("%s: claim by %s released by an operator", name, record.intent.owner)
    return True
