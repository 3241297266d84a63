"""The refresh protocol, model-checked: 2-3 workers on hosts with skewed clocks, interleaved one
step at a time, while Vault goes away, answers get lost and processes die (``protocol_model``).

Invariants, after every step: no refresh token is spent again after its answer was delivered
(the provider would revoke the family); the refresh token in Vault is one the provider still
honours, or a claim covers it; no worker fails with an unexpected error. At the end, with the
faults healed and time past any claim's staleness, every host runs once more: then the
credential is healthy with a live refresh token, or ``in_doubt`` because a claim's answer is
lost for good, and never ``healthy`` with a dead token.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from protocol_model import (
    TOKEN_URL,
    Gate,
    Killed,
    ModelKV,
    ModelProvider,
    World,
    bind_thread,
    journal_on,
    later,
    step,
)
from pydantic import SecretStr

from switchboard._models import ClientDefinition, RefreshOutcome
from switchboard._settings import TokenSettings
from switchboard.refresh import Refresher
from switchboard.vault import CredentialStore

NAME = "model"
HOSTS = ("a", "b", "c")
STEP_TIMEOUT_SECONDS = 10.0
SETTLE_STEPS = 400
CRITICAL_STEPS = (
    "kv read seed",
    "kv read refresh",
    "kv read token",
    "kv write refresh",
    "kv patch metadata seed",
    "token request",
    "journal record",
    "kv write token",
    "journal clear",
    "kv write health",
    "sleep",
)
"""Moments where a process's death, or another worker's step, matters most."""


class Run:
    """One process running one ``refresh`` on a host, in its own thread, gated per step."""

    def __init__(self, refresher: Refresher, run_id: int, host: str, *, force: bool) -> None:
        self.refresher = refresher
        self.killed_at: str | None = None
        self.id = run_id
        self.host = host
        self.force = force
        self.gate = Gate()
        self.done = threading.Event()
        self.result: RefreshOutcome | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        bind_thread(self.gate, self.id)
        try:
            self.result = self.refresher.refresh(NAME, force=self.force)
        except Killed:
            pass
        except BaseException as exc:  # a bug in the protocol: reported by an invariant
            self.error = exc
        finally:
            self.done.set()
            self.gate.waiting.set()

    def _wait(self) -> None:
        assert self.gate.waiting.wait(STEP_TIMEOUT_SECONDS), f"run {self.id} is stuck"

    def start(self) -> None:
        self.thread.start()
        self._wait()

    def advance(self) -> None:
        if self.done.is_set():
            return
        self.gate.waiting.clear()
        self.gate.resume.set()
        self._wait()

    def advance_until(self, what: str) -> None:
        """Step until the run waits right before ``what`` (or has finished)."""
        for _ in range(SETTLE_STEPS):
            if self.done.is_set() or self.gate.at == what:
                return
            self.advance()

    def kill(self) -> None:
        self.killed_at = self.gate.at
        self.gate.killed = True
        self.advance()

    def finish(self) -> None:
        for _ in range(SETTLE_STEPS):
            if self.done.is_set():
                return
            self.advance()
        raise AssertionError(f"run {self.id} did not finish (at {self.gate.at})")

    def __repr__(self) -> str:
        return f"Run({self.id} on {self.host}, at {self.gate.at!r}, result={self.result})"


class RefreshProtocol(RuleBasedStateMachine):
    """Hypothesis picks who steps, who dies, and what fails, in any order."""

    @initialize()
    def setup(self) -> None:
        self.world = World()
        self.kv = ModelKV(self.world)
        self.store = CredentialStore(self.kv, "switchboard")
        self.provider = ModelProvider(self.world)
        self.root = Path(tempfile.mkdtemp(prefix="sb-model-"))
        self.settings = TokenSettings(journal_dir=self.root, max_attempts=3)
        self.journals = {host: journal_on(self.root / host) for host in HOSTS}
        self.offsets = dict.fromkeys(HOSTS, 0.0)
        self.runs: list[Run] = []
        definition = ClientDefinition(
            token_url=TOKEN_URL,
            client_id="model-client",
            client_secrets=(SecretStr("sbx-client-secret"),),
            grant="refresh_token",
        )
        self.store.put_client(NAME, definition)
        self.store.put_seed(NAME, SecretStr(self.provider.seed))

    # -- the processes ------------------------------------------------------------------

    def live(self) -> list[Run]:
        return [run for run in self.runs if not run.done.is_set()]

    def _new_run(self, host: str, *, force: bool) -> Run:
        offset = self.offsets[host]
        refresher = Refresher(
            self.store,
            self.settings,
            endpoint=self.provider,  # type: ignore[arg-type]
            journal=self.journals[host],
            sleep=lambda _seconds: step("sleep"),
            clock=lambda: later(self.world.now, offset),
        )
        run = Run(refresher, len(self.runs) + 1, host, force=force)
        self.runs.append(run)
        run.start()
        return run

    @precondition(lambda self: len(self.live()) < 3)
    @rule(host=st.sampled_from(HOSTS), force=st.booleans())
    def start_a_run(self, host: str, force: bool) -> None:
        self._new_run(host, force=force)

    @precondition(lambda self: bool(self.live()))
    @rule(which=st.integers(0, 2), steps=st.integers(1, 12))
    def step_a_run(self, which: int, steps: int) -> None:
        live = self.live()
        run = live[which % len(live)]
        for _ in range(steps):
            run.advance()

    @precondition(lambda self: bool(self.live()))
    @rule(which=st.integers(0, 2), before=st.sampled_from(CRITICAL_STEPS))
    def step_a_run_up_to(self, which: int, before: str) -> None:
        live = self.live()
        live[which % len(live)].advance_until(before)

    @precondition(lambda self: bool(self.live()))
    @rule(which=st.integers(0, 2))
    def kill_a_process(self, which: int) -> None:
        live = self.live()
        live[which % len(live)].kill()

    # -- the faults -----------------------------------------------------------------------

    @rule(down=st.booleans())
    def vault_goes_away_or_comes_back(self, down: bool) -> None:
        self.world.vault_down = down

    @rule()
    def vault_loses_a_write_answer(self) -> None:
        self.world.lose_next_write_answer = True

    @rule(kind=st.sampled_from(["unavailable", "lost"]))
    def provider_fails_next(self, kind: str) -> None:
        self.world.provider_faults.append(kind)

    @rule(seconds=st.sampled_from([1.0, 60.0, 400.0, 700.0]))
    def time_passes(self, seconds: float) -> None:
        self.world.now = later(self.world.now, seconds)

    @rule(host=st.sampled_from(HOSTS), offset=st.sampled_from([-300.0, -90.0, 90.0, 300.0]))
    def a_clock_is_wrong(self, host: str, offset: float) -> None:
        self.offsets[host] = offset  # for the runs started from now on

    @rule(record=st.sampled_from(["token", "health"]))
    def an_operator_deletes(self, record: str) -> None:
        self.kv.soft_delete(self.store.path(NAME, record))

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def no_refresh_token_is_spent_twice(self) -> None:
        assert not self.provider.violations, self.provider.violations

    @invariant()
    def vault_holds_a_live_refresh_token_or_a_claim(self) -> None:
        record = self.kv.latest(self.store.path(NAME, "refresh"))
        if record is None:
            assert self.provider.usable(self.provider.seed) or self._seed_claimed()
        elif record.get("intent") is None:
            assert self.provider.usable(record.get("refresh_token")), record

    @invariant()
    def runs_fail_only_on_purpose(self) -> None:
        errors = [(run, run.error) for run in self.runs if run.error is not None]
        assert not errors, errors

    def _seed_claimed(self) -> bool:
        return any(spend.token == self.provider.seed for spend in self.provider.spends)

    # -- the end: heal, wait, run everywhere once more, then judge -------------------------

    def teardown(self) -> None:
        try:
            if hasattr(self, "world"):
                self._settle_and_judge()
        finally:
            for run in self.live():
                run.kill()
            if hasattr(self, "root"):
                shutil.rmtree(self.root, ignore_errors=True)

    def _settle_and_judge(self) -> None:
        self.world.vault_down = False
        self.world.lose_next_write_answer = False
        self.world.provider_faults.clear()
        for run in self.live():
            run.finish()
        self.world.now = later(self.world.now, self.settings.claim_stale_seconds + 400)
        for host in HOSTS:  # each host replays its journal, or judges a stale claim
            self._new_run(host, force=False).finish()
        self.runs_fail_only_on_purpose()
        self.no_refresh_token_is_spent_twice()

        record = self.kv.latest(self.store.path(NAME, "refresh"))
        health = self.kv.latest(self.store.path(NAME, "health"))
        state = health.get("state") if health else None
        intent = record.get("intent") if record is not None else None
        if intent is not None and intent["phase"] == "spending":
            assert state == "in_doubt", (state, record)
            # in doubt for a reason: the token was sent, or its owner died before it could know
            # (between its claim's write and the request); a live owner never strands a claim
            spent = {spend.token for spend in self.provider.spends}
            owner = self.kv.owners.get(str(intent["owner"]))
            died = any(run.id == owner and run.killed_at is not None for run in self.runs)
            assert record is not None and (record.get("refresh_token") in spent or died), (
                "in_doubt, yet nothing was sent and its owner did not die",
                record,
            )
            return
        token = record.get("refresh_token") if record else self.provider.seed
        assert self.provider.usable(token), (state, record)
        assert state not in {"revoked", "misconfigured"}, health  # truthful: nothing is wrong
        final = self._new_run("a", force=True)
        final.finish()
        assert final.result is not None and final.result.status == "refreshed", final.result
        health = self.kv.latest(self.store.path(NAME, "health"))
        assert health is not None and health["state"] == "healthy", health


TestRefreshProtocol = RefreshProtocol.TestCase
EXPLORE = os.environ.get("SWITCHBOARD_MODEL_EXPLORE", "")
"""Unset: the same 200 sequences every run (``make test`` stays deterministic). A number: that
many fresh random sequences (``SWITCHBOARD_MODEL_EXPLORE=5000 pytest tests/test_refresh_model.py``);
what such a search finds goes into ``SCENARIOS`` below."""

TestRefreshProtocol.settings = settings(
    max_examples=int(EXPLORE) if EXPLORE.isdigit() else 200,
    derandomize=not EXPLORE,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# -- scenarios the search found, or a reviewer did: replayed as they are -----------------------

Scenario = list[Callable[[RefreshProtocol], None]]


def _play(scenario: Scenario) -> None:
    machine = RefreshProtocol()
    machine.setup()
    try:
        for move in scenario:
            move(machine)
            machine.no_refresh_token_is_spent_twice()
            machine.vault_holds_a_live_refresh_token_or_a_claim()
            machine.runs_fail_only_on_purpose()
    finally:
        machine.teardown()


def _step_to_second_sleep(machine: RefreshProtocol) -> None:
    machine.step_a_run_up_to(0, "sleep")
    machine.step_a_run(0, 1)
    machine.step_a_run_up_to(0, "sleep")


SCENARIOS = {
    # a request timed out (its answer may be lost), the next one got a 503: the claim must not
    # say "nothing in flight" while the process waits, or another host takes it over when it dies
    "timeout-then-503-then-death": [
        lambda m: m.provider_fails_next("lost"),
        lambda m: m.provider_fails_next("unavailable"),
        lambda m: m.start_a_run("a", False),
        _step_to_second_sleep,
        lambda m: m.kill_a_process(0),
    ],
    # an owner whose clock runs an hour ahead dies mid-request: the others must not wait an hour
    "owner-clock-an-hour-ahead-dies": [
        lambda m: m.offsets.update(a=3600.0),
        lambda m: m.start_a_run("a", False),
        lambda m: m.step_a_run_up_to(0, "journal record"),
        lambda m: m.kill_a_process(0),
        lambda m: m.offsets.update(a=0.0),  # its clock is put right: every host judges alike
    ],
    # the new pair's write lands but its answer is lost, then the process dies
    "pair-written-answer-lost-death": [
        lambda m: m.start_a_run("a", False),
        lambda m: m.step_a_run_up_to(0, "kv write refresh"),
        lambda m: m.step_a_run(0, 3),
        lambda m: m.vault_loses_a_write_answer(),
        lambda m: m.step_a_run(0, 1),
        lambda m: m.kill_a_process(0),
    ],
    # a seed's claim turns `spending`: the write lands, its answer is lost, and Vault goes away
    # before the run could check the conflict: the claim is its own, it must not be stranded
    "claim-write-answer-lost-then-vault-away": [
        lambda m: m.start_a_run("a", False),
        lambda m: m.step_a_run(0, 6),
        lambda m: m.vault_loses_a_write_answer(),
        lambda m: m.step_a_run(0, 4),
        lambda m: m.vault_goes_away_or_comes_back(True),
        lambda m: m.step_a_run(0, 1),
    ],
}


@pytest.mark.parametrize("scenario", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_scenario(scenario: Scenario) -> None:
    _play(scenario)
