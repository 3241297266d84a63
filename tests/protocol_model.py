"""A world for model-checking the refresh protocol: the real ``Refresher`` code, run step by step.

Every call the protocol makes to the outside (a KV v2 read or write, a token request, a journal
write, a sleep) is a *step*: the worker's thread stops at it until the test lets it go, so a
hypothesis state machine chooses the interleaving of 2-3 workers and injects faults between
any two steps. The ports are models with the semantics that matter and nothing faked away:

- ``ModelKV``: KV v2 with real check-and-set (``cas=0`` creates, ``cas=N`` only over version
  N, soft-deleted keys keep their version), custom metadata, an outage switch, and writes
  that land while their answer is lost.
- ``ModelProvider``: an authorization server with rotating refresh tokens and reuse detection:
  a refresh token spent again after its answer was delivered revokes the family (a strict
  provider); one whose answer was lost gets the same answer again (the provider-side grace
  period the README asks for, since a lost answer is indistinguishable from no answer).
- ``GatedJournal``: the real journal on a per-host directory (hosts outlive processes).

Nothing here talks to a server: ``tests/test_refresh_claims.py`` runs the same scenarios
end to end on OpenBao and the sandbox.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from switchboard._exceptions import (
    CASConflict,
    CredentialRevoked,
    TransientTokenError,
    VaultUnavailable,
)
from switchboard._models import ClientDefinition, utcnow
from switchboard.journal import Journal, JournalEntry
from switchboard.oauth2 import TokenAnswer
from switchboard.vault import KV, Current

TOKEN_URL = "https://idp.example/token"


class Killed(BaseException):
    """The process running a worker died (SIGKILL): nothing of it runs any more."""


class Gate:
    """Where a worker's thread waits between steps; the test opens it one step at a time."""

    def __init__(self) -> None:
        self.waiting = threading.Event()
        self.resume = threading.Event()
        self.killed = False
        self.at = "start"

    def __call__(self, what: str) -> None:
        self.at = what
        self.waiting.set()
        self.resume.wait()
        self.resume.clear()
        if self.killed:
            raise Killed


_gates = threading.local()


def step(what: str) -> None:
    """Called by every port: stop here if the calling thread is a gated worker."""
    gate: Gate | None = getattr(_gates, "gate", None)
    if gate is not None:
        gate(what)


@dataclass
class World:
    """Shared state the faults act on: the model time, the outage switch, pending faults."""

    now: datetime = field(default_factory=utcnow)
    takeovers: dict[int, int] = field(default_factory=dict)  # run -> the run whose claim it took
    vault_down: bool = False
    lose_next_write_answer: bool = False
    provider_faults: list[str] = field(default_factory=list)  # "unavailable" | "lost"


