"""The write-ahead journal: a new token pair on local disk before Vault has it.

A rotated refresh token that lives only in memory is one crash away from a dead
credential. ``Journal.record`` writes the pair (mode 0600, fsync'd, atomically
renamed) before the Vault write; ``Journal.clear`` runs once Vault confirmed it; the
next run on this host finds a leftover entry with ``Journal.pending`` and replays it.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from switchboard._files import write_private
from switchboard._models import StoredToken

__all__ = ["Journal", "JournalEntry"]


@dataclass(frozen=True)
class JournalEntry:
    """A pair that may not be in Vault yet, and the token version it was refreshed from."""

    token: StoredToken
    base_version: int


class Journal:
    """One file per credential under ``directory`` (created mode 0700)."""

    def __init__(self, directory: Path, *, scope: str) -> None:
        self.directory = directory
        self.scope = scope  # Vault address + mount + base path: keeps two Vaults apart

    def _file(self, name: str) -> Path:
        return self.directory / (quote(f"{self.scope}|{name}", safe="") + ".json")

    def record(self, name: str, token: StoredToken, *, base_version: int) -> None:
        """Persist the pair durably (write, fsync, rename, fsync the directory)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        body: dict[str, Any] = {"base_version": base_version, "token": token.to_vault()}
        write_private(self._file(name), json.dumps(body).encode())

    def has_pending(self, name: str) -> bool:
        """Whether a pair for ``name`` waits to be replayed (no parsing: cheap in a plan)."""
        return self._file(name).exists()

    def pending(self, name: str) -> JournalEntry | None:
        try:
            body = json.loads(self._file(name).read_text())
        except FileNotFoundError:
            return None
        return JournalEntry(
            token=StoredToken.from_vault(body["token"], path=str(self._file(name))),
            base_version=int(body["base_version"]),
        )

    def clear(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._file(name).unlink()
