"""The Switchboard Vault layout (``docs/architecture.md``), one method per operation."""

from __future__ import annotations

from pydantic import SecretStr

from switchboard._exceptions import ConfigurationError
from switchboard._models import ClientDefinition, CredentialHealth, OAuth1Keys, StoredToken
from switchboard._settings import VaultSettings
from switchboard.vault._kv import KV, Versioned
from switchboard.vault._session import VaultSession, connect

__all__ = ["CredentialStore", "VersionedToken"]


class VersionedToken:
    """A stored token and its KV v2 version (0: none stored yet, so ``cas=0`` creates)."""

    __slots__ = ("token", "version")

    def __init__(self, token: StoredToken | None, version: int) -> None:
        self.token = token
        self.version = version

    def __repr__(self) -> str:
        return f"VersionedToken(version={self.version}, stored={self.token is not None})"


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

    def read_seed(self, name: str) -> tuple[SecretStr, int] | None:
        """The operator's seeded refresh token and the KV version it was written at."""
        found = self.kv.read_or_none(self.path(name, "seed"))
        if found is None or not found.data.get("refresh_token"):
            return None
        return SecretStr(str(found.data["refresh_token"])), found.version

    def put_seed(self, name: str, refresh_token: SecretStr) -> int:
        return self.kv.write(
            self.path(name, "seed"), {"refresh_token": refresh_token.get_secret_value()}
        )

    def read_token(self, name: str) -> VersionedToken:
        found = self.kv.read_or_none(self.path(name, "token"))
        if found is None:
            return VersionedToken(None, 0)
        return VersionedToken(
            StoredToken.from_vault(found.data, path=self.where(name, "token")), found.version
        )

    def write_token(self, name: str, token: StoredToken, *, cas: int) -> int:
        """Write with check-and-set; ``CASConflict`` means another run wrote first."""
        return self.kv.write(self.path(name, "token"), token.to_vault(), cas=cas)

    def read_health(self, name: str) -> CredentialHealth | None:
        found = self.kv.read_or_none(self.path(name, "health"))
        if found is None:
            return None
        return CredentialHealth.from_vault(found.data, path=self.where(name, "health"))

    def write_health(self, name: str, health: CredentialHealth) -> int:
        return self.kv.write(self.path(name, "health"), health.to_vault())

    def read_lock(self, name: str) -> Versioned | None:
        return self.kv.read_or_none(self.path(name, "lock"))

    def write_lock(self, name: str, data: dict[str, str], *, cas: int) -> int:
        return self.kv.write(self.path(name, "lock"), data, cas=cas)

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
