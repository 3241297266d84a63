"""The refresh algorithm on real OpenBao and the sandbox OAuth 2 server."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from helpers import NewCredential, counters, ping, refresh_record, stored_token, token_fault
from pydantic import SecretStr

from sandbox.servers import ManagedProcess
from switchboard._models import utcnow
from switchboard._settings import TokenSettings
from switchboard.refresh import (
    PLAN_REUSE_SECONDS,
    Refresher,
    Snapshot,
    backoff_seconds,
    refresh_after,
)
from switchboard.vault import KV, CredentialStore, Current


@pytest.fixture
def settings(tmp_path: Path) -> TokenSettings:
    return TokenSettings(journal_dir=tmp_path / "journal")


@pytest.fixture
def refresher(credential_store: CredentialStore, settings: TokenSettings) -> Refresher:
    return Refresher(credential_store, settings)


def test_client_credentials_acquire_then_skip(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess
) -> None:
    name, _ = new_credential()
    first = refresher.refresh(name)
    assert (first.status, first.state) == ("refreshed", "healthy")
    token = stored_token(refresher.store, name)
    assert ping(sandbox, token.access_token) == 200
    assert token.obtained_at < token.refresh_after < token.expires_at
    assert refresher.refresh(name).status == "skipped"
    health = refresher.store.read_health(name)
    assert health is not None and health.state == "healthy" and health.consecutive_failures == 0
    assert "sbx-" not in repr(first) + first.model_dump_json()


def test_refresh_token_grant_seeds_then_rotates(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess
) -> None:
    name, client = new_credential("refresh_token")
    assert refresher.refresh(name).status == "refreshed"
    first = refresh_record(refresher.store, name)
    assert first.seed_version == 1 and first.refresh_token is not None
    assert first.refresh_token.get_secret_value() != client["refresh_token"]
    assert (
        first.intent is None and first.issuer == "http://127.0.0.1:" + sandbox.url.rsplit(":", 1)[1]
    )
    assert "refresh_token" not in refresher.store.kv.read(refresher.store.path(name, "token")).data
    assert refresher.refresh(name, force=True).status == "refreshed"
    second = refresh_record(refresher.store, name)
    assert second.refresh_token is not None
    assert second.refresh_token.get_secret_value() != first.refresh_token.get_secret_value()
    assert second.seed_version == 1  # the seed is used once
    assert ping(sandbox, stored_token(refresher.store, name).access_token) == 200


def test_due_after_refresh_after(refresher: Refresher, new_credential: NewCredential) -> None:
    name, _ = new_credential()
    refresher.refresh(name)
    token = stored_token(refresher.store, name)
    assert refresher.plan([name], now=token.refresh_after - timedelta(seconds=1)).due == []
    assert refresher.plan([name], now=token.refresh_after).due == [name]


def test_keep_alive_makes_idle_refresh_tokens_due(
    refresher: Refresher, new_credential: NewCredential, settings: TokenSettings
) -> None:
    name, _ = new_credential("refresh_token", access_token_lifetime=10 * 86_400)
    refresher.refresh(name)
    token = stored_token(refresher.store, name)
    idle = token.obtained_at + timedelta(seconds=settings.keep_alive_seconds)
    assert idle < token.refresh_after
    assert refresher.plan([name], now=idle - timedelta(seconds=1)).due == []
    assert refresher.plan([name], now=idle).due == [name]


def test_keep_alive_override_replaces_the_idle_age_but_not_the_revoked_rule(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess
) -> None:
    idle, _ = new_credential("refresh_token", access_token_lifetime=10 * 86_400)
    plain, _ = new_credential(access_token_lifetime=10 * 86_400)
    revoked, client = new_credential("refresh_token")
    refresher.refresh(idle)
    refresher.refresh(plain)
    token_fault(sandbox, client["client_id"], status=400, error="invalid_grant")
    assert refresher.refresh(revoked).state == "revoked"
    later = stored_token(refresher.store, idle).obtained_at + timedelta(hours=1)

    names = [idle, plain, revoked]
    assert refresher.plan(names, now=later).due == []
    assert refresher.plan(names, now=later, idle_after=3600).due == [idle]
    assert refresher.refresh(idle, idle_after=0).status == "refreshed"
    assert (
        refresher.refresh(revoked, idle_after=0).status == "skipped"
    )  # a dead token stays unspent


def test_discovery_lists_many(refresher: Refresher, new_credential: NewCredential) -> None:
    names = [new_credential()[0] for _ in range(12)]
    assert set(names) <= set(refresher.discover())
    assert refresher.discover(names[:3]) == names[:3]
    assert refresher.plan(names).due == names
    with pytest.raises(Exception, match="no client definition for nope"):
        refresher.discover(["nope"])


def test_refresh_due_plans_then_refreshes_the_due_ones_in_order(
    refresher: Refresher, new_credential: NewCredential
) -> None:
    names = [new_credential()[0] for _ in range(5)]
    refresher.refresh(names[2])  # fresh: not due
    outcomes = refresher.refresh_due(names)
    assert [o.name for o in outcomes] == names
    assert [o.status for o in outcomes] == ["refreshed"] * 2 + ["skipped"] + ["refreshed"] * 2
    assert all(stored_token(refresher.store, name) for name in names)


def test_jitter_spreads_refresh_after() -> None:
    start = utcnow()
    end = start + timedelta(hours=1)
    moments = {refresh_after(start, end, fraction=2 / 3, jitter=0.15) for _ in range(50)}
    assert len(moments) > 10
    assert all(start + timedelta(minutes=40) <= m <= start + timedelta(minutes=49) for m in moments)


def test_backoff_honours_retry_after() -> None:
    assert all(0.25 <= backoff_seconds(1) <= 0.5 for _ in range(20))
    assert backoff_seconds(1, retry_after=2.0) == 2.0
    assert backoff_seconds(30) <= 10.0


def test_transient_errors_are_retried_and_counted(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess
) -> None:
    name, client = new_credential()
    token_fault(sandbox, client["client_id"], count=2, status=503)
    outcome = refresher.refresh(name)
    assert (outcome.status, outcome.attempts) == ("refreshed", 3)


def test_429_retry_after_is_honoured(
    credential_store: CredentialStore,
    settings: TokenSettings,
    new_credential: NewCredential,
    sandbox: ManagedProcess,
) -> None:
    waits: list[float] = []
    refresher = Refresher(credential_store, settings, sleep=waits.append)
    name, client = new_credential()
    token_fault(sandbox, client["client_id"], status=429, retry_after=7)
    assert refresher.refresh(name).status == "refreshed"
    assert waits == [7.0]


def test_long_retry_after_ends_the_run_and_backs_off(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess
) -> None:
    name, client = new_credential()
    token_fault(sandbox, client["client_id"], status=429, retry_after=600)
    outcome = refresher.refresh(name)
    assert (outcome.status, outcome.error_class, outcome.state) == (
        "failed",
        "TransientTokenError",
        "failing",
    )
    health = refresher.store.read_health(name)
    assert health is not None and health.next_attempt_at is not None
    assert health.next_attempt_at >= utcnow() + timedelta(seconds=590)
    assert refresher.refresh(name).status == "skipped"  # no retry storm


def test_transient_failure_keeps_the_refresh_token(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess
) -> None:
    name, client = new_credential("refresh_token")
    refresher.refresh(name)
    before = stored_token(refresher.store, name)
    token_fault(sandbox, client["client_id"], count=10, status=502)
    outcome = refresher.refresh(name, force=True)
    assert (outcome.status, outcome.state) == ("failed", "expiring")
    assert outcome.attempts == 0 and outcome.error_class == "TransientTokenError"
    after = stored_token(refresher.store, name)
    assert after == before  # nothing deleted on a blip
    record = refresh_record(refresher.store, name)
    assert record.refresh_token is not None and record.intent is None  # the claim is released
    health = refresher.store.read_health(name)
    assert health is not None and health.consecutive_failures == 1


def test_invalid_grant_marks_revoked_until_reseeded(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess
) -> None:
    name, client = new_credential("refresh_token")
    token_fault(sandbox, client["client_id"], status=400, error="invalid_grant")
    outcome = refresher.refresh(name)
    assert (outcome.status, outcome.state, outcome.error_class) == (
        "failed",
        "revoked",
        "CredentialRevoked",
    )
    assert refresher.refresh(name).status == "skipped"  # no retry on a permanent error
    assert counters(sandbox)["token"]  # the sandbox saw exactly the one failing call
    # the operator re-seeds: the new seed version is used once
    fresh = httpx2.post(
        f"{sandbox.url}/_control/clients",
        json={"client_id": f"{name}-b", "grant_types": ["refresh_token"]},
    ).json()
    definition = refresher.store.read_client(name).model_copy(
        update={
            "client_id": fresh["client_id"],
            "client_secrets": (SecretStr(fresh["client_secret"]),),
        }
    )
    refresher.store.put_client(name, definition)
    refresher.store.put_seed(name, SecretStr(fresh["refresh_token"]))
    recovered = refresher.refresh(name)
    assert (recovered.status, recovered.recovered) == ("refreshed", True)
    assert refresh_record(refresher.store, name).seed_version == 2


def test_invalid_client_is_misconfigured(
    refresher: Refresher, new_credential: NewCredential
) -> None:
    name, _ = new_credential()
    good = refresher.store.read_client(name)
    wrong = good.model_copy(update={"client_secrets": (SecretStr("sbx-wrong"),)})
    refresher.store.put_client(name, wrong)
    outcome = refresher.refresh(name)
    assert (outcome.state, outcome.error_class) == ("misconfigured", "ClientRejected")
    assert outcome.message is not None and "sbx-" not in outcome.message
    assert refresher.refresh(name).status == "skipped"  # backs off
    refresher.store.put_client(name, good)  # the operator fixes it: no need to wait
    fixed = refresher.refresh(name)
    assert (fixed.status, fixed.recovered) == ("refreshed", True)


def test_bad_definition_is_misconfigured(
    refresher: Refresher, credential_store: CredentialStore, unique_name: str
) -> None:
    credential_store.kv.write(credential_store.path(unique_name, "client"), {"client_id": "x"})
    outcome = refresher.refresh(unique_name)
    assert (outcome.status, outcome.state, outcome.error_class) == (
        "failed",
        "misconfigured",
        "ConfigurationError",
    )
    assert outcome.message is not None and "token_url" in outcome.message


def test_a_timeout_is_retried(
    credential_store: CredentialStore,
    tmp_path: Path,
    new_credential: NewCredential,
    sandbox: ManagedProcess,
) -> None:
    settings = TokenSettings(journal_dir=tmp_path, http_timeout=0.5)
    refresher = Refresher(credential_store, settings)
    name, client = new_credential()
    token_fault(sandbox, client["client_id"], latency=2)
    outcome = refresher.refresh(name)
    assert (outcome.status, outcome.attempts) == ("refreshed", 2)


class CountingRefresher(Refresher):
    """Counts the credential reads ``refresh`` makes outside the lock."""

    reads = 0

    def snapshot(self, name: str) -> Snapshot:
        self.reads += 1
        return super().snapshot(name)


def test_refresh_reuses_the_plans_snapshot_once(
    credential_store: CredentialStore, settings: TokenSettings, new_credential: NewCredential
) -> None:
    refresher = CountingRefresher(credential_store, settings)
    name, _ = new_credential()
    assert refresher.plan([name]).due == [name]
    assert refresher.reads == 1
    outcome = refresher.refresh(name, snapshot=refresher.planned(name))
    assert outcome.status == "refreshed" and refresher.reads == 1  # no second read
    assert refresher.planned(name) is None  # handed out once
    assert "sbx-" not in repr(refresher.plan([name]))


def test_a_plan_overtaken_by_another_run_is_adopted_not_overwritten(
    refresher: Refresher, settings: TokenSettings, new_credential: NewCredential
) -> None:
    name, _ = new_credential("refresh_token")
    refresher.refresh(name)
    assert refresher.plan([name], force=True).due == [name]
    other = Refresher(refresher.store, settings)  # another worker refreshes after our plan
    assert other.refresh(name, force=True).status == "refreshed"
    theirs = stored_token(refresher.store, name)
    outcome = refresher.refresh(name, force=True, snapshot=refresher.planned(name))
    assert outcome.status == "adopted"
    assert stored_token(refresher.store, name).same_access_token(theirs)


def test_an_old_snapshot_is_read_again(
    credential_store: CredentialStore, settings: TokenSettings, new_credential: NewCredential
) -> None:
    refresher = CountingRefresher(credential_store, settings)
    name, _ = new_credential()
    refresher.refresh(name)
    old = refresher.snapshot(name)
    assert refresher.refresh(name, force=True).status == "refreshed"  # the token moved on
    aged = replace(old, read_at=old.read_at - PLAN_REUSE_SECONDS - 1)
    reads = refresher.reads
    outcome = refresher.refresh(name, force=True, snapshot=aged)
    assert outcome.status == "refreshed"  # re-read, so not mistaken for another run's token
    assert refresher.reads == reads + 1


def test_a_health_report_lost_to_a_vault_outage_is_written_by_the_next_run(
    refresher: Refresher, new_credential: NewCredential, vault_root
) -> None:
    """Found by killing the OpenBao leader mid-refresh (tests/test_cluster.py): the token was
    stored, its health write was not, and every later run skipped the fresh token, leaving the
    credential without health (or with the failure before it) for an hour."""
    for grant in ("client_credentials", "refresh_token"):
        name, _ = new_credential(grant)
        assert refresher.refresh(name).status == "refreshed"
        vault_root.secrets.kv.v2.delete_metadata_and_all_versions(
            path=refresher.store.path(name, "health"), mount_point="secret"
        )
        assert refresher.refresh(name).status == "skipped"
        health = refresher.store.read_health(name)
        assert health is not None and health.state == "healthy", grant

        failing = health.model_copy(
            update={"state": "failing", "consecutive_failures": 3, "next_attempt_at": None}
        )
        refresher.store.write_health(name, failing)  # a failure reported after the token
        assert refresher.plan([name]).due == [], "a newer failure must stand"

        current = refresher.store.read_token(name)  # a token landing after that report ...
        assert current.token is not None
        refresher.store.write_token(name, current.token, cas=current.version)
        plan = refresher.plan([name])  # ... whose own report was lost
        assert plan.due == [name], "a health record behind the stored token must be rewritten"
        assert refresher.refresh(name, snapshot=refresher.planned(name)).status == "skipped"
        health = refresher.store.read_health(name)
        assert health is not None and health.state == "healthy" and not health.consecutive_failures


def test_a_late_report_never_moves_health_back_to_an_older_token(
    refresher: Refresher, new_credential: NewCredential
) -> None:
    """A slow run reporting its token after another run stored and reported a newer one loses
    the check-and-set; rebuilding its report over the newer one would put the older token's
    expiry back in the health record."""
    name, _ = new_credential()
    assert refresher.refresh(name).status == "refreshed"
    old_token = stored_token(refresher.store, name)
    old_report = refresher.store.read_health_versioned(name)
    assert refresher.refresh(name, force=True).status == "refreshed"
    new_token = stored_token(refresher.store, name)
    snapshot = refresher.snapshot(name)
    refresher.health.success(
        name,
        old_token,
        definition=snapshot.definition,
        client_version=snapshot.client_version,
        before=None,
        previous=old_report,
    )
    health = refresher.store.read_health(name)
    assert health is not None and health.expires_at == new_token.expires_at


class CountingKV(KV):
    """OpenBao's KV, recording each request as ``(verb, leaf)``: the audit log's count."""

    def __init__(self, kv: KV) -> None:
        super().__init__(kv.session, kv.mount)
        self.calls: list[tuple[str, str]] = []

    def read_current(self, path: str) -> Current:
        self.calls.append(("read", path.rsplit("/", 1)[-1]))
        return super().read_current(path)

    def write(self, path: str, data: dict[str, Any], *, cas: int | None = None) -> int:
        self.calls.append(("write", path.rsplit("/", 1)[-1]))
        return super().write(path, data, cas=cas)

    def patch_custom_metadata(self, path: str, custom_metadata: dict[str, str]) -> None:
        self.calls.append(("metadata", path.rsplit("/", 1)[-1]))
        super().patch_custom_metadata(path, custom_metadata)


@pytest.mark.parametrize(
    ("grant", "operations"),
    [
        (
            "client_credentials",
            # plan: the definition, the token (due? its version), health (backoff, version);
            # then both written with check-and-set
            [
                *[("read", "client"), ("read", "token"), ("read", "health")],
                *[("write", "token"), ("write", "health")],
            ],
        ),
        (
            "refresh_token",  # a seed: claimed, marked spent, spending, then the new pair
            [
                *[("read", leaf) for leaf in ("client", "seed", "token", "refresh", "health")],
                *[("write", "refresh"), ("metadata", "seed"), ("write", "refresh")],
                *[("write", "refresh"), ("write", "token"), ("write", "health")],
            ],
        ),
    ],
)
def test_a_refresh_makes_the_vault_operations_its_protocol_needs_and_no_more(
    credential_store: CredentialStore,
    settings: TokenSettings,
    new_credential: NewCredential,
    grant: str,
    operations: list[tuple[str, str]],
) -> None:
    """BENCHMARKS.md counts these per grant from the audit log; the expiry radar judges the
    refresh record the run wrote rather than reading it back."""
    name, _ = new_credential(grant)
    kv = CountingKV(credential_store.kv)
    refresher = Refresher(CredentialStore(kv, credential_store.base_path), settings)
    plan = refresher.plan([name])
    outcome = refresher.refresh(name, snapshot=refresher.planned(name))
    assert (plan.due, outcome.status, outcome.state) == ([name], "refreshed", "healthy")
    assert kv.calls == operations
    if grant == "refresh_token":  # spending a stored refresh token: claim, then the new pair
        kv.calls.clear()
        again = refresher.refresh(name, force=True)
        assert (again.status, again.state) == ("refreshed", "healthy")
        assert kv.calls == [
            *[("read", leaf) for leaf in ("client", "seed", "token", "refresh", "health")],
            *[("write", "refresh"), ("write", "refresh"), ("write", "token"), ("write", "health")],
        ]
