"""Storing a new token pair: the refresh record first (it holds what cannot be fetched again),
then the token consumers read; and replaying a pair a journal kept for a run that never could."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import NamedTuple

from pydantic import SecretStr

from switchboard._exceptions import CASConflict, TokenEndpointError, VaultUnavailable
from switchboard._models import (
    ClientDefinition,
    RefreshRecord,
    StoredToken,
    format_time,
    same_secret,
)
from switchboard._settings import TokenSettings
from switchboard._urls import origin
from switchboard.journal import Journal, JournalEntry
from switchboard.oauth2 import TokenResponse, parse_token_answer
from switchboard.refresh._claim import write_refresh_fenced
from switchboard.refresh._policy import refresh_after, vault_wait_seconds
from switchboard.vault import CredentialStore

__all__ = ["PairWriter", "Replay", "StoredPair"]

logger = logging.getLogger("switchboard.refresh")

_TOKEN_WRITE_ROUNDS = 3


class StoredPair(NamedTuple):
    """A pair as this run stored it: the consumers' token and the refresh record written over
    the claim (as Vault keeps it), so the expiry radar need not read the record back."""

    token: StoredToken
    record: RefreshRecord


class Replay:
    """What replaying a journal entry did: ``token`` is set when this run stored a pair, and
    ``record`` is then the refresh record that holds it."""

    def __init__(
        self,
        token: StoredToken | None,
        client_version: int | None,
        record: RefreshRecord | None = None,
    ) -> None:
        self.token = token
        self.client_version = client_version
        self.record = record


class PairWriter:
    """Turns a provider's answer into Vault records, fenced by the claim it was obtained under."""

    def __init__(
        self,
        store: CredentialStore,
        settings: TokenSettings,
        journal: Journal,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.settings = settings
        self.journal = journal
        self.sleep = sleep

    def stored_token(self, response: TokenResponse, definition: ClientDefinition) -> StoredToken:
        settings = self.settings
        jitter = definition.refresh_jitter_fraction
        return StoredToken(
            access_token=response.access_token,
            token_type=response.token_type,
            expires_at=response.expires_at,
            obtained_at=response.obtained_at,
            refresh_after=refresh_after(
                response.obtained_at,
                response.expires_at,
                fraction=definition.refresh_at_fraction or settings.refresh_at_fraction,
                jitter=jitter if jitter is not None else settings.refresh_jitter_fraction,
            ),
            scope=response.scope,
        )

    def commit(
        self,
        name: str,
        definition: ClientDefinition,
        entry: JournalEntry,
        *,
        base: RefreshRecord,
        token_version: int,
        over_version: int | None = None,
    ) -> StoredPair:
        """Store the pair in ``entry`` over the claim it was obtained under (``base``, at
        ``over_version``, by default ``entry.claim_version``), then the consumers' token.

        Returns the token and the refresh record as written (one Vault read fewer per refresh:
        the health report's radar judges this record, not one read back).

        An answer without a usable access token still stores the refresh token it rotated
        (dropping the journal entry, which would fail the same way on every replay), then fails.
        """
        over = entry.claim_version if over_version is None else over_version
        try:
            response = parse_token_answer(entry.answer, definition, spent=entry.spent)
        except TokenEndpointError:
            rotated = entry.answer.raw.get("refresh_token")
            update: dict[str, object] = {"intent": None}
            if (
                isinstance(rotated, str) and rotated
            ):  # a new token: the old one's lifetime is not its
                update |= {"refresh_token": SecretStr(rotated), "refresh_expires_at": None}
            self._write_refresh(name, base.model_copy(update=update), over)
            self.journal.clear(name)
            raise
        # not rotated: what the provider said of its lifetime before still holds
        not_rotated = same_secret(response.refresh_token, entry.spent)
        record = RefreshRecord(
            refresh_token=response.refresh_token,
            seed_version=entry.seed_version or base.seed_version,
            issuer=origin(definition.token_url),
            obtained_at=response.obtained_at,
            refresh_expires_at=response.refresh_expires_at
            or (base.refresh_expires_at if not_rotated else None),
        )
        refresh_version = self._write_refresh(name, record, over)
        token = self.stored_token(response, definition)
        self.write_token(name, token, cas=token_version, refresh_version=refresh_version)
        # as Vault keeps it (times to the millisecond), as a read-back would have given it
        stored = RefreshRecord.from_vault(record.to_vault(), path=self.store.where(name, "refresh"))
        return StoredPair(token, stored)

    def _write_refresh(self, name: str, record: RefreshRecord, over: int) -> int:
        return write_refresh_fenced(
            self.store,
            name,
            record,
            cas=over,
            retry_seconds=self.settings.vault_retry_seconds,
            sleep=self.sleep,
        )

    def write_token(
        self, name: str, token: StoredToken, *, cas: int, refresh_version: int | None
    ) -> bool:
        """Write the consumers' token; ``False`` if a newer one is there already.

        With ``refresh_version`` (rotating credentials) a conflict is overwritten only while the
        refresh record still is the one we wrote: then ours is the newest pair.
        """
        deadline = time.monotonic() + self.settings.vault_retry_seconds
        attempt = rounds = 0
        while True:
            attempt += 1
            try:
                self.store.write_token(name, token, cas=cas)
                return True
            except VaultUnavailable:
                if time.monotonic() >= deadline:
                    raise
                logger.warning("%s: Vault unavailable; the pair is in the journal, retrying", name)
                self.sleep(vault_wait_seconds(attempt))
            except CASConflict:
                rounds += 1
                current = self.store.read_token(name)
                if token.same_access_token(current.token):
                    return True  # our earlier write landed; its answer was lost
                newest = (
                    refresh_version is not None
                    and self.store.read_refresh(name).version == refresh_version
                )
                if not newest or rounds >= _TOKEN_WRITE_ROUNDS:
                    return False
                cas = current.version

    def replay(self, name: str) -> Replay | None:
        """Store a pair a previous run on this host journaled but could not write.

        ``None`` when nothing waits. The pair is stored while its claim stands (even over a
        soft-deleted record), or when an operator released the claim and Vault still holds the
        token it spent; it waits while another worker claims that token; it is dropped when
        Vault holds a newer pair (a new seed replaced it) or the family was revoked since.
        """
        entry = self.journal.pending(name)
        if entry is None:
            return None
        current = self.store.read_refresh(name)
        record = current.record
        landed = (
            record is not None
            and record.obtained_at is not None
            and format_time(record.obtained_at) == format_time(entry.answer.obtained_at)
        )
        spent_is_stored = record is not None and same_secret(record.refresh_token, entry.spent)
        claimed_by_other = record is not None and record.intent is not None
        if current.version != entry.claim_version and not landed:
            if spent_is_stored and claimed_by_other:
                return None  # another worker claims the token we spent: try on a later run
            health = self.store.read_health(name)
            if not spent_is_stored or (health is not None and health.state == "revoked"):
                logger.warning("%s: a journaled pair was superseded; dropped", name)
                self.journal.clear(name)
                return Replay(None, None)
        definition, client_version = self.store.read_client_versioned(name)
        token_version = self.store.read_token(name).version
        if landed and record is not None:  # the refresh record has it; the token may not
            response = parse_token_answer(entry.answer, definition, spent=entry.spent)
            token = self.stored_token(response, definition)
            self.write_token(name, token, cas=token_version, refresh_version=current.version)
        else:
            token, record = self.commit(
                name,
                definition,
                entry,
                base=record or RefreshRecord(),
                token_version=token_version,
                over_version=current.version,
            )
        self.journal.clear(name)
        logger.warning("%s: replayed a token pair from the write-ahead journal", name)
        return Replay(token, client_version, record)
