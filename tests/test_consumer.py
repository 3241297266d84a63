"""The consumer cache: one Vault read per refresh cycle, re-read after a 401 or 403."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import NewCredential, counters, expire_tokens, ping
from pydantic import SecretStr

from sandbox.servers import ManagedProcess
from switchboard._exceptions import VaultNotFound
from switchboard._models import StoredToken, same_secret, utcnow
from switchboard._settings import TokenSettings
from switchboard.consumer import AccessTokenCache
from switchboard.refresh import Refresher
from switchboard.vault import CredentialStore


@pytest.fixture
def refresher(credential_store: CredentialStore, tmp_path: Path) -> Refresher:
    return Refresher(credential_store, TokenSettings(journal_dir=tmp_path))


def test_one_vault_read_per_lifetime(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess
) -> None:
    name, _ = new_credential()
    refresher.refresh(name)
    cache = AccessTokenCache(refresher.store)
    tokens = {cache.get(name).get_secret_value() for _ in range(200)}
    assert len(tokens) == 1 and cache.vault_reads == 1
    assert ping(sandbox, cache.get(name)) == 200
    assert "sbx-" not in repr(cache.get(name))


async def test_async_gets_share_one_read(
    refresher: Refresher, new_credential: NewCredential
) -> None:
    name, _ = new_credential()
    refresher.refresh(name)
    cache = AccessTokenCache(refresher.store)
    tokens = await asyncio.gather(*(cache.aget(name) for _ in range(50)))
    assert len({t.get_secret_value() for t in tokens}) == 1
    assert cache.vault_reads == 1


def test_invalidate_rereads_and_refreshes_a_rejected_token(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess
) -> None:
    name, client = new_credential()
    refresher.refresh(name)
    refreshed: list[str] = []

    def refresh(credential: str) -> None:
        refreshed.append(credential)
        refresher.refresh(credential, force=True)

    cache = AccessTokenCache(refresher.store, refresh=refresh)
    old = cache.get(name)
    expire_tokens(sandbox, client["client_id"])
    assert ping(sandbox, old) == 401
    cache.invalidate(name, old)
    new = cache.get(name)
    assert new.get_secret_value() != old.get_secret_value()
    assert ping(sandbox, new) == 200
    assert refreshed == [name] and cache.vault_reads == 3  # first read, stale re-read, fresh read


def test_invalidate_keeps_a_newer_token(
    refresher: Refresher, new_credential: NewCredential
) -> None:
    name, _ = new_credential()
    refresher.refresh(name)
    cache = AccessTokenCache(refresher.store)
    current = cache.get(name)
    cache.invalidate(name, SecretStr("sbx-some-older-token"))
    assert cache.get(name) == current and cache.vault_reads == 1


def test_a_token_near_expiry_is_not_cached(
    refresher: Refresher, new_credential: NewCredential
) -> None:
    name, _ = new_credential(access_token_lifetime=30)
    refresher.refresh(name)
    cache = AccessTokenCache(refresher.store, margin_seconds=60)
    cache.get(name)
    cache.get(name)  # within the stale-retry window: still one read
    assert cache.vault_reads == 1


def test_missing_token_says_what_to_run(
    credential_store: CredentialStore, unique_name: str
) -> None:
    with pytest.raises(VaultNotFound, match="acquire_token"):
        AccessTokenCache(credential_store).get(unique_name)


def test_module_helpers_with_a_refreshing_cache(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess
) -> None:
    from switchboard.consumer import (
        aget_access_token,
        get_access_token,
        invalidate_access_token,
        set_default_cache,
    )

    name, client = new_credential()
    refresher.refresh(name)
    set_default_cache(AccessTokenCache.refreshing(refresher.store, refresher.settings))
    try:
        old = get_access_token(name)
        assert asyncio.run(aget_access_token(name)) == old
        expire_tokens(sandbox, client["client_id"])
        invalidate_access_token(name, old)
        new = get_access_token(name)
        assert new != old and ping(sandbox, new) == 200
    finally:
        set_default_cache(None)


def test_many_consumers_rejected_at_once_share_one_refresh(
    refresher: Refresher, new_credential: NewCredential, sandbox: ManagedProcess
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    name, client = new_credential("refresh_token")
    refresher.refresh(name)
    reuse_before = counters(sandbox)["reuse_detected"]
    caches = [AccessTokenCache.refreshing(refresher.store, refresher.settings) for _ in range(12)]
    old = caches[0].get(name)
    expire_tokens(sandbox, client["client_id"])

    def after_401(cache: AccessTokenCache) -> SecretStr:
        cache.get(name)
        cache.invalidate(name, old)
        return cache.get(name)

    with ThreadPoolExecutor(12) as pool:
        tokens = list(pool.map(after_401, caches))
    assert all(token != old and ping(sandbox, token) == 200 for token in tokens)
    assert counters(sandbox)["reuse_detected"] == reuse_before


def test_a_token_is_cached_no_longer_than_its_refresh_after(
    credential_store: CredentialStore, unique_name: str
) -> None:
    now = utcnow()
    token = StoredToken(
        access_token=SecretStr("sbx-due-soon"),
        expires_at=now + timedelta(hours=1),
        obtained_at=now,
        refresh_after=now + timedelta(seconds=0.5),  # a rotating provider may kill it then
    )
    credential_store.write_token(unique_name, token, cas=0)
    cache = AccessTokenCache(credential_store)
    assert cache.get(unique_name) == token.access_token
    assert cache.get(unique_name) == token.access_token and cache.vault_reads == 1
    time.sleep(0.6)
    newer = token.model_copy(
        update={"access_token": SecretStr("sbx-rotated"), "refresh_after": now + timedelta(hours=1)}
    )
    credential_store.write_token(unique_name, newer, cas=1)
    assert cache.get(unique_name) == newer.access_token and cache.vault_reads == 2


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("sbx-a", "sbx-a", True),
        ("sbx-a", "sbx-b", False),
        ("sbx-a", "sbx-ab", False),
        ("sbx-é", "sbx-é", True),  # compared as UTF-8 bytes: any text a provider sends
        ("sbx-\ud800", "sbx-\ud800", True),  # a lone surrogate JSON allows: compared, no raise
        ("sbx-\ud800", "sbx-\ud801", False),
        (None, "sbx-a", False),
        ("sbx-a", None, False),
        (None, None, False),  # no token is never "the same token"
    ],
)
def test_same_secret(one: str | None, other: str | None, same: bool) -> None:
    def wrap(value: str | None) -> SecretStr | None:
        return None if value is None else SecretStr(value)

    assert same_secret(wrap(one), wrap(other)) is same
