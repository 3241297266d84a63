"""React to a failing credential: tell a human what happened and what to do."""

from __future__ import annotations

from prefect import flow

from tasks.tokens import explain_credential_failure, read_credential_health

__all__ = ["handle_credential_failure"]


@flow(name="handle-credential-failure", persist_result=False)
def handle_credential_failure(
    credential: str, error_class: str = "unknown", vault_block: str | None = None
) -> str:
    """Read the credential's health in Vault and publish the runbook for its error class.

    Triggered by the `switchboard.token.refresh-failed` event.

    Args:
        credential: the failing credential's name.
        error_class: the error class from the event (the health record wins when present).
        vault_block: name of a `VaultConnection` block; empty means the `VAULT_*` settings.

    Returns:
        The error class the runbook was written for.
    """
    health = read_credential_health(credential, vault_block)
    return explain_credential_failure(credential, error_class, health, vault_block)
