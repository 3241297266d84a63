"""React to a failing credential, or one whose refresh token is about to die: tell a human
what happened and what to do."""

from __future__ import annotations

from prefect import flow

from tasks.reports import explain_credential_failure
from tasks.tokens import read_credential_health

__all__ = ["handle_credential_failure"]


@flow(
    name="handle-credential-failure",
    flow_run_name="handle {credential}: {error_class}",
    persist_result=False,
)
def handle_credential_failure(
    credential: str, error_class: str = "unknown", vault_block: str | None = None
) -> str:
    """Read the credential's health in Vault and publish the runbook for its error class.

    Triggered by the `switchboard.token.refresh-failed` event (at most once per cause and
    `SWITCHBOARD_TOKEN_ALERT_WINDOW_SECONDS` per credential) and by the expiry radar's
    `switchboard.token.refresh-expiring` (once).

    Args:
        credential: the failing credential's name.
        error_class: the error class from the event, or the radar's cause
            (`refresh_token_expires`, `refresh_token_idle`); the health record's error class
            wins when it has one.
        vault_block: name of a `VaultConnection` block; empty means the `VAULT_*` settings.

    Returns:
        The error class the runbook was written for.
    """
    health = read_credential_health(credential, vault_block)
    return explain_credential_failure(credential, error_class, health, vault_block)
