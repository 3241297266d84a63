"""The OAuth 2 bearer for LivePerson calls: read through the token cache, re-read once on 401."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Protocol

import httpx2
from pydantic import SecretStr

__all__ = ["BearerAuth", "TokenSource"]


class TokenSource(Protocol):
    """What ``switchboard.consumer.AccessTokenCache`` offers: a cached read and an invalidation."""

    async def aget(self, name: str) -> SecretStr: ...

    def invalidate(self, name: str, token: SecretStr) -> None: ...


class BearerAuth(httpx2.Auth):
    """``Authorization: Bearer`` from Vault (cached); a 401 invalidates it and retries once.

    The retry reads the token again, so a token refreshed in Vault meanwhile is picked up; a
    second 401 is returned to the caller (who raises ``Unauthorized``).
    """

    def __init__(self, tokens: TokenSource, credential: str) -> None:
        self._tokens = tokens
        self._credential = credential

    def sync_auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        raise RuntimeError("BearerAuth is async only; use an httpx2.AsyncClient")

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        token = await self._tokens.aget(self._credential)
        request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        response = yield request
        if response.status_code == httpx2.codes.UNAUTHORIZED:
            self._tokens.invalidate(self._credential, token)
            fresh = await self._tokens.aget(self._credential)
            request.headers["Authorization"] = f"Bearer {fresh.get_secret_value()}"
            yield request
