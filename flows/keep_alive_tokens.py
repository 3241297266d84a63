"""Keep idle refresh tokens alive: providers revoke refresh tokens that go unused too long."""

from __future__ import annotations

from prefect import flow

from flows.refresh_due_tokens import refresh_due_tokens
from switchboard import RefreshOutcome

__all__ = ["keep_alive_tokens"]


@flow(name="keep-alive-tokens", persist_result=False)
def keep_alive_tokens(
    min_idle_hours: float = 12.0, vault_block: str | None = None
) -> list[RefreshOutcome]:
    """Refresh every refresh-token credential unused for `min_idle_hours`, due or not.

    A `refresh_due_tokens` run with that keep-alive age: what is due anyway is refreshed too,
    and revoked credentials and those backing off after failures are left alone, as in every run.

    Args:
        min_idle_hours: refresh those whose token is at least this old.
        vault_block: name of a `VaultConnection` block; empty means the `VAULT_*` settings.

    Returns:
        One outcome per credential (`skipped` for those neither idle nor due).
    """
    return refresh_due_tokens(min_idle_hours=min_idle_hours, vault_block=vault_block)
