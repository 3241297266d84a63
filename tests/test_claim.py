"""The claim on a refresh token, on real OpenBao: check-and-set fences every change of it."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from switchboard._exceptions import LockBusy
from switchboard._models import RefreshRecord, utcnow
from switchboard.refresh import Claim, release_abandoned_claim
from switchboard.vault import CredentialStore


def take(store: CredentialStore, name: str) -> Claim:
    current = store.read_refresh(name)
    base = current.record or RefreshRecord(refresh_token=SecretStr("sbx-rt"), seed_version=1)
    return Claim.take(
        store, name, base, over_version=current.version, seed_version=None, clock=utcnow
    )


def test_one_claim_at_a_time(credential_store: CredentialStore, unique_name: str) -> None:
    first = take(credential_store, unique_name)
    stale_view = credential_store.read_refresh(unique_name).version - 1
    with pytest.raises(LockBusy, match="claimed the refresh token first"):
        Claim.take(
            credential_store,
            unique_name,
            RefreshRecord(refresh_token=SecretStr("sbx-rt")),
            over_version=stale_view,
            seed_version=None,
            clock=utcnow,
        )
    stored = credential_store.read_refresh(unique_name).record
    assert stored is not None and stored.intent is not None
    assert stored.intent.owner == first.intent.owner and stored.intent.phase == "spending"
    assert "sbx-" not in repr(stored) + repr(first.record)


def test_a_claim_taken_over_stops_its_owner_before_it_spends(
    credential_store: CredentialStore, unique_name: str
) -> None:
    owner = take(credential_store, unique_name)
    owner.set_phase("claimed")  # waiting after a 503: nothing in flight
    taker = take(credential_store, unique_name)  # the claim went stale: another takes it
    with pytest.raises(LockBusy, match="taken over"):
        owner.set_phase("spending")  # the owner comes back: its fenced write fails
    taker.release()
    owner.release()  # fails quietly: the taker's release stands
    record = credential_store.read_refresh(unique_name).record
    assert record is not None and record.intent is None
    assert record.refresh_token is not None


def test_an_operator_releases_an_abandoned_claim(
    credential_store: CredentialStore, unique_name: str
) -> None:
    take(credential_store, unique_name)
    assert release_abandoned_claim(credential_store, unique_name)
    assert not release_abandoned_claim(credential_store, unique_name)  # nothing left