class ModelKV(KV):
    """KV v2 in memory, with check-and-set exactly as Vault does it."""

    def __init__(self, world: World, mount: str = "secret") -> None:
        super().__init__(session=None, mount=mount)  # type: ignore[arg-type]
        self.world = world
        self.versions: dict[str, list[dict[str, Any] | None]] = {}
        self.custom: dict[str, dict[str, str]] = {}
        self.owners: dict[str, int] = {}  # a claim's owner -> the run that wrote it
        self.guard = threading.Lock()

    def _check_up(self, path: str) -> None:
        if self.world.vault_down:
            raise VaultUnavailable(f"Vault is unreachable at {path}", path=path)

    def read_current(self, path: str) -> Current:
        step(f"kv read {path.rsplit('/', 1)[-1]}")
        self._check_up(path)
        with self.guard:
            versions = self.versions.get(path, [])
            data = versions[-1] if versions else None
            return Current(
                data=dict(data) if data is not None else None,
                version=len(versions),
                custom_metadata=dict(self.custom.get(path, {})),
            )

    def write(self, path: str, data: dict[str, Any], *, cas: int | None = None) -> int:
        step(f"kv write {path.rsplit('/', 1)[-1]}")
        self._check_up(path)
        with self.guard:
            versions = self.versions.setdefault(path, [])
            if cas is not None and cas != len(versions):
                raise CASConflict(f"check-and-set lost at {path}", path=path)
            self._note_takeover(versions[-1] if versions else None, data)
            versions.append(_plain(data))
            version = len(versions)
        if self.world.lose_next_write_answer:
            self.world.lose_next_write_answer = False
            raise VaultUnavailable(f"Vault's answer was lost at {path}", path=path)
        return version

    def _note_takeover(self, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        """Remember which run's claim a run overwrote with its own (claims are owned by runs)."""
        intent = after.get("intent")
        if not isinstance(intent, dict):
            return
        self.owners.setdefault(str(intent["owner"]), current_run_id())
        previous = before.get("intent") if before else None
        if isinstance(previous, dict) and previous.get("owner") != intent["owner"]:
            self.world.takeovers[current_run_id()] = self.owners.get(str(previous["owner"]), 0)

    def patch_custom_metadata(self, path: str, custom_metadata: dict[str, str]) -> None:
        step(f"kv patch metadata {path.rsplit('/', 1)[-1]}")
        self._check_up(path)
        with self.guard:
            self.custom.setdefault(path, {}).update(custom_metadata)

    def list(self, path: str) -> list[str]:
        step("kv list")
        self._check_up(path)
        return []

    def soft_delete(self, path: str) -> None:
        """``bao kv delete``: the latest version reads as absent but keeps its number (no new
        version is written: a check-and-set over it still succeeds)."""
        with self.guard:
            versions = self.versions.get(path)
            if versions:
                versions[-1] = None

    def latest(self, path: str) -> dict[str, Any] | None:
        versions = self.versions.get(path, [])
        return versions[-1] if versions else None


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """What Vault would store: JSON values (nested records copied, never shared)."""
    return {k: (_plain(v) if isinstance(v, dict) else v) for k, v in data.items()}


@dataclass
class Spend:
    """The provider processed a refresh request for ``token`` from ``run``."""

    token: str
    run: int
    answer_lost: bool = False


class ModelProvider:
    """One token family with rotating refresh tokens and reuse detection."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.serial = itertools.count(1)
        self.seed = self._new_token("rt")
        self.current = self.seed
        self.answers: dict[str, dict[str, Any]] = {}  # spent token -> the answer it got
        self.spends: list[Spend] = []
        self.revoked = False
        self.violations: list[str] = []
        self.guard = threading.Lock()

    def _new_token(self, kind: str) -> str:
        return f"sbx-{kind}-{next(self.serial)}"

    def request_token(
        self, definition: ClientDefinition, *, refresh_token: SecretStr | None = None
    ) -> TokenAnswer:
        run = current_run_id()
        step("token request")
        fault = self.world.provider_faults.pop(0) if self.world.provider_faults else None
        if fault == "unavailable":
            raise TransientTokenError("HTTP 503", status=503, maybe_processed=False)
        assert refresh_token is not None, "the model credential uses the refresh-token grant"
        token = refresh_token.get_secret_value()
        with self.guard:
            answer = self._process(token, run, lost=fault == "lost")
        if fault == "lost":
            raise TransientTokenError("no answer within 10 s", maybe_processed=True)
        return TokenAnswer(raw=dict(answer), obtained_at=self.world.now)

    def _process(self, token: str, run: int, *, lost: bool) -> dict[str, Any]:
        if self.revoked:
            raise CredentialRevoked("invalid_grant", error="invalid_grant", status=400)
        earlier = [spend for spend in self.spends if spend.token == token]
        if token == self.current:
            new = self._new_token("rt")
            answer = {
                "access_token": self._new_token("at"),
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": new,
            }
            self.answers[token] = answer
            self.current = new
            self.spends.append(Spend(token, run, answer_lost=lost))
            return answer
        if earlier and all(spend.answer_lost for spend in earlier) and token in self.answers:
            # a retry after a lost answer: the grace period answers it with the same pair; the
            # run that sent it retries, or a later one after it released its claim, but a run
            # that took over the claim of a run whose request may have spent it must not
            taken_from = self.world.takeovers.get(run)
            if any(spend.run == taken_from for spend in earlier):
                self.violations.append(
                    f"refresh token {token} spent by run {run}, which took over the claim of run "
                    f"{taken_from} whose request may have spent it"
                )
            self.spends.append(Spend(token, run, answer_lost=lost))
            if not lost:
                for spend in earlier:
                    spend.answer_lost = False  # the pair is delivered now
            return self.answers[token]
        self.revoked = True
        self.violations.append(
            f"refresh token {token} spent again by run {run} after its answer was delivered "
            f"(earlier spends by runs {[spend.run for spend in earlier]}): family revoked"
        )
        raise CredentialRevoked("invalid_grant", error="invalid_grant", status=400)

    def usable(self, token: str | None) -> bool:
        """Whether ``token`` still gets a pair: the current one, or one whose answer was lost."""
        if self.revoked or token is None:
            return False
        if token == self.current:
            return True
        spends = [spend for spend in self.spends if spend.token == token]
        return bool(spends) and all(spend.answer_lost for spend in spends)


class GatedJournal(Journal):
    """The real journal; writing and clearing it are steps (a process can die around them)."""

    def record(self, name: str, entry: JournalEntry) -> None:
        step("journal record")
        super().record(name, entry)

    def clear(self, name: str) -> None:
        step("journal clear")
        super().clear(name)


def journal_on(directory: Path) -> GatedJournal:
    return GatedJournal(directory, scope="model|secret|switchboard")


_run_ids = threading.local()


def current_run_id() -> int:
    return int(getattr(_run_ids, "run", 0))


def bind_thread(gate: Gate, run: int) -> None:
    _gates.gate = gate
    _run_ids.run = run


def later(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)
