"""KV v2, one method per endpoint, errors mapped onto ``VaultError``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import hvac.exceptions

from switchboard._exceptions import VaultNotFound
from switchboard._settings import DEFAULT_MOUNT
from switchboard.vault._errors import vault_errors
from switchboard.vault._session import VaultSession

__all__ = ["KV", "Current", "Versioned"]


@dataclass(frozen=True)
class Versioned:
    """A secret's data with the KV v2 version it was read at (for check-and-set)."""

    data: dict[str, Any]
    version: int

    def __repr__(self) -> str:  # the data may hold secrets
        return f"Versioned(version={self.version}, keys={sorted(self.data)})"


@dataclass(frozen=True)
class Current:
    """A key's latest version: its data (``None`` if never written, deleted or destroyed), the
    version a check-and-set write must name (0 only when the key never existed), the key's
    custom metadata, and when Vault wrote that version (by Vault's clock, not a worker's)."""

    data: dict[str, Any] | None
    version: int
    custom_metadata: dict[str, str] = field(default_factory=dict)
    written_at: datetime | None = None

    def __repr__(self) -> str:  # the data may hold secrets
        keys = sorted(self.data) if self.data is not None else None
        return f"Current(version={self.version}, keys={keys})"


class KV:
    """A KV v2 secrets engine at ``mount``."""

    def __init__(self, session: VaultSession, mount: str = DEFAULT_MOUNT) -> None:
        self.session = session
        self.mount = mount

    def _where(self, path: str) -> str:
        return f"{self.mount}/data/{path}"

    def read(self, path: str) -> Versioned:
        """``GET /{mount}/data/{path}``; ``VaultNotFound`` when absent or deleted."""
        current = self.read_current(path)
        if current.data is None:
            raise VaultNotFound(f"nothing stored at {self._where(path)}", path=self._where(path))
        return Versioned(data=current.data, version=current.version)

    def read_current(self, path: str) -> Current:
        """``GET /{mount}/data/{path}``, telling a deleted key's version apart from none.

        A soft-deleted or destroyed latest version reads as 404 but keeps its number in the
        answer's metadata: a check-and-set write must name it (``cas=0`` fails forever).
        """
        body: dict[str, Any] | None
        with vault_errors(self._where(path)):
            try:
                body = self.session.client().secrets.kv.v2.read_secret_version(
                    path=path, mount_point=self.mount, raise_on_deleted_version=False
                )["data"]
            except hvac.exceptions.InvalidPath as exc:  # never written, or destroyed
                body = (exc.json or {}).get("data") if isinstance(exc.json, dict) else None
        if not body or not isinstance(body.get("metadata"), dict):
            return Current(data=None, version=0)
        metadata = body["metadata"]
        data = body.get("data")
        return Current(
            data=dict(data) if isinstance(data, dict) else None,
            version=int(metadata.get("version") or 0),
            custom_metadata=dict(metadata.get("custom_metadata") or {}),
            written_at=_vault_time(metadata.get("created_time")),
        )

    def write(self, path: str, data: dict[str, Any], *, cas: int | None = None) -> int:
        """``POST /{mount}/data/{path}`` (``cas=0``: create only; ``cas=N``: only over version N).

        Returns the new version; ``CASConflict`` when ``cas`` did not match.
        """
        with vault_errors(self._where(path)):
            response = self.session.client().secrets.kv.v2.create_or_update_secret(
                path=path, secret=data, cas=cas, mount_point=self.mount
            )
        return int(response["data"]["version"])

    def patch_custom_metadata(self, path: str, custom_metadata: dict[str, str]) -> None:
        """``PATCH /{mount}/metadata/{path}``: merge ``custom_metadata``, change nothing else."""
        where = f"{self.mount}/metadata/{path}"
        with vault_errors(where):
            self.session.client().adapter.request(
                "PATCH",
                f"/v1/{where}",
                json={"custom_metadata": custom_metadata},
                headers={"Content-Type": "application/merge-patch+json"},
            )

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


def _vault_time(text: object) -> datetime | None:
    """Vault's RFC 3339 time (nanoseconds); ``None`` when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    seconds, _, rest = text.rstrip("Z").partition(".")
    try:
        moment = datetime.fromisoformat(seconds).replace(tzinfo=UTC)
    except ValueError:
        return None
    digits = "".join(ch for ch in rest if ch.isdigit())[:6].ljust(6, "0")
    return moment.replace(microsecond=int(digits))
