"""CSDS (domain resolution): which host serves each LivePerson service for an account."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from switchboard.liveperson._adapter import Adapter, json_body, missing
from switchboard.liveperson._models import Domains
from switchboard.liveperson._paths import account_path

__all__ = ["Csds", "DomainCache"]


class Csds:
    """CSDS API (no authentication).

    https://developers.liveperson.com/agent-domain-domain-api.html
    """

    service = "csds"

    def __init__(self, adapter: Adapter, *, base_url: str, account_id: str) -> None:
        self._adapter = adapter
        self._base_url = base_url
        self._account_id = account_id

    async def list_base_uris(self) -> Domains:
        """GET: /api/account/{accountId}/service/baseURI.json?version=1.0"""
        url = self._base_url + account_path("/api", self._account_id, "/service/baseURI.json")
        response = await self._adapter.request(
            "GET", url, service=self.service, params={"version": "1.0"}
        )
        body: Any = json_body(response, service=self.service)
        entries = body.get("baseURIs") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise missing(self.service, "baseURIs list")
        hosts = {
            str(entry["service"]): str(entry["baseURI"])
            for entry in entries
            if isinstance(entry, dict) and entry.get("service") and entry.get("baseURI")
        }
        return Domains(account_id=self._account_id, hosts=hosts)


class DomainCache:
    """Domains cached for ``ttl_seconds`` (LivePerson's SDK: 60 s, Functions: 600 s)."""

    def __init__(self, csds: Csds, *, ttl_seconds: float) -> None:
        self._csds = csds
        self._ttl = ttl_seconds
        self._domains: Domains | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> Domains:
        """The cached domains, resolved again once the TTL has passed."""
        if self._domains is not None and time.monotonic() < self._expires:
            return self._domains
        async with self._lock:
            if self._domains is None or time.monotonic() >= self._expires:
                self._domains = await self._csds.list_base_uris()
                self._expires = time.monotonic() + self._ttl
            return self._domains
