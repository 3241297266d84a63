"""Everything about one credential a decision needs, read from Vault in one go."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import SecretStr

from switchboard._models import ClientDefinition, CredentialHealth, Intent
from switchboard.vault import CredentialStore, Seed, VersionedRefresh, VersionedToken

__all__ = ["Snapshot", "read_snapshot"]


@dataclass(frozen=True, repr=False)
class Snapshot:
    """A credential as read from Vault: definition, token, refresh record, seed and health."""

    definition: ClientDefinition
    client_version: int
    token: VersionedToken
    refresh: VersionedRefresh
    seed: Seed | None
    health: CredentialHealth | None
    health_version: int = 0
    health_written_at: datetime | None = None  # by Vault's clock, like ``token.written_at``
    read_at: float = field(default_factory=time.monotonic, compare=False)

    @property
    def age(self) -> float:
        """Seconds since it was read."""
        return time.monotonic() - self.read_at

    @property
    def intent(self) -> Intent | None:
        record = self.refresh.record
        return record.intent if record is not None else None

    @property
    def stored_refresh_token(self) -> SecretStr | None:
        """The refresh token in Vault: the refresh record's, or an unmigrated token record's."""
        record = self.refresh.record
        if record is not None:
            return record.refresh_token
        legacy = self.token.legacy_refresh
        return legacy[0] if legacy is not None else None

    @property
    def stored_seed_version(self) -> int | None:
        """The seed the stored refresh token descends from."""
        record = self.refresh.record
        if record is not None:
            return record.seed_version
        legacy = self.token.legacy_refresh
        return legacy[1] if legacy is not None else None

    @property
    def seed_is_new(self) -> bool:
        """A seed that was never spent: not by a claim, a stored token, or a revoked attempt."""
        seed = self.seed
        if seed is None or self.definition.grant != "refresh_token":
            return False
        spent = [seed.consumed_version, self.stored_seed_version or 0]
        intent = self.intent
        if intent is not None and intent.seed_version:
            spent.append(intent.seed_version)
        health = self.health
        if health is not None and health.state == "revoked" and health.seed_version:
            spent.append(health.seed_version)  # that seed was tried and is dead
        return seed.version > max(spent)

    def __repr__(self) -> str:
        return (
            f"Snapshot(token={self.token!r}, refresh={self.refresh!r}, "
            f"seed_is_new={self.seed_is_new})"
        )


def read_snapshot(store: CredentialStore, name: str) -> Snapshot:
    """Read ``name``'s records (the refresh record and seed only for the refresh-token grant)."""
    definition, client_version = store.read_client_versioned(name)
    rotating = definition.grant == "refresh_token"
    # the seed before the refresh record: a claim is written before its seed is marked spent,
    # so a seed read as spent is always followed by a record that shows the claim or its result
    seed = store.read_seed(name) if rotating else None
    token = store.read_token(name)
    refresh = store.read_refresh(name) if rotating else VersionedRefresh(None, 0)
    health, health_version, health_written_at = store.read_health_dated(name)
    return Snapshot(
        definition=definition,
        client_version=client_version,
        token=token,
        refresh=refresh,
        seed=seed,
        health=health,
        health_version=health_version,
        health_written_at=health_written_at,
    )
