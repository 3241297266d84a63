"""Acquire a credential's token now: after adding it, re-seeding it or fixing it."""

from __future__ import annotations

from prefect import flow

from switchboard import RefreshOutcome
from tasks.tokens import record_refresh_metrics, refresh_credential

__all__ = ["acquire_token"]


@flow(name="acquire-token", flow_run_name="acquire {credential}", persist_result=False)
def acquire_token(credential: str, vault_block: str | None = None) -> RefreshOutcome:
    """Get a fresh token for one credential and store it in Vault, due or not.

    Args:
        credential: the credential's name under `<base>/credentials/` (never a secret).
        vault_block: name of a `VaultConnection` block; empty means the `VAULT_*` settings.

    Returns:
        The outcome (status, state, expiry); the flow fails when the credential failed.
    """
    try:
        return refresh_credential(credential, force=True, vault_block=vault_block)
    finally:
        record_refresh_metrics(vault_block)  # the process ends with the run: the textfile keeps it
