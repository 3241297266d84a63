"""The raw token-fleet baseline: the same IdP and Vault calls as a refresh run, no Prefect.

Plain asyncio + httpx2 against Vault's HTTP API and the token endpoint, ``concurrency``
credentials at once (the flow's bound). Per credential it makes the calls Switchboard's
protocol makes for a client-credentials token (``docs/architecture.md``): read client, token
and health to decide it is due, call the IdP, write the token with check-and-set over the
version read, write health. No journal, no retries, no observability.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2

__all__ = ["refresh_raw"]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Vault:
    def __init__(self, http: httpx2.AsyncClient, url: str, token: str, base: str) -> None:
        self.http, self.url, self.base = http, url, base
        self.headers = {"X-Vault-Token": token}

    def _url(self, name: str, leaf: str) -> str:
        return f"{self.url}/v1/secret/data/{self.base}/credentials/{name}/{leaf}"

    async def read(self, name: str, leaf: str) -> tuple[dict[str, Any] | None, int]:
        response = await self.http.get(self._url(name, leaf), headers=self.headers)
        if response.status_code == 404:
            return None, 0
        body = response.raise_for_status().json()["data"]
        return body["data"], int(body["metadata"]["version"])

    async def write(self, name: str, leaf: str, data: dict[str, Any], cas: int | None) -> int:
        payload: dict[str, Any] = {"data": data}
        if cas is not None:
            payload["options"] = {"cas": cas}
        response = await self.http.post(self._url(name, leaf), json=payload, headers=self.headers)
        return int(response.raise_for_status().json()["data"]["version"])

    async def list(self) -> list[str]:
        response = await self.http.request(
            "LIST", f"{self.url}/v1/secret/metadata/{self.base}/credentials", headers=self.headers
        )
        return [k.rstrip("/") for k in response.raise_for_status().json()["data"]["keys"]]


async def _refresh_one(
    http: httpx2.AsyncClient, vault: _Vault, name: str, client: dict[str, Any], token_version: int
) -> None:
    requested = datetime.now(UTC)
    response = await http.post(
        client["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secrets"][0]),
    )
    answer = response.raise_for_status().json()
    lifetime = float(answer.get("expires_in", 3600))
    expires = requested + timedelta(seconds=lifetime)
    token = {
        "access_token": answer["access_token"],
        "token_type": answer.get("token_type", "Bearer"),
        "expires_at": _stamp(expires),
        "obtained_at": _stamp(requested),
        "refresh_after": _stamp(requested + timedelta(seconds=lifetime * 2 / 3)),
    }
    await vault.write(name, "token", token, cas=token_version)
    health = {
        "state": "healthy",
        "consecutive_failures": 0,
        "last_attempt_at": _stamp(requested),
        "last_success_at": _stamp(requested),
        "expires_at": _stamp(expires),
    }
    await vault.write(name, "health", health, cas=None)


async def refresh_raw(
    *, vault_url: str, vault_token: str, base_path: str, concurrency: int
) -> dict[str, Any]:
    """Refresh every credential under ``base_path``; seconds taken and how many."""
    started = time.perf_counter()
    limits = httpx2.Limits(
        max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2
    )
    async with httpx2.AsyncClient(timeout=30, limits=limits) as http:
        vault = _Vault(http, vault_url, vault_token, base_path)
        names = await vault.list()
        gate = asyncio.Semaphore(concurrency)
        planned: dict[str, tuple[dict[str, Any], int]] = {}

        async def plan(name: str) -> None:
            async with gate:
                client, _ = await vault.read(name, "client")
                _, token_version = await vault.read(name, "token")
                await vault.read(name, "health")
                assert client is not None
                planned[name] = (client, token_version)

        async def refresh(name: str) -> None:
            async with gate:
                await _refresh_one(http, vault, name, *planned[name])

        await asyncio.gather(*(plan(name) for name in names))
        await asyncio.gather(*(refresh(name) for name in names))
    return {"seconds": time.perf_counter() - started, "credentials": len(names)}
