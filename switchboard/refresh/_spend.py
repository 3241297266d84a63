"""Getting a due credential's new token: ask the provider, then store what it answered.

Client credentials have nothing to protect but the write (check-and-set alone). A refresh
token is claimed in Vault first, and the claim fences every step until the pair is stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from pydantic import SecretStr

from switchboard._exceptions import (
    CASConflict,
    ConfigurationError,
    SwitchboardError,
    TransientTokenError,
)
from switchboard._models import ClientDefinition, RefreshRecord, StoredToken
from switchboard._settings import MAX_INLINE_WAIT_SECONDS, TokenSettings
from switchboard._urls import origin, redact_url
from switchboard.journal import Journal, JournalEntry
from switchboard.oauth2 import TokenAnswer, TokenEndpoint, parse_token_answer
from switchboard.refresh._claim import CLAIM_RETRY_SECONDS, Claim
from switchboard.refresh._pair import PairWriter, StoredPair
from switchboard.refresh._policy import backoff_seconds
from switchboard.refresh._snapshot import Snapshot
from switchboard.vault import CredentialStore, VersionedToken

__all__ = ["Adopted", "Spender"]

logger = logging.getLogger("switchboard.refresh")


class Adopted(Exception):
    """Another run stored a newer token while we were deciding to; ``current`` is its token."""

    def __init__(self, current: VersionedToken) -> None:
        super().__init__()
        self.current = current


class Spender:
    """Obtains and stores new tokens for due credentials; safe to share between threads."""

    def __init__(
        self,
        store: CredentialStore,
        settings: TokenSettings,
        *,
        endpoint: TokenEndpoint,
        journal: Journal,
        pairs: PairWriter,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.settings = settings
        self.endpoint = endpoint
        self.journal = journal
        self.pairs = pairs
        self.sleep = sleep
        self.clock = clock

    def acquire(self, name: str, snapshot: Snapshot) -> tuple[StoredToken, int]:
        """Client credentials or JWT bearer (nothing to spend, so no claim): ask, then write
        over the version read (``Adopted`` if beaten)."""
        answer, attempts = self._ask(name, snapshot.definition, None, claim=None)
        response = parse_token_answer(answer, snapshot.definition, spent=None)
        token = self.pairs.stored_token(response, snapshot.definition)
        if not self.pairs.write_token(
            name, token, cas=snapshot.token.version, refresh_version=None
        ):
            raise Adopted(self.store.read_token(name))
        logger.info("%s: new token stored, expires %s", name, token.expires_at.isoformat())
        return token, attempts

    def rotate(self, name: str, snapshot: Snapshot) -> tuple[StoredPair, int]:
        """Refresh-token grant: claim, spend, journal, store; the claim fences every step.

        Returns the pair as stored (the token and the refresh record holding its refresh token)
        and the number of attempts.
        """
        definition = snapshot.definition
        base, spend, seed_version = self._what_to_spend(name, snapshot)
        claim = Claim.take(
            self.store,
            name,
            base,
            over_version=snapshot.refresh.version,
            seed_version=seed_version,
            phase="spending" if seed_version is None else "claimed",
            clock=self.clock,
            retry_seconds=CLAIM_RETRY_SECONDS,
            sleep=self.sleep,
        )
        try:
            if seed_version is not None:  # before it is sent: a spent seed never looks new again
                self.store.mark_seed_consumed(name, seed_version)
                claim.set_phase("spending")
            answer, attempts = self._ask(name, definition, spend, claim=claim)
        except SwitchboardError:
            claim.release()  # no pair was obtained: the refresh token stays as it was
            raise
        entry = JournalEntry(
            answer=answer, claim_version=claim.version, spent=spend, seed_version=seed_version
        )
        try:
            self.journal.record(name, entry)
        except OSError as exc:  # the pair exists only in memory now: get it into Vault anyway
            logger.error(
                "%s: could not journal the new pair (%s); writing Vault directly", name, exc
            )
        try:
            pair = self.pairs.commit(
                name, definition, entry, base=claim.record, token_version=snapshot.token.version
            )
        except CASConflict:
            # Only a replay of this run's own entry can change the record under its claim:
            # processes on one host share the journal, and a neighbour that replayed the entry
            # stored the pair and cleared it (another run may have claimed, spent and journaled
            # since). If this run's entry still waits, it stays for the next run's replay.
            waiting = self.journal.pending(name)
            if waiting is not None and waiting.claim_version == entry.claim_version:
                raise
            raise Adopted(self.store.read_token(name)) from None
        self.journal.clear(name)
        logger.info("%s: new token stored, expires %s", name, pair.token.expires_at.isoformat())
        return pair, attempts

    def _what_to_spend(
        self, name: str, snapshot: Snapshot
    ) -> tuple[RefreshRecord, SecretStr, int | None]:
        """The record to claim, the refresh token to spend and, for a seed, its version.

        A seed, or a token migrated from a legacy record, is bound to the origin of the current
        ``token_url`` as it is claimed: from then on it is only ever sent there.
        """
        issuer = origin(snapshot.definition.token_url)
        seed = snapshot.seed
        if seed is not None and snapshot.seed_is_new:  # from now on the seed is the stored token
            seeded = RefreshRecord(
                refresh_token=seed.refresh_token, seed_version=seed.version, issuer=issuer
            )
            return seeded, seed.refresh_token, seed.version
        stored = snapshot.stored_refresh_token
        if stored is None:
            raise ConfigurationError(
                f"{name}: no refresh token to use: write one with `switchboard credentials seed "
                f"{name}` (Vault path {self.store.where(name, 'seed')})"
            )
        record = snapshot.refresh.record or RefreshRecord(
            refresh_token=stored, seed_version=snapshot.stored_seed_version
        )
        if record.issuer is not None and record.issuer != issuer:
            raise ConfigurationError(
                f"{name}: token_url now points at {redact_url(issuer)}, but the refresh token was "
                f"issued by {redact_url(record.issuer)}; it is only ever sent where it came "
                "from: write a new seed to confirm the new endpoint"
            )
        return record.model_copy(update={"intent": None, "issuer": issuer}), stored, None

    def _ask(
        self,
        name: str,
        definition: ClientDefinition,
        spend: SecretStr | None,
        *,
        claim: Claim | None,
    ) -> tuple[TokenAnswer, int]:
        """Ask the token endpoint, retrying transient errors within the run's budget.

        Under a claim that no attempt may have spent yet, the claim says ``claimed`` while we
        wait after an answer that proves the request was not acted on, and ``spending`` again
        (a fenced write) before the next. Once an attempt may have been acted on, the claim
        stays ``spending``: nobody else may ever take that token over.
        """
        attempts = 0
        maybe_spent = False
        while True:
            attempts += 1
            try:
                return self.endpoint.request_token(definition, refresh_token=spend), attempts
            except TransientTokenError as exc:
                maybe_spent = maybe_spent or exc.maybe_processed
                wait = backoff_seconds(attempts, retry_after=exc.retry_after)
                if attempts >= self.settings.max_attempts or wait > MAX_INLINE_WAIT_SECONDS:
                    raise
                logger.warning(
                    "%s: attempt %d failed (%s); retrying in %.1f s", name, attempts, exc, wait
                )
                if claim is None or maybe_spent:
                    self.sleep(wait)
                    continue
                claim.set_phase("claimed")
                self.sleep(wait)
                claim.set_phase("spending")
