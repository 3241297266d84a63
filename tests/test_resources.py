"""One owner per Vault identity: the tasks, the ingress and the consumer helpers share it."""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr
from test_routing_support import lp_account  # noqa: F401  (a fixture)

from blocks.vault import VaultConnection, resources_for
from sandbox.servers import ManagedProcess
from switchboard.consumer import default_cache, set_default_cache
from switchboard.resources import DEFAULT_KEY, Resources, registry
from switchboard.vault import CredentialStore


@pytest.fixture
def fresh_default(openbao: ManagedProcess):
    """The ``VAULT_*`` identity rebuilt from the settings for the test, and forgotten after."""
    set_default_cache(None)
    yield registry.default()
    set_default_cache(None)


def test_the_settings_identity_is_one_owner_for_tasks_and_consumers(fresh_default) -> None:
    resources = fresh_default
    assert resources_for(None) is resources  # what the tasks use with no vault_block
    assert default_cache() is resources.tokens  # what get_access_token uses
    assert resources.refresher.store is resources.store is resources.tokens.store
    assert resources.clients.tokens is resources.tokens
    assert resources.tokens.refresh is None  # consumers and routing only read


def test_a_named_block_is_loaded_once_per_process(
    openbao: ManagedProcess, prefect_server: ManagedProcess
) -> None:
    name = f"vault-{uuid.uuid4().hex[:8]}"
    VaultConnection(addr=openbao.url, token=SecretStr(openbao.extra["root_token"])).save(name)
    first = resources_for(name)
    VaultConnection.delete(name)  # a second lookup must not load it again
    assert resources_for(name) is first
    assert first is not registry.default()
    assert first.store.list_credentials() is not None  # logged in with the block's identity


def test_an_installed_cache_replaces_the_whole_identity(credential_store: CredentialStore) -> None:
    from switchboard.consumer import AccessTokenCache

    cache = AccessTokenCache(credential_store)
    set_default_cache(cache)
    try:
        resources = registry.default()
        assert resources.tokens is cache and resources.store is credential_store
        assert resources.clients.tokens is cache
    finally:
        set_default_cache(None)
    assert registry.find(DEFAULT_KEY) is None


async def test_clients_are_one_per_account_and_closed_with_the_registry(
    lp_account,  # noqa: F811
    credential_store: CredentialStore,
) -> None:
    resources = Resources.of_store(credential_store, tokens=lp_account.tokens)
    registry.install("test/clients", resources)
    try:
        client = await resources.clients.get(lp_account.settings)
        assert await resources.clients.get(lp_account.settings) is client
        other = lp_account.settings.model_copy(update={"send_concurrency": 2})
        assert await resources.clients.get(other) is not client
        await registry.aclose()
        assert await resources.clients.get(lp_account.settings) is not client  # closed, rebuilt
    finally:
        await resources.aclose()
        registry.install("test/clients", None)


def test_a_bad_metrics_setting_never_stops_a_refresh(
    credential_store: CredentialStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metrics are an add-on: a mistyped metrics variable in a worker's environment costs the
    counters (with a warning), not the refresh runs."""
    monkeypatch.setenv("SWITCHBOARD_METRICS_TEXTFILE", "/tmp/not-a-prom-file.txt")
    resources = Resources(lambda: credential_store)
    assert resources.refresh_metrics is None
    assert resources.refresher.store is credential_store
