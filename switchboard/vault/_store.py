"""The Switchboard Vault layout (``docs/architecture.md``), one method per operation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr

from switchboard._exceptions import ConfigurationError
from switchboard._models import (
    ClientDefinition,
    CredentialHealth,
    OAuth1Keys,
    RefreshRecord,
    StoredToken,
)
from switchboard._settings import VaultSettings
from switchboard.vault._kv import KV
from switchboard.vault._session import VaultSession, connect

__all__ = ["SEED_CONSUMED_KEY", "CredentialStore", "Seed", "VersionedRefresh", "VersionedToken"]

SEED_CONSUMED_KEY = "switchboard_consumed_version"
"""Custom metadata on ``.../seed``: the highest seed version ever spent. It lives on the seed's
own key, so deleting the token or refresh record can never make a spent seed look new."""


@dataclass(frozen=True, repr=False)
class VersionedToken:
    """A stored token and the version a check-and-set write must name (0: the key never existed).

    ``legacy_refresh`` is the refresh token (and seed version) of a record written before
    refresh tokens moved to ``.../refresh``; the next refresh moves it.
    """

    token: StoredToken | None
    version: int
    legacy_refresh: tuple[SecretStr, int | None] | None = None
    written_at: datetime | None = None  # by Vault's clock

    def __repr__(self) -> str:
        return f"VersionedToken(version={self.version}, stored={self.token is not None})"


@dataclass(frozen=True, repr=False)
class VersionedRefresh:
    """The refresh record and the version a check-and-set write must name."""

    record: RefreshRecord | None
    version: int

    def __repr__(self) -> str:
        intent = self.record.intent.phase if self.record and self.record.intent else None
        return f"VersionedRefresh(version={self.version}, intent={intent})"


@dataclass(frozen=True, repr=False)
class Seed:
    """The operator's seeded refresh token, its version and the highest version already spent."""

    refresh_token: SecretStr
    version: int
    consumed_version: int

    def __repr__(self) -> str:
        return f"Seed(version={self.version}, consumed_version={self.consumed_version})"


