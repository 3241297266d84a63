"""A fleet of credentials as an operator leaves them: sandbox clients, definitions (and seeds for
refresh-token credentials) in Vault, no tokens yet. Written with plain HTTP, 16 at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import httpx2
from pydantic import SecretStr

__all__ = ["acquire_bearer", "fleet_names", "seed_fleet"]


def fleet_names(base: str, count: int) -> list[str]:
    return [f"{base}-{index:05d}" for index in range(count)]


async def seed_fleet(
    *,
    sandbox_url: str,
    vault_url: str,
    vault_token: str,
    base: str,
    names: Sequence[str],
    refresh_token_share: float = 0.0,
) -> None:
    """Register ``names`` under Vault base path ``base``; the first ``refresh_token_share`` of
    them use the refresh-token grant (the sandbox's strict default: reuse revokes the family)."""
    from switchboard import ClientDefinition

    rotating = round(len(names) * refresh_token_share)
    gate = asyncio.Semaphore(16)
    headers = {"X-Vault-Token": vault_token}
    async with httpx2.AsyncClient(timeout=60) as http:

        async def write(name: str, leaf: str, data: dict[str, object]) -> None:
            url = f"{vault_url}/v1/secret/data/{base}/credentials/{name}/{leaf}"
            (await http.post(url, json={"data": data}, headers=headers)).raise_for_status()

        async def one(index: int, name: str) -> None:
            grant = "refresh_token" if index < rotating else "client_credentials"
            async with gate:
                answer = await http.post(
                    f"{sandbox_url}/_control/clients",
                    json={"client_id": name, "grant_types": [grant]},
                )
                client = answer.raise_for_status().json()
                definition = ClientDefinition(
                    token_url=f"{sandbox_url}/oauth/token",
                    client_id=client["client_id"],
                    client_secrets=(SecretStr(client["client_secret"]),),
                    grant=grant,
                )
                await write(name, "client", definition.to_vault())
                if grant == "refresh_token":
                    await write(name, "seed", {"refresh_token": client["refresh_token"]})

        await asyncio.gather(*(one(i, name) for i, name in enumerate(names)))


def acquire_bearer(
    *, sandbox_url: str, vault_url: str, vault_token: str, name: str, journal_dir: Path
) -> None:
    """A client-credentials credential ``name`` whose token (a day long) is already in Vault, as
    the token half leaves the LivePerson bearer the routing half reads."""
    from switchboard import ClientDefinition, TokenSettings, VaultSettings
    from switchboard.refresh import Refresher
    from switchboard.vault import CredentialStore

    answer = httpx2.post(
        f"{sandbox_url}/_control/clients",
        json={
            "client_id": name,
            "grant_types": ["client_credentials"],
            "access_token_lifetime": 86_400,
        },
        timeout=30,
    )
    client = answer.raise_for_status().json()
    store = CredentialStore.from_settings(
        VaultSettings(addr=vault_url, token=SecretStr(vault_token))
    )
    store.put_client(
        name,
        ClientDefinition(
            token_url=f"{sandbox_url}/oauth/token",
            client_id=client["client_id"],
            client_secrets=(SecretStr(client["client_secret"]),),
        ),
    )
    outcome = Refresher(store, TokenSettings(journal_dir=journal_dir)).refresh(name, force=True)
    if outcome.status != "refreshed":
        raise RuntimeError(f"could not acquire the bearer {name!r}: {outcome.status}")
