"""Keep idle refresh tokens alive: providers revoke refresh tokens that go unused too long."""

from __future__ import annotations

from datetime import timedelta

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.refresh_due_tokens import refresh_due_tokens
from switchboard._models import RefreshOutcome, utcnow
from tasks.tokens import refresher_for

__all__ = ["find_idle_refresh_tokens", "keep_alive_tokens"]


@task(name="find-idle-refresh-tokens", persist_result=False, cache_policy=NO_CACHE)
def find_idle_refresh_tokens(min_idle_hours: float, vault_block: str | None) -> list[str]:
    """Refresh-token credentials whose token was obtained at least ``min_idle_hours`` ago."""
    refresher = refresher_for(vault_block)
    cutoff = utcnow() - timedelta(hours=min_idle_hours)
    idle = []
    for name in refresher.discover():
        token = refresher.store.read_token(name).token
        if token is not None and token.refresh_token is not None and token.obtained_at <= cutoff:
            idle.append(name)
    return idle


@flow(name="keep-alive-tokens", persist_result=False)
def keep_alive_tokens(
    min_idle_hours: float = 12.0, vault_block: str | None = None
) -> list[RefreshOutcome]:
    """Refresh every refresh-token credential unused for `min_idle_hours`, due or not.

    Args:
        min_idle_hours: refresh those whose token is at least this old.
        vault_block: name of a `VaultConnection` block; empty means the `VAULT_*` settings.
    """
    idle = find_idle_refresh_tokens(min_idle_hours, vault_block)
    if not idle:
        return []
    return refresh_due_tokens(credentials=idle, force=True, vault_block=vault_block)