class CredentialStore:
    """Credentials under ``<mount>/<base>/``; hands out models, never raw dicts."""

    def __init__(self, kv: KV, base_path: str) -> None:
        self.kv = kv
        self.base_path = base_path.strip("/")

    @classmethod
    def from_settings(cls, settings: VaultSettings) -> CredentialStore:
        return cls(KV(connect(settings), settings.mount), settings.base_path)

    @property
    def session(self) -> VaultSession:
        return self.kv.session

    def path(self, name: str, leaf: str) -> str:
        """The path (under the mount) of one of a credential's secrets."""
        _check_name(name)
        return f"{self.base_path}/credentials/{name}/{leaf}"

    def where(self, name: str, leaf: str) -> str:
        """``mount/path`` as operators type it after ``bao kv get``."""
        return f"{self.kv.mount}/{self.path(name, leaf)}"

    def list_credentials(self) -> list[str]:
        """Every credential name under ``<base>/credentials/``, sorted."""
        keys = self.kv.list(f"{self.base_path}/credentials")
        return sorted(key.rstrip("/") for key in keys if key.endswith("/"))

    def read_client(self, name: str) -> ClientDefinition:
        return self.read_client_versioned(name)[0]

    def read_client_versioned(self, name: str) -> tuple[ClientDefinition, int]:
        """The client definition and its KV version (a new version = the operator changed it)."""
        found = self.kv.read(self.path(name, "client"))
        definition = ClientDefinition.from_vault(found.data, path=self.where(name, "client"))
        return definition, found.version

    def put_client(self, name: str, definition: ClientDefinition) -> int:
        return self.kv.write(self.path(name, "client"), definition.to_vault())

    def read_seed(self, name: str) -> Seed | None:
        """The operator's seeded refresh token, if one is stored."""
        found = self.kv.read_current(self.path(name, "seed"))
        if found.data is None or not found.data.get("refresh_token"):
            return None
        consumed = found.custom_metadata.get(SEED_CONSUMED_KEY, "0")
        return Seed(
            refresh_token=SecretStr(str(found.data["refresh_token"])),
            version=found.version,
            consumed_version=int(consumed) if consumed.isdigit() else 0,
        )

    def mark_seed_consumed(self, name: str, version: int) -> None:
        """Record on the seed's own metadata that ``version`` is being spent (before it is)."""
        self.kv.patch_custom_metadata(self.path(name, "seed"), {SEED_CONSUMED_KEY: str(version)})

    def put_seed(self, name: str, refresh_token: SecretStr) -> int:
        return self.kv.write(
            self.path(name, "seed"), {"refresh_token": refresh_token.get_secret_value()}
        )

    def read_token(self, name: str) -> VersionedToken:
        found = self.kv.read_current(self.path(name, "token"))
        if found.data is None:
            return VersionedToken(None, found.version, written_at=found.written_at)
        legacy = None
        if found.data.get("refresh_token"):
            seed_version = found.data.get("seed_version")
            legacy = (
                SecretStr(str(found.data["refresh_token"])),
                int(seed_version) if isinstance(seed_version, int) else None,
            )
        token = StoredToken.from_vault(found.data, path=self.where(name, "token"))
        return VersionedToken(token, found.version, legacy, found.written_at)

    def write_token(self, name: str, token: StoredToken, *, cas: int) -> int:
        """Write with check-and-set; ``CASConflict`` means another run wrote first."""
        return self.kv.write(self.path(name, "token"), token.to_vault(), cas=cas)

    def read_refresh(self, name: str) -> VersionedRefresh:
        found = self.kv.read_current(self.path(name, "refresh"))
        if found.data is None:
            return VersionedRefresh(None, found.version)
        record = RefreshRecord.from_vault(found.data, path=self.where(name, "refresh"))
        return VersionedRefresh(record, found.version)

    def write_refresh(self, name: str, record: RefreshRecord, *, cas: int) -> int:
        """Write with check-and-set: every change of a claim or a refresh token is fenced."""
        return self.kv.write(self.path(name, "refresh"), record.to_vault(), cas=cas)

    def read_health(self, name: str) -> CredentialHealth | None:
        return self.read_health_versioned(name)[0]

    def read_health_versioned(self, name: str) -> tuple[CredentialHealth | None, int]:
        """The health record and the version a check-and-set write must name."""
        health, version, _ = self.read_health_dated(name)
        return health, version

    def read_health_dated(self, name: str) -> tuple[CredentialHealth | None, int, datetime | None]:
        """The health record, its version, and when Vault wrote it (by Vault's clock)."""
        found = self.kv.read_current(self.path(name, "health"))
        if found.data is None:
            return None, found.version, found.written_at
        health = CredentialHealth.from_vault(found.data, path=self.where(name, "health"))
        return health, found.version, found.written_at

    def write_health(self, name: str, health: CredentialHealth, *, cas: int | None = None) -> int:
        """Write health; with ``cas``, only over that version (a report that is not stale)."""
        return self.kv.write(self.path(name, "health"), health.to_vault(), cas=cas)

    def read_oauth1(self, name: str) -> OAuth1Keys:
        path = self._oauth1_path(name)
        return OAuth1Keys.from_vault(self.kv.read(path).data, path=f"{self.kv.mount}/{path}")

    def put_oauth1(self, name: str, keys: OAuth1Keys) -> int:
        return self.kv.write(self._oauth1_path(name), keys.to_vault())

    def _oauth1_path(self, name: str) -> str:
        _check_name(name)
        return f"{self.base_path}/oauth1/{name}"


def _check_name(name: str) -> None:
    if not name or "/" in name or name in {".", ".."} or name != name.strip():
        raise ConfigurationError(
            f"invalid credential name {name!r}: use a single path segment (letters, digits, - _ .)"
        )
