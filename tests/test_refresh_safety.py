"""The refresh under stress: concurrent runs, a SIGKILL mid-refresh, Vault going away.

All on real servers; the faults are real (processes killed, a Vault server stopped).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import NewCredential, counters, ping, register_credential, token_fault
from pydantic import SecretStr
from vault_helpers import DiskVault

from sandbox.servers import ManagedProcess
from switchboard._models import RefreshOutcome
from switchboard._settings import TokenSettings, VaultSettings
from switchboard.refresh import Refresher
from switchboard.vault import CredentialStore

WORKER = Path(__file__).with_name("refresh_worker.py")


def reuse_detected(sandbox: ManagedProcess) -> int:
    return int(str(counters(sandbox)["reuse_detected"]))


def stored_access_token(store: CredentialStore, name: str) -> SecretStr:
    token = store.read_token(name).token
    assert token is not None
    return token.access_token


def run_worker(name: str, journal: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SWITCHBOARD_TOKEN_JOURNAL_DIR": str(journal)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), name, *args], env=env, stdout=subprocess.PIPE, text=True
    )


def outcomes(process: subprocess.Popen[str]) -> list[RefreshOutcome]:
    out, _ = process.communicate(timeout=120)
    return [RefreshOutcome.model_validate_json(line) for line in out.splitlines() if line]


@pytest.mark.slow
def test_concurrent_refreshes_of_a_rotating_credential(
    credential_store: CredentialStore,
    new_credential: NewCredential,
    sandbox: ManagedProcess,
    tmp_path: Path,
) -> None:
    name, _ = new_credential("refresh_token")
    reuse_before = reuse_detected(sandbox)
    refresher = Refresher(credential_store, TokenSettings(journal_dir=tmp_path))
    workers = [run_worker(name, tmp_path, "--force", "--threads", "4") for _ in range(4)]
    with ThreadPoolExecutor(8) as pool:  # and 8 threads in this process, all at once
        local = list(pool.map(lambda _: refresher.refresh(name, force=True), range(8)))
    results = local + [outcome for worker in workers for outcome in outcomes(worker)]
    assert len(results) == 24
    odd = [(r.status, r.error_class, r.message) for r in results]
    assert all(r.status in {"refreshed", "adopted", "busy"} for r in results), odd
    assert any(r.status == "refreshed" for r in results)
    assert reuse_detected(sandbox) == reuse_before
    assert ping(sandbox, stored_access_token(credential_store, name)) == 200
    # the stored refresh token is the live one: a further rotation works
    assert refresher.refresh(name, force=True).status == "refreshed"
    assert ping(sandbox, stored_access_token(credential_store, name)) == 200
    assert reuse_detected(sandbox) == reuse_before


@pytest.mark.slow
def test_sigkill_between_token_response_and_vault_write(
    credential_store: CredentialStore,
    new_credential: NewCredential,
    sandbox: ManagedProcess,
    tmp_path: Path,
) -> None:
    name, _ = new_credential("refresh_token")
    refresher = Refresher(credential_store, TokenSettings(journal_dir=tmp_path))
    assert refresher.refresh(name).status == "refreshed"
    before = credential_store.read_token(name)
    reuse_before = reuse_detected(sandbox)

    killed = run_worker(name, tmp_path, "--force", "--die-before-vault-write")
    assert outcomes(killed) == [] and killed.returncode == -9
    assert credential_store.read_token(name).version == before.version  # Vault never saw it
    assert list(tmp_path.iterdir())  # but the journal did
    record = credential_store.read_refresh(name).record
    assert record is not None and record.intent is not None  # the dead run's claim

    rerun = outcomes(run_worker(name, tmp_path))
    assert [(o.status, o.replayed_journal) for o in rerun] == [("skipped", True)]
    assert not list(tmp_path.glob("*.json*"))
    assert ping(sandbox, stored_access_token(credential_store, name)) == 200
    health = credential_store.read_health(name)
    assert health is not None and health.state == "healthy"

    outcome = refresher.refresh(name, force=True)  # no lease to wait out: the claim is resolved
    assert outcome.status == "refreshed"
    assert ping(sandbox, stored_access_token(credential_store, name)) == 200
    assert reuse_detected(sandbox) == reuse_before


@pytest.mark.slow
def test_vault_outage_during_refresh_loses_nothing(
    sandbox: ManagedProcess, tmp_path: Path, unique_name: str
) -> None:
    vault = DiskVault(tmp_path / "bao")
    try:
        store = CredentialStore.from_settings(
            VaultSettings(addr=vault.url, token=SecretStr(vault.root_token), timeout=2)
        )
        register_credential(sandbox.url, store, unique_name, "refresh_token")
        journal = tmp_path / "journal"
        refresher = Refresher(store, TokenSettings(journal_dir=journal))
        # a slow token endpoint gives us time to pull Vault away mid-refresh
        token_fault(sandbox, unique_name, latency=3)

        result: list[RefreshOutcome] = []
        worker = threading.Thread(target=lambda: result.append(refresher.refresh(unique_name)))
        worker.start()
        deadline = time.monotonic() + 30
        while (claimed := store.read_refresh(unique_name).record) is None or not claimed.intent:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # the token request is in flight now
        with vault.outage():
            while not list(journal.glob("*.json")):  # the new pair is journaled, Vault is down
                assert time.monotonic() < deadline and worker.is_alive()
                time.sleep(0.1)
            time.sleep(2)  # Vault stays away for a while; the write keeps retrying
            assert worker.is_alive() and not result
        worker.join(timeout=120)
        assert [r.status for r in result] == ["refreshed"]
        assert not list(journal.glob("*.json"))
        token = store.read_token(unique_name).token
        record = store.read_refresh(unique_name).record
        assert token is not None and record is not None and record.refresh_token is not None
        assert ping(sandbox, token.access_token) == 200
        assert refresher.refresh(unique_name, force=True).status == "refreshed"  # RT is live
    finally:
        vault.stop()
