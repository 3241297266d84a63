"""Helpers the tests share: drive the sandbox, register credentials, flush Prefect's workers.

Plain functions and constants, imported by name (``from helpers import ping``); the fixtures
that start servers stay in ``conftest.py``, which pytest loads by itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx2
from pydantic import SecretStr

from sandbox.servers import ManagedProcess

__all__ = [
    "ROOT_TOKEN",
    "NewCredential",
    "counters",
    "drain_prefect_workers",
    "expire_tokens",
    "ping",
    "refresh_record",
    "register_credential",
    "stored_token",
    "token_fault",
]

ROOT_TOKEN = "root-" + uuid.uuid4().hex
"""The session OpenBao's root token (random per session, never a real secret)."""


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


def drain_prefect_workers() -> None:
    """Flush buffered logs and events while the server is still up."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)


# -- what Switchboard stored ---------------------------------------------------------------------


def stored_token(store, name: str):  # (CredentialStore, str) -> StoredToken
    """The consumers' token of ``name``; it must be there."""
    token = store.read_token(name).token
    assert token is not None
    return token


def refresh_record(store, name: str):  # (CredentialStore, str) -> RefreshRecord
    """The refresh record of ``name``, with a refresh token in it."""
    record = store.read_refresh(name).record
    assert record is not None and record.refresh_token is not None
    return record
