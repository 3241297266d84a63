"""Session-wide real servers on loopback: OpenBao, the sandbox, and a Prefect server.

Nothing here is mocked. Each server writes its log under the session's temporary directory;
``tests/test_secret_hygiene.py`` scans those logs and Prefect's database at the end of the run
(tests marked ``last`` run after all others). Only fixtures and hooks live here: the helpers
tests share are in ``helpers.py``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from helpers import ROOT_TOKEN, NewCredential, drain_prefect_workers, register_credential

from sandbox.servers import (
    ManagedProcess,
    free_port,
    start_openbao,
    start_prefect_server,
    start_sandbox,
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``last`` run after every other test, whatever their file is called: they
    inspect what the whole session left behind. The order is otherwise kept (a stable sort)."""
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("switchboard")


@pytest.fixture(scope="session")
def openbao(session_dir: Path) -> Iterator[ManagedProcess]:
    server = start_openbao(
        port=free_port(), root_token=ROOT_TOKEN, log_path=session_dir / "openbao.log"
    )
    os.environ["VAULT_ADDR"] = server.url
    os.environ["VAULT_TOKEN"] = ROOT_TOKEN
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def vault_root(openbao: ManagedProcess) -> hvac.Client:
    """An hvac client with the root token, for test setup only."""
    return hvac.Client(url=openbao.url, token=ROOT_TOKEN)


@pytest.fixture(scope="session")
def sandbox(session_dir: Path) -> Iterator[ManagedProcess]:
    server = start_sandbox(port=free_port(), log_path=session_dir / "sandbox.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def prefect_server(session_dir: Path) -> Iterator[ManagedProcess]:
    """A real ``prefect server start`` on SQLite; this process and its children use it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = session_dir / "prefect-home"
    server = start_prefect_server(port=free_port(), home=home, log_path=session_dir / "prefect.log")
    api_url = server.extra["api_url"]
    os.environ["PREFECT_API_URL"] = api_url
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    try:
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            yield server
            drain_prefect_workers()
    finally:
        server.stop()


@pytest.fixture
def unique_name() -> str:
    """A fresh credential / resource name, so tests never share Vault state."""
    return "t-" + uuid.uuid4().hex[:10]


# --- token half (TOKENS engineer): a credential store and sandbox credentials -------------


@pytest.fixture(scope="session")
def credential_store(openbao: ManagedProcess):  # -> switchboard.vault.CredentialStore
    """A ``CredentialStore`` on the session's OpenBao (root token, mount ``secret``)."""
    from switchboard._settings import VaultSettings
    from switchboard.vault import CredentialStore

    return CredentialStore.from_settings(VaultSettings(addr=openbao.url, token=ROOT_TOKEN))


@pytest.fixture
def new_credential(sandbox: ManagedProcess, credential_store, unique_name: str) -> NewCredential:
    """``new_credential(grant="refresh_token", **client_options) -> (name, sandbox client dict)``.

    Registers a client at the sandbox and writes its definition (and seed) into Vault.
    """
    counter = iter(range(1000))

    def create(grant: str = "client_credentials", **options):
        name = f"{unique_name}-{next(counter)}"
        definition = {
            key: options.pop(key)
            for key in ("scope", "auth_method", "default_lifetime_seconds", "audience")
            if key in options
        }
        client = register_credential(
            sandbox.url, credential_store, name, grant, definition=definition, **options
        )
        return name, client

    return create
