"""Acquire a credential's token now: after adding it, re-seeding it or fixing it."""

from __future__ import annotations

import asyncio

from prefect import flow

from flows._task_values import result_of
from switchboard import RefreshOutcome
from tasks.tokens import record_refresh_metrics, refresh_credential

__all__ = ["acquire_token"]


@flow(name="acquire-token", flow_run_name="acquire {credential}", persist_result=False)
async def acquire_token(credential: str, vault_block: str | None = None) -> RefreshOutcome:
    """Get a fresh token for one credential and store it in Vault, due or not.

    Async like `refresh_due_tokens` (its run ends without waiting on the heartbeat thread); the
    refresh runs on the task runner's thread, waited for in another.

    Args:
        credential: the credential's name under `<base>/credentials/` (never a secret).
        vault_block: name of a `VaultConnection` block; empty means the `VAULT_*` settings.

    Returns:
        The outcome (status, state, expiry); the flow fails when the credential failed.
    """
    refreshed = refresh_credential.submit(credential, force=True, vault_block=vault_block)
    try:
        return await result_of(refreshed)
    finally:
        # the process ends with the run: the textfile keeps it
        await asyncio.to_thread(record_refresh_metrics, vault_block)
