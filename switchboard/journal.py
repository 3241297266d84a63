"""The write-ahead journal: a token endpoint's answer on local disk before Vault has it.

A rotated refresh token that lives only in memory is one crash away from a dead credential.
``Journal.record`` writes the provider's raw answer (mode 0600, fsync'd, atomically renamed)
before anything parses it or writes Vault; ``Journal.clear`` runs once Vault holds the pair;
the next run on this host finds a leftover entry with ``Journal.pending`` and replays it. A
process killed between writing ``<file>.partial`` and renaming it leaves a complete answer in
the ``.partial`` file: ``pending`` reads that too, so a complete answer on disk is never ignored.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from switchboard._files import PARTIAL_SUFFIX, write_private
from switchboard._models import format_time, parse_time
from switchboard.oauth2 import TokenAnswer

__all__ = ["Journal", "JournalEntry"]


@dataclass(frozen=True, repr=False)
class JournalEntry:
    """A provider's answer that may not be in Vault yet, and the claim it was obtained under.

    ``claim_version`` is the refresh record's version holding that claim: the answer may be
    written only over it. ``spent`` is the refresh token the request spent (it stays the refresh
    token when the server does not rotate it); ``seed_version`` is set when it was a seed.
    """

    answer: TokenAnswer
    claim_version: int
    spent: SecretStr
    seed_version: int | None = None

    def __repr__(self) -> str:
        return f"JournalEntry(claim_version={self.claim_version}, answer={self.answer!r})"

    def to_json(self) -> bytes:
        body: dict[str, Any] = {
            "claim_version": self.claim_version,
            "seed_version": self.seed_version,
            "spent": self.spent.get_secret_value(),
            "obtained_at": format_time(self.answer.obtained_at),
            "answer": self.answer.raw,
        }
        return json.dumps(body).encode()

    @classmethod
    def from_json(cls, text: str) -> JournalEntry:
        body = json.loads(text)
        seed = body.get("seed_version")
        return cls(
            answer=TokenAnswer(
                raw=dict(body["answer"]), obtained_at=parse_time(str(body["obtained_at"]))
            ),
            claim_version=int(body["claim_version"]),
            spent=SecretStr(str(body["spent"])),
            seed_version=int(seed) if seed is not None else None,
        )


class Journal:
    """One file per credential under ``directory`` (created mode 0700)."""

    def __init__(self, directory: Path, *, scope: str) -> None:
        self.directory = directory
        self.scope = scope  # Vault address + namespace + mount + base path: keeps Vaults apart

    def _file(self, name: str) -> Path:
        return self.directory / (quote(f"{self.scope}|{name}", safe="") + ".json")

    def record(self, name: str, entry: JournalEntry) -> None:
        """Persist ``entry`` durably (write, fsync, rename, fsync the directory)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(self._file(name), entry.to_json())

    def has_pending(self, name: str) -> bool:
        """Whether an answer for ``name`` may wait to be replayed (cheap: no parsing)."""
        path = self._file(name)
        return path.exists() or path.with_name(path.name + PARTIAL_SUFFIX).exists()

    def pending(self, name: str) -> JournalEntry | None:
        """The entry waiting for ``name``: the newest complete one of the file and its
        ``.partial`` (a torn ``.partial`` was never acknowledged and is skipped)."""
        path = self._file(name)
        found = [
            entry
            for candidate in (path, path.with_name(path.name + PARTIAL_SUFFIX))
            if (entry := _read(candidate)) is not None
        ]
        return max(found, key=lambda entry: entry.claim_version, default=None)

    def clear(self, name: str) -> None:
        path = self._file(name)
        for candidate in (path, path.with_name(path.name + PARTIAL_SUFFIX)):
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()


def _read(path: Path) -> JournalEntry | None:
    try:
        return JournalEntry.from_json(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):  # torn by a crash mid-write
        return None
