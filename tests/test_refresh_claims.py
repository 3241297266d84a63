"""The claim protocol end to end on real OpenBao and the sandbox (a strict provider: reusing a
rotated refresh token revokes the family), each hazard of issue 9 repeated ``TRIALS`` times.

Each trial counts the refresh tokens spent twice (the sandbox's ``reuse_detected``) and checks
that the credential ends healthy with a live token; the README reports these counts.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx2
import hvac
import pytest
from helpers import ROOT_TOKEN, NewCredential, counters, ping, register_credential, token_fault
from pydantic import SecretStr
from vault_helpers import DiskVault

from sandbox.servers import ManagedProcess
from switchboard._models import RefreshOutcome, utcnow
from switchboard._settings import TokenSettings, VaultSettings
from switchboard.consumer import AccessTokenCache
from switchboard.refresh import Refresher, journal_for
from switchboard.vault import CredentialStore

TRIALS = 20


def reuse_detected(sandbox: ManagedProcess) -> int:
    return int(str(counters(sandbox)["reuse_detected"]))


def token_requests(sandbox: ManagedProcess) -> int:
    """Every request the token endpoint received (answered, refused or faulted)."""
    by_kind = counters(sandbox)["token"]
    assert isinstance(by_kind, dict)
    return sum(int(count) for count in by_kind.values())


def wait_until(condition: Callable[[], bool], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def claimed(store: CredentialStore, name: str) -> bool:
    record = store.read_refresh(name).record
    return record is not None and record.intent is not None


def in_background(
    work: Callable[[], RefreshOutcome],
) -> tuple[threading.Thread, list[RefreshOutcome]]:
    results: list[RefreshOutcome] = []
    thread = threading.Thread(target=lambda: results.append(work()))
    thread.start()
    return thread, results


def assert_live(store: CredentialStore, sandbox: ManagedProcess, name: str) -> None:
    """Healthy, with a token the API takes and a refresh token the provider still honours."""
    token = store.read_token(name).token
    health = store.read_health(name)
    assert token is not None and ping(sandbox, token.access_token) == 200
    assert health is not None and health.state == "healthy", health


@pytest.fixture
def host_a(credential_store: CredentialStore, tmp_path: Path) -> Refresher:
    return Refresher(credential_store, TokenSettings(journal_dir=tmp_path / "a"))


def other_host(store: CredentialStore, journal: Path, *, clock_ahead: float = 0.0) -> Refresher:
    offset = timedelta(seconds=clock_ahead)
    return Refresher(store, TokenSettings(journal_dir=journal), clock=lambda: utcnow() + offset)


FULL_ACCESS = 'path "secret/*" { capabilities = ["create", "read", "update", "patch", "list"] }'
READ_ONLY = 'path "secret/*" { capabilities = ["read", "list"] }'


@pytest.fixture
def strandable(
    credential_store: CredentialStore,
    vault_root: hvac.Client,
    openbao: ManagedProcess,
    tmp_path: Path,
) -> Callable[[str], tuple[Refresher, Callable[[bool], None]]]:
    """``strandable(name) -> (host A's refresher, allow_writes)``: host A's Vault identity can be
    refused every write at any moment (its policy changes under it, as an outage of writes)."""

    def create(name: str) -> tuple[Refresher, Callable[[bool], None]]:
        policy = f"strand-{name}"

        def allow_writes(allowed: bool) -> None:
            rules = FULL_ACCESS if allowed else READ_ONLY
            vault_root.sys.create_or_update_policy(name=policy, policy=rules)

        allow_writes(True)
        token = vault_root.auth.token.create(policies=[policy], ttl="10m")["auth"]["client_token"]
        store = CredentialStore.from_settings(
            VaultSettings(addr=openbao.url, token=SecretStr(token))
        )
        settings = TokenSettings(journal_dir=tmp_path / f"a-{name}")
        return Refresher(store, settings), allow_writes

    return create


@pytest.fixture(scope="module")
def disk_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiskVault]:
    vault = DiskVault(tmp_path_factory.mktemp("claims") / "bao")
    try:
        yield vault
    finally:
        vault.stop()


@pytest.fixture
def disk_store(disk_vault: DiskVault) -> CredentialStore:
    return CredentialStore.from_settings(
        VaultSettings(addr=disk_vault.url, token=SecretStr(disk_vault.root_token), timeout=2)
    )


# -- 1. a host whose clock runs ahead ----------------------------------------------------------


@pytest.mark.slow
def test_a_host_whose_clock_runs_ahead_never_spends_a_claimed_token(
    credential_store: CredentialStore,
    new_credential: NewCredential,
    sandbox: ManagedProcess,
    host_a: Refresher,
    tmp_path: Path,
) -> None:
    spent_twice = 0
    for trial in range(TRIALS):
        name, client = new_credential("refresh_token")
        assert host_a.refresh(name).status == "refreshed"
        before = reuse_detected(sandbox)
        ahead = (90.0, 300.0, 900.0)[trial % 3]  # 900 s: past staleness, so in_doubt
        host_b = other_host(credential_store, tmp_path / "b", clock_ahead=ahead)
        token_fault(sandbox, client["client_id"], latency=0.5)
        thread, results = in_background(lambda: host_a.refresh(name, force=True))
        wait_until(lambda: claimed(credential_store, name))
        theirs = host_b.refresh(name, force=True)
        thread.join(timeout=30)
        assert theirs.status in {"busy", "failed"}, theirs
        assert theirs.status == "busy" or theirs.state == "in_doubt", theirs
        assert [r.status for r in results] == ["refreshed"]
        spent_twice += reuse_detected(sandbox) - before
        assert_live(credential_store, sandbox, name)
    assert spent_twice == 0


# -- 1. Vault going away while a refresh runs --------------------------------------------------


@pytest.mark.slow
def test_a_vault_outage_during_a_refresh_never_lets_another_host_spend(
    sandbox: ManagedProcess, disk_vault: DiskVault, disk_store: CredentialStore, tmp_path: Path
) -> None:
    store = disk_store
    host_a = Refresher(store, TokenSettings(journal_dir=tmp_path / "a"))
    spent_twice = 0
    for trial in range(TRIALS):
        name = f"outage-{uuid.uuid4().hex[:8]}-{trial}"
        client = register_credential(sandbox.url, store, name, "refresh_token")
        assert host_a.refresh(name).status == "refreshed"
        before = reuse_detected(sandbox)
        token_fault(sandbox, client["client_id"], latency=0.6)
        thread, results = in_background(lambda: host_a.refresh(name, force=True))
        wait_until(lambda: claimed(store, name))
        with disk_vault.outage():  # down until the answer waits in host A's journal
            wait_until(lambda: any((tmp_path / "a").iterdir()))
            time.sleep(0.3)
        host_b = other_host(store, tmp_path / "b", clock_ahead=90.0)
        theirs = host_b.refresh(name, force=True)
        thread.join(timeout=60)
        # busy while host A's claim stands; refreshed (with A's new token) if A stored it first
        assert theirs.status in {"busy", "adopted", "refreshed"}, theirs
        assert [r.status for r in results] == ["refreshed"], results
        spent_twice += reuse_detected(sandbox) - before
        assert_live(store, sandbox, name)
    assert spent_twice == 0


# -- 2. a pair stranded on one host ------------------------------------------------------------


@pytest.mark.slow
def test_a_pair_stranded_on_one_host_is_never_respent_and_heals_on_replay(
    credential_store: CredentialStore,
    new_credential: NewCredential,
    sandbox: ManagedProcess,
    host_a: Refresher,
    strandable: Callable[[str], tuple[Refresher, Callable[[bool], None]]],
    tmp_path: Path,
) -> None:
    spent_twice = 0
    for trial in range(TRIALS):
        name, client = new_credential("refresh_token")
        assert host_a.refresh(name).status == "refreshed"
        before = reuse_detected(sandbox)
        stranded, allow_writes = strandable(name)
        token_fault(sandbox, client["client_id"], latency=0.3)
        thread, results = in_background(lambda: stranded.refresh(name, force=True))
        wait_until(lambda: claimed(credential_store, name))
        allow_writes(False)  # Vault refuses host A's write of the new pair
        thread.join(timeout=30)
        assert [r.status for r in results] == ["failed"]
        assert stranded.journal.has_pending(name)
        if trial % 2:  # a crash between the journal's write and its rename
            [entry] = list(stranded.journal.directory.iterdir())
            entry.rename(entry.with_name(entry.name + ".partial"))
        # host B runs next, with a clock past any staleness: it must not spend
        host_b = other_host(credential_store, tmp_path / f"b{trial}", clock_ahead=3600)
        theirs = host_b.refresh(name, force=True)
        assert (theirs.status, theirs.state) == ("failed", "in_doubt"), theirs
        health = credential_store.read_health(name)
        assert health is not None and health.state == "in_doubt"
        allow_writes(True)
        replayed = stranded.refresh(name)  # host A's next run replays its journal
        assert replayed.replayed_journal, replayed
        assert not stranded.journal.has_pending(name)
        spent_twice += reuse_detected(sandbox) - before
        assert_live(credential_store, sandbox, name)
        assert host_b.refresh(name, force=True).status == "refreshed"  # the token is live
    assert spent_twice == 0


# -- 3. answers that cannot be parsed as they are ----------------------------------------------


@pytest.mark.parametrize("expires_in", ["inf", 1e12, "3600.5", "nan", 0])
def test_an_absurd_lifetime_never_loses_a_rotated_pair(
    credential_store: CredentialStore,
    new_credential: NewCredential,
    sandbox: ManagedProcess,
    host_a: Refresher,
    expires_in: str | float,
) -> None:
    name, _ = new_credential("refresh_token", expires_in_value=expires_in)
    before = reuse_detected(sandbox)
    first = host_a.refresh(name)
    assert first.status == "refreshed", first
    token = credential_store.read_token(name).token
    assert token is not None and token.expires_at < utcnow() + timedelta(days=367)
    assert host_a.refresh(name, force=True).status == "refreshed"  # the stored RT is live
    assert reuse_detected(sandbox) == before


# -- 4. records deleted by an operator ---------------------------------------------------------


@pytest.mark.parametrize("record", ["token", "health", "refresh"])
def test_a_soft_deleted_record_never_wedges_or_respends(
    credential_store: CredentialStore,
    new_credential: NewCredential,
    sandbox: ManagedProcess,
    host_a: Refresher,
    vault_root: hvac.Client,
    record: str,
) -> None:
    name, _ = new_credential("refresh_token")
    assert host_a.refresh(name).status == "refreshed"
    vault_root.secrets.kv.v2.delete_latest_version_of_secret(
        path=credential_store.path(name, record), mount_point="secret"
    )
    before, requests = reuse_detected(sandbox), token_requests(sandbox)
    outcome = host_a.refresh(name, force=True)
    assert reuse_detected(sandbox) == before
    if record == "refresh":  # the refresh token is gone, and the spent seed stays spent
        assert (outcome.status, outcome.state) == ("failed", "misconfigured"), outcome
        assert outcome.message is not None and "seed" in outcome.message
        assert token_requests(sandbox) == requests
    else:
        assert outcome.status == "refreshed", outcome
        assert_live(credential_store, sandbox, name)


# -- 5. forced refreshes and backoff -----------------------------------------------------------


def test_forced_refreshes_never_override_a_backoff(
    credential_store: CredentialStore,
    new_credential: NewCredential,
    sandbox: ManagedProcess,
    host_a: Refresher,
) -> None:
    name, client = new_credential("refresh_token", access_token_lifetime=30)
    assert host_a.refresh(name).status == "refreshed"
    token_fault(sandbox, client["client_id"], status=429, retry_after=3600)
    assert host_a.refresh(name, force=True).status == "failed"
    requests = token_requests(sandbox)
    cache = AccessTokenCache.refreshing(credential_store, host_a.settings)
    for _ in range(5):  # consumers of a token near expiry, then rejected by an upstream
        token = cache.get(name)
        cache.invalidate(name, token)
    for _ in range(5):
        assert host_a.refresh(name, force=True).status == "skipped"
        assert host_a.refresh_rejected(name, wait_seconds=0).status == "skipped"
    assert token_requests(sandbox) == requests


def test_rejected_tokens_refresh_once_per_interval(
    credential_store: CredentialStore,
    new_credential: NewCredential,
    sandbox: ManagedProcess,
    tmp_path: Path,
) -> None:
    name, _ = new_credential("refresh_token")
    refresher = Refresher(credential_store, TokenSettings(journal_dir=tmp_path))
    assert refresher.refresh(name).status == "refreshed"
    requests = token_requests(sandbox)
    statuses = [refresher.refresh_rejected(name, wait_seconds=0).status for _ in range(5)]
    assert statuses == ["refreshed"] + ["skipped"] * 4
    assert token_requests(sandbox) == requests + 1


# -- 6. the journal's scope --------------------------------------------------------------------


def test_the_journal_scope_includes_the_namespace(tmp_path: Path) -> None:
    def store(namespace: str | None) -> CredentialStore:
        settings = VaultSettings(
            addr="https://vault.example:8200", token=SecretStr("t"), namespace=namespace
        )
        fake = SimpleNamespace(
            session=SimpleNamespace(settings=settings),
            kv=SimpleNamespace(mount="secret"),
            base_path="switchboard",
        )
        return fake  # type: ignore[return-value]

    settings = TokenSettings(journal_dir=tmp_path)
    files = {journal_for(store(ns), settings)._file("x") for ns in (None, "team-a", "team-b")}
    assert len(files) == 3


# -- 7. consumers only read --------------------------------------------------------------------


def test_a_consumer_reads_a_token_near_expiry_without_touching_the_client(
    credential_store: CredentialStore,
    new_credential: NewCredential,
    host_a: Refresher,
    vault_root: hvac.Client,
    openbao: ManagedProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from switchboard.consumer import get_access_token, set_default_cache

    name, _ = new_credential("refresh_token", access_token_lifetime=30)  # inside the margin
    assert host_a.refresh(name).status == "refreshed"
    policy = (
        f'path "secret/data/switchboard/credentials/{name}/token" {{ capabilities = ["read"] }}'
    )
    vault_root.sys.create_or_update_policy(name=f"consumer-{name}", policy=policy)
    consumer = vault_root.auth.token.create(policies=[f"consumer-{name}"], ttl="5m")
    monkeypatch.setenv("VAULT_ADDR", openbao.url)
    monkeypatch.setenv("VAULT_TOKEN", consumer["auth"]["client_token"])
    set_default_cache(None)
    try:
        token = get_access_token(name)
    finally:
        set_default_cache(None)
        monkeypatch.setenv("VAULT_TOKEN", ROOT_TOKEN)
    stored = credential_store.read_token(name).token
    assert stored is not None and token == stored.access_token


# -- the in_doubt runbook ----------------------------------------------------------------------


def test_an_in_doubt_claim_is_resolved_by_a_new_seed_or_an_explicit_release(
    credential_store: CredentialStore,
    new_credential: NewCredential,
    sandbox: ManagedProcess,
    host_a: Refresher,
    strandable: Callable[[str], tuple[Refresher, Callable[[bool], None]]],
    tmp_path: Path,
) -> None:
    from switchboard.cli import main

    name, client = new_credential("refresh_token")
    assert host_a.refresh(name).status == "refreshed"
    stranded, allow_writes = strandable(name)
    token_fault(sandbox, client["client_id"], latency=0.3)
    thread, _ = in_background(lambda: stranded.refresh(name, force=True))
    wait_until(lambda: claimed(credential_store, name))
    allow_writes(False)
    thread.join(timeout=30)
    stranded.journal.clear(name)  # the claiming host is lost with its journal
    host_b = other_host(credential_store, tmp_path / "b", clock_ahead=3600)
    assert host_b.refresh(name, force=True).state == "in_doubt"
    assert host_b.refresh(name, force=True).state == "in_doubt"  # never re-spent

    assert main(["credentials", "release", name]) == 2  # needs the operator's confirmation
    fresh = httpx2.post(f"{sandbox.url}/_control/clients/{client['client_id']}/seed", json={})
    credential_store.put_seed(name, SecretStr(fresh.raise_for_status().json()["refresh_token"]))
    before = reuse_detected(sandbox)
    recovered = host_b.refresh(name)  # a new seed is not covered by the claim
    assert (recovered.status, recovered.recovered) == ("refreshed", True), recovered
    assert reuse_detected(sandbox) == before
    assert_live(credential_store, sandbox, name)
    assert main(["credentials", "release", name, "--accept-reuse-risk"]) == 0  # nothing left


# -- the Vault contract: least privilege, and records written by earlier versions ---------------


def test_a_legacy_token_record_is_migrated_by_its_next_refresh(
    credential_store: CredentialStore,
    new_credential: NewCredential,
    sandbox: ManagedProcess,
    host_a: Refresher,
) -> None:
    name, _ = new_credential("refresh_token")
    assert host_a.refresh(name).status == "refreshed"
    record = credential_store.read_refresh(name).record
    token = credential_store.read_token(name)
    assert record is not None and record.refresh_token is not None and token.token is not None
    legacy = {  # as the lease-based version stored it: refresh token and seed in .../token
        **token.token.to_vault(),
        "refresh_token": record.refresh_token.get_secret_value(),
        "seed_version": record.seed_version,
    }
    credential_store.kv.write(credential_store.path(name, "token"), legacy)
    metadata = f"switchboard/credentials/{name}/refresh"
    credential_store.session.client().secrets.kv.v2.delete_metadata_and_all_versions(
        path=metadata, mount_point="secret"
    )
    before = reuse_detected(sandbox)
    assert host_a.refresh(name, force=True).status == "refreshed"
    assert (
        "refresh_token" not in credential_store.kv.read(credential_store.path(name, "token")).data
    )
    moved = credential_store.read_refresh(name).record
    assert moved is not None and moved.refresh_token is not None and moved.seed_version == 1
    assert reuse_detected(sandbox) == before
    assert_live(credential_store, sandbox, name)


def test_a_refresh_token_is_only_sent_where_it_came_from(
    credential_store: CredentialStore,
    new_credential: NewCredential,
    sandbox: ManagedProcess,
    host_a: Refresher,
) -> None:
    name, _ = new_credential("refresh_token")
    assert host_a.refresh(name).status == "refreshed"
    definition = credential_store.read_client(name)
    elsewhere = definition.token_url.replace("127.0.0.1", "localhost")  # another origin
    credential_store.put_client(name, definition.model_copy(update={"token_url": elsewhere}))
    requests = token_requests(sandbox)
    outcome = host_a.refresh(name, force=True)
    assert (outcome.status, outcome.state) == ("failed", "misconfigured"), outcome
    assert outcome.message is not None and "new seed" in outcome.message
    assert token_requests(sandbox) == requests  # nothing was sent


@pytest.mark.parametrize("operator", ["releases the claim", "deletes the refresh record"])
def test_a_journaled_pair_survives_what_an_operator_does_meanwhile(
    credential_store: CredentialStore,
    new_credential: NewCredential,
    sandbox: ManagedProcess,
    host_a: Refresher,
    strandable: Callable[[str], tuple[Refresher, Callable[[bool], None]]],
    vault_root: hvac.Client,
    operator: str,
) -> None:
    """The stranded pair is the newest one whatever the operator did to the claim: replaying
    it stores it, and the token it replaced is never spent again."""
    from switchboard.cli import main

    name, client = new_credential("refresh_token")
    assert host_a.refresh(name).status == "refreshed"
    stranded, allow_writes = strandable(name)
    token_fault(sandbox, client["client_id"], latency=0.3)
    thread, _ = in_background(lambda: stranded.refresh(name, force=True))
    wait_until(lambda: claimed(credential_store, name))
    allow_writes(False)
    thread.join(timeout=30)
    assert stranded.journal.has_pending(name)
    if operator == "releases the claim":
        assert main(["credentials", "release", name, "--accept-reuse-risk"]) == 0
    else:
        vault_root.secrets.kv.v2.delete_latest_version_of_secret(
            path=credential_store.path(name, "refresh"), mount_point="secret"
        )
    allow_writes(True)
    before = reuse_detected(sandbox)
    replayed = stranded.refresh(name)
    assert replayed.replayed_journal and replayed.state == "healthy", replayed
    assert reuse_detected(sandbox) == before
    assert_live(credential_store, sandbox, name)
    assert host_a.refresh(name, force=True).status == "refreshed"  # the stored RT is live


def test_a_pair_a_neighbour_replayed_and_another_claimed_is_adopted(
    credential_store: CredentialStore, new_credential: NewCredential, tmp_path: Path
) -> None:
    """Processes on one host share the journal. Found by 24 concurrent refreshes under load: a
    neighbour replayed this run's journaled pair into Vault, a third run claimed it, and this
    run's own commit then met a record it did not recognise and reported a failure (with a
    backoff) although its pair was stored. It is adopted instead."""
    from switchboard.journal import Journal, JournalEntry
    from switchboard.refresh._claim import Claim

    name, _ = new_credential("refresh_token")
    settings = TokenSettings(journal_dir=tmp_path)
    neighbour = Refresher(credential_store, settings)
    scope = journal_for(credential_store, settings).scope

    class Interleaved(Journal):
        def record(self, name: str, entry: JournalEntry) -> None:
            super().record(name, entry)
            replay = neighbour.pairs.replay(name)  # the neighbour stores our pair, clears it
            assert replay is not None and replay.token is not None
            stored = credential_store.read_refresh(name)
            assert stored.record is not None
            Claim.take(  # and a third run claims the pair before our commit
                credential_store,
                name,
                stored.record,
                over_version=stored.version,
                seed_version=None,
                phase="claimed",
                clock=utcnow,
            )

    refresher = Refresher(credential_store, settings, journal=Interleaved(tmp_path, scope=scope))
    outcome = refresher.refresh(name)
    assert outcome.status == "adopted", (outcome.status, outcome.error_class, outcome.message)


def test_a_pair_a_neighbour_replayed_is_adopted_while_a_newer_pair_waits(
    credential_store: CredentialStore, new_credential: NewCredential, tmp_path: Path
) -> None:
    """The same race one step further, found by CI (24 concurrent refreshes under load): after
    the neighbour stored this run's pair, the third run spent it and journaled its own answer,
    so an entry was waiting when this run's commit met the changed record. The waiting entry is
    the third run's, not this one's: this run's pair is stored, and it is adopted."""
    import dataclasses

    from switchboard.journal import Journal, JournalEntry
    from switchboard.refresh._claim import Claim

    name, _ = new_credential("refresh_token")
    settings = TokenSettings(journal_dir=tmp_path)
    neighbour = Refresher(credential_store, settings)
    scope = journal_for(credential_store, settings).scope

    class Interleaved(Journal):
        def record(self, name: str, entry: JournalEntry) -> None:
            super().record(name, entry)
            replay = neighbour.pairs.replay(name)  # the neighbour stores our pair, clears it
            assert replay is not None and replay.token is not None
            stored = credential_store.read_refresh(name)
            assert stored.record is not None
            third = Claim.take(  # a third run claims the pair and spends it...
                credential_store,
                name,
                stored.record,
                over_version=stored.version,
                seed_version=None,
                phase="spending",
                clock=utcnow,
            )
            # ...and journals its answer before our commit
            super().record(name, dataclasses.replace(entry, claim_version=third.version))

    journal = Interleaved(tmp_path, scope=scope)
    refresher = Refresher(credential_store, settings, journal=journal)
    outcome = refresher.refresh(name)
    assert outcome.status == "adopted", (outcome.status, outcome.error_class, outcome.message)
    waiting = journal.pending(name)  # the third run's answer stays for its replay
    assert waiting is not None and waiting.claim_version != 0
