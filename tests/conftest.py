"""Session-wide real servers on loopback: OpenBao, the sandbox, and a Prefect server.

Nothing here is mocked. Each server writes its log under the session's temporary
directory; ``tests/test_secret_hygiene.py`` scans those logs and Prefect's
database at the end of the run (tests marked ``last`` run after all others).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import hvac
import pytest
from pydantic import SecretStr

from sandbox.servers import (
    ManagedProcess,
    free_port,
    start_openbao,
    start_prefect_server,
    start_sandbox,
)

ROOT_TOKEN = "root-" + uuid.uuid4().hex


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``last`` run after every other test, whatever their file is called: they
    inspect what the whole session left behind. The order is otherwise kept (a stable sort)."""
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


NewCredential = Callable[..., tuple[str, dict[str, str]]]
"""``new_credential``: ``(grant="refresh_token", **client_options) -> (name, client)``."""


# -- the sandbox, as tests drive it ------------------------------------------------------------


def ping(sandbox: ManagedProcess, token: SecretStr) -> int:
    """The status the sandbox's protected API answers to ``token``."""
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
    return httpx2.get(f"{sandbox.url}/api/ping", headers=headers).status_code


def counters(sandbox: ManagedProcess) -> dict[str, object]:
    return dict(httpx2.get(f"{sandbox.url}/_control/counters").json())


def token_fault(sandbox: ManagedProcess, client_id: str, count: int = 1, **spec: object) -> None:
    """Make the token endpoint misbehave for ``client_id`` (``status``, ``error``, ``latency``)."""
    body = {"endpoint": "token", "client_id": client_id, "count": count, **spec}
    httpx2.post(f"{sandbox.url}/_control/faults", json=body).raise_for_status()


def register_credential(
    sandbox_url: str,
    store,  # switchboard.vault.CredentialStore
    name: str,
    grant: str = "client_credentials",
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    definition: dict[str, object] | None = None,
    **client_options: object,
) -> dict[str, str]:
    """Register a sandbox client and write credential ``name`` (definition, seed) into ``store``.

    ``client_secret`` replaces the issued secret in the definition (a wrong one, say);
    ``definition`` adds ``ClientDefinition`` fields. Returns the sandbox's client record.
    """
    from switchboard._models import ClientDefinition

    client = (
        httpx2.post(
            f"{sandbox_url}/_control/clients",
            json={"client_id": client_id or name, "grant_types": [grant], **client_options},
            timeout=10,
        )
        .raise_for_status()
        .json()
    )
    store.put_client(
        name,
        ClientDefinition(
            token_url=f"{sandbox_url}/oauth/token",
            client_id=client["client_id"],
            client_secrets=(SecretStr(client_secret or client["client_secret"]),),
            grant=grant,
            **(definition or {}),
        ),
    )
    if client.get("refresh_token"):
        store.put_seed(name, SecretStr(client["refresh_token"]))
    return client


def expire_tokens(sandbox: ManagedProcess, client_id: str) -> None:
    """Make every access token of ``client_id`` invalid at once (the API answers 401)."""
    httpx2.post(
        f"{sandbox.url}/_control/expire-tokens", json={"client_id": client_id}
    ).raise_for_status()


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


def drain_prefect_workers() -> None:
    """Flush buffered logs and events while the server is still up."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)


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
def new_credential(sandbox: ManagedProcess, credential_store, unique_name: str):
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
