"""KV v2, one method per endpoint, errors mapped onto ``VaultError``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchboard._exceptions import VaultNotFound
from switchboard._settings import DEFAULT_MOUNT
from switchboard.vault._errors import vault_errors
from switchboard.vault._session import VaultSession

__all__ = ["KV", "Versioned"]


@dataclass(frozen=True)
class Versioned:
    """A secret's data with the KV v2 version it was read at (for check-and-set)."""

    data: dict[str, Any]
    version: int

    def __repr__(self) -> str:  # the data may hold secrets
        return f"Versioned(version={self.version}, keys={sorted(self.data)})"


class KV:
    """A KV v2 secrets engine at ``mount``."""

    def __init__(self, session: VaultSession, mount: str = DEFAULT_MOUNT) -> None:
        self.session = session
        self.mount = mount

    def _where(self, path: str) -> str:
        return f"{self.mount}/data/{path}"

    def read(self, path: str) -> Versioned:
        """``GET /{mount}/data/{path}``; ``VaultNotFound`` when absent or deleted."""
        with vault_errors(self._where(path)):
            response = self.session.client().secrets.kv.v2.read_secret_version(
                path=path, mount_point=self.mount, raise_on_deleted_version=True
            )
        body = response["data"]
        if body.get("data") is None:
            raise VaultNotFound(f"nothing stored at {self._where(path)}", path=self._where(path))
        return Versioned(data=dict(body["data"]), version=int(body["metadata"]["version"]))

    def read_or_none(self, path: str) -> Versioned | None:
        try:
            return self.read(path)
        except VaultNotFound:
            return None

    def write(self, path: str, data: dict[str, Any], *, cas: int | None = None) -> int:
        """``POST /{mount}/data/{path}`` (``cas=0``: create only; ``cas=N``: only over version N).

        Returns the new version; ``CASConflict`` when ``cas`` did not match.
        """
        with vault_errors(self._where(path)):
            response = self.session.client().secrets.kv.v2.create_or_update_secret(
                path=path, secret=data, cas=cas, mount_point=self.mount
            )
        return int(response["data"]["version"])

    def list(self, path: str) -> list[str]:
        """``LIST /{mount}/metadata/{path}``; an empty list when nothing is there."""
        where = f"{self.mount}/metadata/{path}"
        try:
            with vault_errors(where):
                response = self.session.client().secrets.kv.v2.list_secrets(
                    path=path, mount_point=self.mount
                )
        except VaultNotFound:
            return []
        return [str(key) for key in response["data"]["keys"]]
