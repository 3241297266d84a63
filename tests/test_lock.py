"""The single-flight lock: CAS on KV v2, lease renewal, takeover of expired leases."""

from __future__ import annotations

import time

import pytest

from switchboard._exceptions import LockBusy
from switchboard._models import parse_time, utcnow
from switchboard.vault import CredentialLock, CredentialStore


def test_second_holder_is_busy_until_release(
    credential_store: CredentialStore, unique_name: str
) -> None:
    first = CredentialLock(credential_store, unique_name, lease_seconds=30)
    with first, pytest.raises(LockBusy, match="held by"):
        CredentialLock(credential_store, unique_name, lease_seconds=30).acquire()
    with CredentialLock(credential_store, unique_name, lease_seconds=30) as second:
        assert not second.lost


def test_expired_lease_is_taken_over(credential_store: CredentialStore, unique_name: str) -> None:
    crashed = CredentialLock(credential_store, unique_name, lease_seconds=0.5)
    crashed.acquire()
    crashed._stop.set()  # a crashed holder: it stops renewing but never releases
    deadline = time.monotonic() + 10
    while True:
        try:
            taker = CredentialLock(credential_store, unique_name, lease_seconds=30)
            taker.acquire()
            break
        except LockBusy:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    taker.release()
    crashed.release()  # its CAS fails quietly; the taker's release stands
    found = credential_store.read_lock(unique_name)
    assert found is not None and found.data["owner"] == ""


def test_lease_is_renewed_while_held(credential_store: CredentialStore, unique_name: str) -> None:
    with CredentialLock(credential_store, unique_name, lease_seconds=1.5) as lock:
        first = credential_store.read_lock(unique_name)
        assert first is not None
        deadline = time.monotonic() + 10
        while True:  # wait for a renewal, without assuming how fast it comes
            now = credential_store.read_lock(unique_name)
            assert now is not None
            if now.version > first.version:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert parse_time(now.data["expires_at"]) > utcnow()
        assert now.data["owner"] == lock.owner
        with pytest.raises(LockBusy):
            CredentialLock(credential_store, unique_name, lease_seconds=5).acquire()
